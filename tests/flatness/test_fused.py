"""The fused linear-chain evaluator against the generic ``functional_call``-under-``vmap`` path."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from landscape.flatness import _fused, local_energy
from landscape.flatness._evaluate import Evaluator
from landscape.models import MLP
from landscape.objectives.basic import CrossEntropy


def _data(sizes: list[int], d: int = 12, classes: int = 4, seed: int = 1,
          dtype: torch.dtype = torch.float64, shape: tuple[int, ...] | None = None
          ) -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    out = []
    for n in sizes:
        x = torch.randn(n, *(shape or (d,)), generator=gen, dtype=dtype)
        out.append((x, torch.randint(0, classes, (n,), generator=gen)))
    return out


def _calibrate_bn(model: nn.Module, data: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
    """Non-trivial running statistics and affine parameters, then eval mode."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
        model.train()
        for x, _ in data:
            model(x)
    model.eval()


def _stack(model: nn.Module, names: list[str], k: int, scale: float = 0.1,
           seed: int = 3) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    params = dict(model.named_parameters())
    return {n: params[n].detach().unsqueeze(0)
            + scale * torch.randn(k, *params[n].shape, generator=gen, dtype=params[n].dtype)
            for n in names}


def _both(model: nn.Module, loss_fn, data, names: list[str] | None = None, k: int = 5,
          expect_fused: bool = True):
    names = names if names is not None else [n for n, _ in model.named_parameters()]
    stack = _stack(model, names, k)
    ev = Evaluator(model, loss_fn, data, names)
    assert (ev.fused is not None) == expect_fused
    if expect_fused:  # the fused path really runs (no silent fallback)
        layers = ev._prepare(stack, k)
        assert layers is not None
        assert all(ev._fused(layers, [b], k)[0] is not None for b in ev.batches())
        assert all(f is not None for f in ev._fused(layers, list(ev.batches()), k))
    fused = ev.stacked(stack)
    ev.fused = None
    generic = ev.stacked(stack)
    return fused, generic


def _close(a: tuple[torch.Tensor, torch.Tensor], b: tuple[torch.Tensor, torch.Tensor],
           rtol: float) -> None:
    torch.testing.assert_close(a[0], b[0], rtol=rtol, atol=0.0)
    torch.testing.assert_close(a[1], b[1], rtol=0.0, atol=0.0, equal_nan=True)


@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu"])
@pytest.mark.parametrize("bias", [True, False])
def test_mlp_float64_matches_generic(activation: str, bias: bool) -> None:
    torch.manual_seed(0)
    model = MLP(12, 4, depth=2, width=16, activation=activation, bias=bias).double().eval()
    data = _data([17, 9, 30])
    _close(*_both(model, nn.CrossEntropyLoss(), data), rtol=1e-12)


@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu"])
def test_mlp_float32_matches_generic(activation: str) -> None:
    torch.manual_seed(0)
    model = MLP((1, 4, 4), 5, depth=2, width=32, activation=activation).eval()
    data = _data([64, 31], classes=5, dtype=torch.float32, shape=(1, 4, 4))
    fused, generic = _both(model, nn.CrossEntropyLoss(), data, k=7)
    torch.testing.assert_close(fused[0], generic[0], rtol=1e-5, atol=0.0)
    assert (fused[1] - generic[1]).abs().max() <= 1.0 / 95 + 1e-12  # at most one flipped argmax


def test_eval_batchnorm_is_folded() -> None:
    torch.manual_seed(0)
    model = MLP(12, 4, depth=2, width=16, batchnorm=True, dropout=0.2).double()
    data = _data([17, 9, 30])
    _calibrate_bn(model, data)
    _close(*_both(model, nn.CrossEntropyLoss(), data), rtol=1e-12)
    # only the BatchNorm affine parameters perturbed, the linear weights shared
    names = [n for n, _ in model.named_parameters() if ".bn." in n]
    _close(*_both(model, nn.CrossEntropyLoss(), data, names=names), rtol=1e-12)


def test_train_mode_batchnorm_falls_back() -> None:
    torch.manual_seed(0)
    model = MLP(12, 4, depth=1, width=8, batchnorm=True).double().train()
    assert _fused.plan(model, nn.CrossEntropyLoss()) is None


def test_ragged_batches_and_single_batch() -> None:
    torch.manual_seed(0)
    model = MLP(12, 4, depth=3, width=10, activation="tanh").double().eval()
    _close(*_both(model, nn.CrossEntropyLoss(), _data([1, 2, 33, 5])), rtol=1e-12)
    _close(*_both(model, nn.CrossEntropyLoss(), _data([23])[0]), rtol=1e-12)


def test_sequential_with_flatten_dropout_and_functional_layers() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 9), nn.LeakyReLU(0.1), nn.Dropout(0.3),
                          nn.Linear(9, 9), nn.Identity(), nn.SiLU(), nn.Linear(9, 4)).double()
    model.eval()
    data = _data([11, 20], shape=(3, 4))
    _close(*_both(model, nn.CrossEntropyLoss(), data), rtol=1e-12)


def test_subset_of_parameters_perturbed() -> None:
    torch.manual_seed(0)
    model = MLP(12, 4, depth=2, width=16).double().eval()
    data = _data([17, 9])
    for names in (["out.weight"], ["hidden.1.linear.bias"], ["hidden.0.linear.weight"]):
        _close(*_both(model, nn.CrossEntropyLoss(), data, names=names), rtol=1e-12)


