"""HessianOperator and GGNOperator against dense float64 references."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from landscape.errors import ConfigError, NonDeterministicError, NonFiniteError
from landscape.hessian import GGNOperator, HessianOperator
from tests.hessian.conftest import dense_hessian, flat_params, make_data, make_mlp

METHODS = ["cached", "double_backprop", "forward_over_reverse"]


def _close(a: torch.Tensor, b: torch.Tensor, rtol: float = 1e-10) -> bool:
    return bool((a - b).abs().max() <= rtol * b.abs().max())


@pytest.mark.parametrize("method", METHODS)
def test_hvp_single_batch_matches_dense(problem: dict, method: str) -> None:
    H = HessianOperator(problem["model"], problem["loss_fn"], (problem["x"], problem["y"]),
                        method=method)
    v = torch.randn(H.num_params, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert H.shape == problem["H"].shape and H.dtype == torch.float64
    assert H.device == torch.device("cpu") and H.method == method
    assert _close(H @ v, problem["H"] @ v)
    assert H.num_matvecs == 1


@pytest.mark.parametrize("method", METHODS)
def test_block_product_equals_columns(problem: dict, method: str) -> None:
    H = HessianOperator(problem["model"], problem["loss_fn"], (problem["x"], problem["y"]),
                        method=method)
    V = torch.randn(H.num_params, 5, dtype=torch.float64,
                    generator=torch.Generator().manual_seed(1))
    block = H @ V
    assert block.shape == (H.num_params, 5) and H.num_matvecs == 5
    cols = torch.stack([H @ V[:, j] for j in range(5)], dim=1)
    assert _close(block, cols, 1e-12)
    assert _close(block, problem["H"] @ V)
    assert H.block_strategy == "loop"  # fixed by the device: reproducible
    H.block_strategy = "measure"
    block = H @ V
    assert H.block_strategy == "measuring"
    others = [H @ V for _ in range(3)]  # alternating vmapped backward / loop over columns
    assert H.block_strategy in ("vmap", "loop")
    assert all(_close(o, block, 1e-12) for o in [*others, H @ V])


@pytest.mark.parametrize("method", ["double_backprop", "forward_over_reverse", "cached"])
def test_ragged_batches_give_full_data_hessian(problem: dict, method: str) -> None:
    x, y = problem["x"], problem["y"]
    batches = [(x[i: i + 32], y[i: i + 32]) for i in range(0, 100, 32)]  # 32, 32, 32, 4
    H = HessianOperator(problem["model"], problem["loss_fn"], batches, method=method)
    V = torch.randn(H.num_params, 3, dtype=torch.float64,
                    generator=torch.Generator().manual_seed(2))
    assert _close(H @ V, problem["H"] @ V)
    assert H.num_data == 100


def test_unweighted_batch_mean_would_differ(problem: dict) -> None:
    """Guard that the ragged-batch test can fail: the unweighted batch mean is visibly off."""
    x, y = problem["x"], problem["y"]
    model, loss_fn = problem["model"], problem["loss_fn"]
    parts = [dense_hessian(model, loss_fn, x[i: i + 32], y[i: i + 32]) for i in range(0, 100, 32)]
    unweighted = sum(parts) / len(parts)
    assert not _close(unweighted, problem["H"], 1e-3)


def test_dataloader_with_extra_item_entries(problem: dict) -> None:
    x, y = problem["x"], problem["y"]
    ds = TensorDataset(x.float(), y, y.clone(), torch.arange(100))  # float32 x: cast to float64
    loader = DataLoader(ds, batch_size=30, shuffle=False)
    H = HessianOperator(problem["model"], problem["loss_fn"], loader)
    v = torch.randn(H.num_params, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    Hx = dense_hessian(problem["model"], problem["loss_fn"], x.float().double(), y)
    assert _close(H @ v, Hx @ v)
    assert H.method == "double_backprop"


@pytest.mark.parametrize("params", [["2.weight", "2.bias"], "2.*", lambda n: n.startswith("2.")])
def test_parameter_block_is_the_matching_sub_block(problem: dict, params: object) -> None:
    model = problem["model"]
    names = [n for n, _ in model.named_parameters()]
    sizes = [p.numel() for p in model.parameters()]
    start = sum(sizes[:2])
    stop = start + sizes[2] + sizes[3]
    H = HessianOperator(model, problem["loss_fn"], (problem["x"], problem["y"]), params=params)
    assert H.param_names == names[2:4] and H.num_params == stop - start
    V = torch.randn(H.num_params, 2, dtype=torch.float64,
                    generator=torch.Generator().manual_seed(4))
    assert _close(H @ V, problem["H"][start:stop, start:stop] @ V)
    sub = dense_hessian(model, problem["loss_fn"], problem["x"], problem["y"], names[2:4])
    assert _close(sub, problem["H"][start:stop, start:stop], 1e-12)


def test_unknown_or_empty_parameter_selection(problem: dict) -> None:
    args = (problem["model"], problem["loss_fn"], (problem["x"], problem["y"]))
    with pytest.raises(ConfigError, match="unknown parameter"):
        HessianOperator(*args, params=["nope"])
    with pytest.raises(ConfigError, match="selects no"):
        HessianOperator(*args, params="conv*")


def test_flatten_unflatten_round_trip(problem: dict) -> None:
    H = HessianOperator(problem["model"], problem["loss_fn"], (problem["x"], problem["y"]))
    v = torch.arange(H.num_params, dtype=torch.float64)
    parts = H.unflatten(v)
    assert list(parts) == H.param_names
    assert torch.equal(H.flatten(parts), v)
    assert torch.equal(H.flatten(list(H.model.parameters())), flat_params(H.model))


def test_cached_graph_follows_in_place_parameter_changes() -> None:
    model, (x, y) = make_mlp(), make_data()
    loss_fn = nn.CrossEntropyLoss()
    H = HessianOperator(model, loss_fn, (x, y), method="cached")
    v = torch.ones(H.num_params, dtype=torch.float64)
    before = H @ v
    with torch.no_grad():
        model[0].weight.mul_(1.5)
    after = H @ v
    assert not _close(after, before, 1e-3)
    assert _close(after, dense_hessian(model, loss_fn, x, y) @ v)


def test_ggn_equals_dense_jt_h_j(problem: dict) -> None:
    model, loss_fn, x, y = problem["model"], problem["loss_fn"], problem["x"], problem["y"]
    theta = flat_params(model)
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]

    def outputs(t: torch.Tensor) -> torch.Tensor:
        params, i = {}, 0
        for n, s in zip(names, shapes):
            k = s.numel()
            params[n] = t[i: i + k].view(s)
            i += k
        return torch.func.functional_call(model, params, (x,))

    out = outputs(theta).detach()
    J = torch.func.jacrev(outputs)(theta).reshape(-1, theta.numel())
    HL = torch.func.hessian(lambda z: loss_fn(z.view(out.shape), y))(out.reshape(-1))
    G = J.T @ HL @ J
    V = torch.randn(theta.numel(), 4, dtype=torch.float64,
                    generator=torch.Generator().manual_seed(5))
    batches = [(x[i: i + 40], y[i: i + 40]) for i in range(0, 100, 40)]
    for data, method in [((x, y), "cached"), (batches, "streamed"), (batches, "cached")]:
        Gop = GGNOperator(model, loss_fn, data, method=method)
        assert _close(Gop @ V, G @ V)
        assert _close(Gop @ V[:, 0], G @ V[:, 0])
    assert not _close(G, problem["H"], 1e-2)  # the GGN is not the Hessian here
    assert torch.linalg.eigvalsh(G).min() > -1e-12


def test_ggn_equals_hessian_for_linear_model_and_mse() -> None:
    gen = torch.Generator().manual_seed(0)
    model = nn.Linear(5, 3).double()
    x = torch.randn(40, 5, generator=gen, dtype=torch.float64)
    y = torch.randn(40, 3, generator=gen, dtype=torch.float64)
    H = HessianOperator(model, nn.MSELoss(), (x, y))
    G = GGNOperator(model, nn.MSELoss(), (x, y))
    V = torch.randn(H.num_params, 3, generator=gen, dtype=torch.float64)
    assert _close(G @ V, H @ V, 1e-12)


# ---------------------------------------------------------------------------- bad input
def test_non_scalar_loss_is_a_clear_error(problem: dict) -> None:
    with pytest.raises(ConfigError, match="scalar"):
        HessianOperator(problem["model"], nn.CrossEntropyLoss(reduction="none"),
                        (problem["x"], problem["y"]))


def test_wrong_vector_length_is_a_clear_error(problem: dict) -> None:
    H = HessianOperator(problem["model"], problem["loss_fn"], (problem["x"], problem["y"]))
    with pytest.raises(ConfigError, match=f"length {H.num_params}"):
        H @ torch.ones(H.num_params + 1, dtype=torch.float64)
    with pytest.raises(ConfigError):
        H @ torch.ones(2, H.num_params, 1, dtype=torch.float64)
    assert H.num_matvecs == 0


def test_nan_loss_is_a_clear_error(problem: dict) -> None:
    x = problem["x"].clone()
    x[3, 0] = float("nan")
    with pytest.raises(NonFiniteError, match="batch 0"):
        HessianOperator(problem["model"], problem["loss_fn"], (x, problem["y"]))
    batches = [(problem["x"][:50], problem["y"][:50]), (x[:50], problem["y"][:50])]
    H = HessianOperator(problem["model"], problem["loss_fn"], batches)
    with pytest.raises(NonFiniteError, match="batch 1"):
        H @ torch.ones(H.num_params, dtype=torch.float64)


def test_one_shot_iterator_is_refused(problem: dict) -> None:
    gen = ((problem["x"][i: i + 10], problem["y"][i: i + 10]) for i in range(0, 100, 10))
    with pytest.raises(ConfigError, match="one-shot"):
        HessianOperator(problem["model"], problem["loss_fn"], gen)


# ---------------------------------------------------------------------------- determinism
def test_shuffled_loader_is_detected(problem: dict) -> None:
    loader = DataLoader(TensorDataset(problem["x"], problem["y"]), batch_size=25, shuffle=True,
                        generator=torch.Generator().manual_seed(0))
    with pytest.raises(NonDeterministicError, match="shuffled"):
        HessianOperator(problem["model"], problem["loss_fn"], loader)
    H = HessianOperator(problem["model"], problem["loss_fn"], loader, check_deterministic=False)
    H @ torch.ones(H.num_params, dtype=torch.float64)  # allowed when asked for


class _LaterShuffle:
    """Same first batch every pass, the later batches permuted from the second pass on."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y, self.passes = x, y, 0

    def __iter__(self):  # type: ignore[no-untyped-def]
        self.passes += 1
        idx = torch.arange(100)
        if self.passes > 3:  # construction iterates up to 3 times (a reiterability probe + 2)
            gen = torch.Generator().manual_seed(self.passes)
            idx[10:] = 10 + torch.randperm(90, generator=gen)
        return iter([(self.x[idx[i: i + 10]], self.y[idx[i: i + 10]]) for i in range(0, 100, 10)])


