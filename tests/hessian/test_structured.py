"""Curvature operators on dict batches of padded sequences, module blocks, finite differences.

Oracle: the dense float64 Hessian (``torch.autograd.functional.hessian``) of the mean
cross-entropy over all real tokens (tests/padded.py).
"""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from landscape.errors import ConfigError
from landscape.hessian import GGNOperator, HessianOperator
from tests.padded import dense_hessian, padded_batches, tagger

LENGTHS = [[4, 2, 3], [1, 5]]  # 15 real tokens of 25 positions


def _dense(op: HessianOperator | GGNOperator) -> torch.Tensor:
    return op @ torch.eye(op.num_params, dtype=op.dtype)


@pytest.mark.parametrize("method", ["cached", "double_backprop", "forward_over_reverse",
                                    "finite_difference"])
def test_hessian_of_dict_batches_matches_the_dense_token_mean(method: str) -> None:
    model, batches = tagger(), padded_batches(LENGTHS)
    H = dense_hessian(model, batches)
    op = HessianOperator(model, nn.CrossEntropyLoss(), batches, forward="padded_sequence",
                         method=method)
    assert op.num_data == 15  # tokens, not sequences or positions
    tol = 1e-8 if method == "finite_difference" else 1e-12
    torch.testing.assert_close(_dense(op), H, rtol=tol, atol=tol)


def test_single_dict_batch_and_a_forgotten_mask_differs() -> None:
    model, (batch,) = tagger(), padded_batches([[4, 2, 3]])
    H = dense_hessian(model, [batch])
    op = HessianOperator(model, nn.CrossEntropyLoss(), batch, forward="padded_sequence")
    assert op.method == "cached" and op.num_data == 9
    torch.testing.assert_close(_dense(op), H, rtol=1e-12, atol=1e-12)

    def unmasked(m: nn.Module, b: dict) -> tuple[torch.Tensor, torch.Tensor]:
        return m(b["inputs"], torch.ones_like(b["mask"])).flatten(0, 1), b["targets"].flatten()

    wrong = HessianOperator(model, nn.CrossEntropyLoss(), batch, forward=unmasked)
    assert wrong.num_data == 12  # every position of 3 sequences padded to 4
    assert (_dense(wrong) - H).norm() > 1e-3 * H.norm()


def test_ggn_of_dict_batches_matches_dense_jacobians() -> None:
    model, batches = tagger(), padded_batches(LENGTHS)
    named = {n: p.detach() for n, p in model.named_parameters()}
    sizes = [p.numel() for p in named.values()]
    flat = torch.cat([p.reshape(-1) for p in named.values()])
    G = torch.zeros(flat.numel(), flat.numel(), dtype=torch.float64)
    for b in batches:
        def logits(v: torch.Tensor, b: dict = b) -> torch.Tensor:
            params = {n: t.view(p.shape) for (n, p), t in zip(named.items(), v.split(sizes))}
            out = torch.func.functional_call(model, params, (b["inputs"], b["mask"]))
            return out[b["mask"]]
        J = torch.autograd.functional.jacobian(logits, flat)  # [T, C, P]
        p = logits(flat).softmax(-1)
        Hz = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
        G += torch.einsum("tcp,tcd,tdq->pq", J, Hz, J)
    G /= 15
    op = GGNOperator(model, nn.CrossEntropyLoss(), batches, forward="padded_sequence")
    torch.testing.assert_close(_dense(op), G, rtol=1e-10, atol=1e-12)


def test_a_module_selects_its_block() -> None:
    model, batches = tagger(), padded_batches(LENGTHS)
    names = ["ctx.weight", "out.weight", "out.bias"]
    H = dense_hessian(model, batches, names)
    op = HessianOperator(model, nn.CrossEntropyLoss(), batches, forward="padded_sequence",
                         params=[model.ctx, model.out])
    assert op.param_names == names
    torch.testing.assert_close(_dense(op), H, rtol=1e-12, atol=1e-12)
    single = HessianOperator(model, nn.CrossEntropyLoss(), batches, forward="padded_sequence",
                             params=model.ctx)
    torch.testing.assert_close(_dense(single), H[:16, :16], rtol=1e-12, atol=1e-12)
    with pytest.raises(ConfigError, match="not part of the model"):
        HessianOperator(model, nn.CrossEntropyLoss(), batches, forward="padded_sequence",
                        params=nn.Linear(2, 2))
    with pytest.raises(ConfigError, match="unknown forward"):
        HessianOperator(model, nn.CrossEntropyLoss(), batches, forward="nope")


@pytest.mark.parametrize("dtype,bound", [(torch.float64, 1e-8), (torch.float32, 1e-3),
                                         (torch.bfloat16, 0.2)])
def test_finite_difference_error_by_dtype(dtype: torch.dtype, bound: float) -> None:
    """Relative error of the finite-difference HVP against the exact float64 one, by dtype
    (measured: float64 ~6e-10, float32 ~5e-5, bfloat16 ~0.07; the exact product in bfloat16
    itself is off by ~7e-3)."""
    H = dense_hessian(tagger(), padded_batches(LENGTHS))
    V = torch.randn(H.shape[0], 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    op = HessianOperator(tagger(dtype=dtype), nn.CrossEntropyLoss(),
                         padded_batches(LENGTHS, dtype=dtype), forward="padded_sequence",
                         method="finite_difference")
    out = op @ V.to(dtype)
    assert out.dtype == dtype
    err = float((out.double() - H @ V).norm() / (H @ V).norm())
    print(f"finite-difference HVP, {dtype}: relative error {err:.2g}")
    assert err < bound
    assert float((op @ torch.zeros(H.shape[0], dtype=dtype)).abs().max()) == 0.0


@pytest.mark.parametrize("single", [True, False])
def test_auto_falls_back_to_finite_differences_without_double_backward(single: bool) -> None:
    """CPU's fused attention kernel (``scaled_dot_product_attention``) has no double backward:
    ``method="auto"`` notices it on the first product and differences gradients instead."""
    from landscape.models import build

    def vit(attention: str) -> nn.Module:
        return build("vit_tiny", (3, 8, 8), 4, seed=0, dim=8, depth=1, heads=2, patch=4,
                     attention=attention).double().eval()

    gen = torch.Generator().manual_seed(2)
    x = torch.randn(10, 3, 8, 8, dtype=torch.float64, generator=gen)
    y = torch.randint(0, 4, (10,), generator=gen)
    data = (x, y) if single else [(x[:6], y[:6]), (x[6:], y[6:])]
    exact = HessianOperator(vit("math"), nn.CrossEntropyLoss(), data)
    V = torch.randn(exact.num_params, 3, dtype=torch.float64, generator=gen)
    op = HessianOperator(vit("sdpa"), nn.CrossEntropyLoss(), data)
    with pytest.warns(RuntimeWarning, match="double backward unavailable") as record:
        got = op @ V
    assert op.method == "finite_difference" and len(record) == 1
    assert "\n" not in str(record[0].message)
    want = exact @ V
    assert float((got - want).norm() / want.norm()) < 1e-7
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        op @ V[:, 0]  # no second notice
    strict = HessianOperator(vit("sdpa"), nn.CrossEntropyLoss(), data, method="double_backprop")
    with pytest.raises(RuntimeError, match="not implemented"):
        strict @ V[:, 0]