@pytest.mark.parametrize("loss_fn", [
    CrossEntropy(temperature=2.0),
    nn.CrossEntropyLoss(ignore_index=1),
    lambda out, y: F.mse_loss(out, F.one_hot(y, 4).to(out.dtype)),
], ids=["objective-ce", "ignore-index", "mse-lambda"])
def test_losses(loss_fn) -> None:
    torch.manual_seed(0)
    model = MLP(12, 4, depth=2, width=16).double().eval()
    _close(*_both(model, loss_fn, _data([17, 9, 30])), rtol=1e-12)


def test_regression_output() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 1)).double().eval()
    gen = torch.Generator().manual_seed(0)
    data = [(torch.randn(n, 5, generator=gen, dtype=torch.float64),
             torch.randn(n, 1, generator=gen, dtype=torch.float64)) for n in (10, 7)]
    loss, generic = _both(model, nn.MSELoss(), data)
    _close(loss, generic, rtol=1e-12)
    assert torch.isnan(loss[1]).all()


def test_row_and_copy_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    model = MLP(12, 4, depth=2, width=16).double().eval()
    data = _data([50, 13])
    reference = _both(model, nn.CrossEntropyLoss(), data, k=9)
    monkeypatch.setattr(_fused, "ACTIVATION_BUDGET", 16 * 8 * 8)
    monkeypatch.setattr(_fused, "MIN_ROWS", 8)
    plan = _fused.plan(model, nn.CrossEntropyLoss())
    assert plan is not None and plan.chunks(50, 9, 8) == (8, 1)
    _close(_both(model, nn.CrossEntropyLoss(), data, k=9)[0], reference[1], rtol=1e-12)


def test_local_energy_unchanged_with_per_batch_noise() -> None:
    torch.manual_seed(0)
    model = MLP(12, 4, depth=2, width=16).double().eval()
    data = _data([17, 9, 30])
    kw = dict(seed=4, per_batch_noise=True, chunk_size=3)
    fused = local_energy(model, nn.CrossEntropyLoss(), data, [0.05, 0.2], 7, **kw)
    plan = _fused.plan
    try:
        _fused.plan = lambda *_: None
        generic = local_energy(model, nn.CrossEntropyLoss(), data, [0.05, 0.2], 7, **kw)
    finally:
        _fused.plan = plan
    torch.testing.assert_close(torch.as_tensor(fused.samples), torch.as_tensor(generic.samples),
                               rtol=1e-12, atol=0.0)


class _Conv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 2, 3)
        self.fc = nn.Linear(20, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x.unsqueeze(1))).flatten(1))


class _Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(12, 12)
        self.b = nn.Linear(12, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(x + torch.tanh(self.a(x)))


@pytest.mark.parametrize("make", [_Conv, _Residual], ids=["conv", "residual"])
def test_ineligible_models_fall_back(make) -> None:
    torch.manual_seed(0)
    model = make().double().eval()
    assert _fused.plan(model, nn.CrossEntropyLoss()) is None
    loss, generic = _both(model, nn.CrossEntropyLoss(), _data([9, 4]), expect_fused=False)
    _close(loss, generic, rtol=0.0)


def test_hooks_fall_back() -> None:
    torch.manual_seed(0)
    model = MLP(12, 4, depth=1, width=8).double().eval()
    data = _data([9, 4])
    handle = model.out.register_forward_hook(lambda m, i, o: o * 2)
    try:
        assert _fused.plan(model, nn.CrossEntropyLoss()) is None
    finally:
        handle.remove()
    names = [n for n, _ in model.named_parameters()]
    stack = _stack(model, names, 3)
    ev = Evaluator(model, nn.CrossEntropyLoss(), data, names)
    assert ev.fused is not None
    plain = ev.stacked(stack)
    handle = model.out.register_forward_hook(lambda m, i, o: o * 2)  # added after set-up
    try:
        hooked = ev.stacked(stack)
        ev.fused = None
        reference = ev.stacked(stack)
    finally:
        handle.remove()
    _close(hooked, reference, rtol=0.0)
    assert not torch.equal(hooked[0], plain[0])


def test_tied_weights_fall_back() -> None:
    lin = nn.Linear(6, 6)
    model = nn.Sequential(lin, nn.Tanh(), lin, nn.Linear(6, 3)).double().eval()
    assert _fused.plan(model, nn.CrossEntropyLoss()) is None


def test_activation_before_first_linear_leaves_data_alone() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.ReLU(), nn.Linear(12, 6), nn.Tanh(), nn.Linear(6, 4)).double().eval()
    data = _data([10, 5])
    before = [x.clone() for x, _ in data]
    _close(*_both(model, nn.CrossEntropyLoss(), data), rtol=1e-12)
    assert all(torch.equal(x, b) for (x, _), b in zip(data, before))


def test_bad_input_raises_as_generic_path() -> None:
    torch.manual_seed(0)
    model = MLP(12, 4, depth=1, width=8).double().eval()
    names = [n for n, _ in model.named_parameters()]
    ev = Evaluator(model, nn.CrossEntropyLoss(), _data([6], d=12), names)
    ev.data = _data([6], d=5)  # wrong width: the fused path steps aside, vmap raises
    assert ev.fused is not None
    with pytest.raises(RuntimeError):
        ev.stacked(_stack(model, names, 2))


def test_float32_batchnorm_matches_generic() -> None:
    torch.manual_seed(0)
    model = MLP(12, 4, depth=2, width=32, batchnorm=True)
    data = _data([40, 21], dtype=torch.float32)
    _calibrate_bn(model, data)
    fused, generic = _both(model, nn.CrossEntropyLoss(), data, k=6)
    torch.testing.assert_close(fused[0], generic[0], rtol=1e-5, atol=0.0)