def test_data_changing_after_the_first_batch_is_detected_during_products(problem: dict) -> None:
    data = _LaterShuffle(problem["x"], problem["y"])
    H = HessianOperator(problem["model"], problem["loss_fn"], data)
    v = torch.ones(H.num_params, dtype=torch.float64)
    H @ v  # records the fingerprints
    with pytest.raises(NonDeterministicError, match="different batches"):
        H @ v


def test_dropout_in_train_mode_is_detected() -> None:
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Dropout(0.2), nn.Linear(8, 4)).double()
    x, y = make_data()
    with pytest.raises(NonDeterministicError, match=r"dropout layer '2'"):
        HessianOperator(model, nn.CrossEntropyLoss(), (x, y))
    HessianOperator(model.eval(), nn.CrossEntropyLoss(), (x, y))
    model.train()[2].p = 0.0
    HessianOperator(model, nn.CrossEntropyLoss(), (x, y))  # p = 0: deterministic


def test_train_mode_batchnorm_is_detected_before_touching_running_stats() -> None:
    model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Linear(8, 4))
    model = model.double()
    x, y = make_data()
    stats = model[1].running_mean.clone()
    with pytest.raises(NonDeterministicError, match="BatchNorm layer '1'"):
        GGNOperator(model, nn.CrossEntropyLoss(), (x, y))
    assert torch.equal(model[1].running_mean, stats)
    HessianOperator(model.eval(), nn.CrossEntropyLoss(), (x, y))


def test_random_forward_is_detected() -> None:
    class Noisy(nn.Module):
        def forward(self, h: torch.Tensor) -> torch.Tensor:
            return h + 0.1 * torch.randn_like(h)

    model = nn.Sequential(nn.Linear(6, 4), Noisy()).double()
    x, y = make_data()
    with pytest.raises(NonDeterministicError, match="two forward passes"):
        HessianOperator(model, nn.CrossEntropyLoss(), (x, y))


# ---------------------------------------------------------------------------- fallback
class _NoForwardAD(torch.autograd.Function):
    """tanh with a hand-written backward and no forward-mode rule."""

    @staticmethod
    def forward(ctx, x):  # type: ignore[no-untyped-def]
        out = torch.tanh(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):  # type: ignore[no-untyped-def]
        (out,) = ctx.saved_tensors
        return g * (1 - out * out)


class _Act(nn.Module):
    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return _NoForwardAD.apply(h)


def test_forward_over_reverse_falls_back_for_modules_without_forward_ad() -> None:
    model = nn.Sequential(nn.Linear(6, 8), _Act(), nn.Linear(8, 4)).double()
    ref = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 4)).double()
    ref.load_state_dict(model.state_dict())
    x, y = make_data()
    H = HessianOperator(model, nn.CrossEntropyLoss(), (x, y), method="forward_over_reverse")
    v = torch.randn(H.num_params, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hv = H @ v
    assert H.method == "double_backprop"
    assert any("falling back" in str(w.message) for w in caught)
    assert _close(hv, dense_hessian(ref, nn.CrossEntropyLoss(), x, y) @ v)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_operator_on_cuda_matches_cpu(problem: dict) -> None:
    model = make_mlp().cuda()
    x, y = problem["x"], problem["y"]
    H = HessianOperator(model, problem["loss_fn"], [(x[:60], y[:60]), (x[60:], y[60:])])
    assert H.device.type == "cuda"
    v = torch.randn(H.num_params, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    assert _close((H @ v).cpu(), problem["H"] @ v)


@pytest.mark.parametrize("strategy", ["vmap", "loop"])
def test_a_fixed_block_strategy_gives_the_columns_and_the_dense_hessian(problem: dict,
                                                                        strategy: str) -> None:
    """The batched product (one vmapped backward through the cached graph for the whole block)
    against one product per column and against the dense float64 Hessian."""
    H = HessianOperator(problem["model"], problem["loss_fn"], (problem["x"], problem["y"]))
    H.block_strategy = strategy
    assert H.block_strategy == strategy
    V = torch.randn(H.num_params, 6, dtype=torch.float64,
                    generator=torch.Generator().manual_seed(3))
    block = H @ V
    assert H.block_strategy == strategy  # not re-measured
    cols = torch.stack([H @ V[:, j] for j in range(6)], dim=1)
    assert _close(block, cols, 1e-12)
    assert _close(block, problem["H"] @ V)
    with pytest.raises(ConfigError):
        H.block_strategy = "fast"
