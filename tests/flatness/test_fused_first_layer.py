"""The fused path's shortcuts against the generic path, in float64: the first layer from shared
products (:class:`~landscape.flatness._fused.FirstLayer`), cached across calls; the transposed
classifier head; the per-model plan cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from landscape.flatness import _fused, local_energy, surface_2d
from landscape.flatness._evaluate import AffineStack, Evaluator
from landscape.models import MLP
from tests.flatness.test_fused import _calibrate_bn, _data


def _affine(model: nn.Module, names: list[str], k: int, m: int | None = None,
            key: object = "d", sigma: float = 0.3, seed: int = 3) -> AffineStack:
    """``k`` copies: ``w + σ d_k`` (``m`` None) or ``w + Σ_j c_kj d_j`` with ``m`` directions."""
    gen = torch.Generator().manual_seed(seed)
    params = dict(model.named_parameters())
    center = {n: params[n].detach() for n in names}
    rows = k if m is None else m
    dirs = {n: 0.2 * torch.randn(rows, *w.shape, generator=gen, dtype=w.dtype)
            for n, w in center.items()}
    if m is None:
        return AffineStack(center, dirs, sigma=sigma, key=key)
    coeffs = torch.randn(k, m, generator=gen, dtype=torch.float64)
    return AffineStack(center, dirs, coeffs=coeffs, key=key)


def _generic(model: nn.Module, data, names: list[str], stack: AffineStack
             ) -> tuple[torch.Tensor, torch.Tensor]:
    ev = Evaluator(model, nn.CrossEntropyLoss(), data, names)
    ev.fused = None
    return ev.stacked(stack.materialise())


@pytest.fixture
def first_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts calls of ``FusedPlan.first_layer`` (the shared products being computed)."""
    calls: list[int] = []
    original = _fused.FusedPlan.first_layer

    def spy(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(_fused.FusedPlan, "first_layer", spy)
    return calls


def _close(a, b) -> None:
    torch.testing.assert_close(a[0], b[0], rtol=1e-12, atol=0.0)
    torch.testing.assert_close(a[1], b[1], rtol=0.0, atol=0.0, equal_nan=True)


def _models() -> dict[str, tuple[nn.Module, list]]:
    torch.manual_seed(0)
    bn = MLP(12, 4, depth=2, width=16, batchnorm=True).double()
    bn_data = _data([17, 9, 30])
    _calibrate_bn(bn, bn_data)
    return {
        "mlp": (MLP(12, 4, depth=2, width=16).double().eval(), _data([17, 9, 30])),
        "no-bias": (MLP(12, 4, depth=2, width=16, bias=False).double().eval(), _data([17, 9])),
        "batchnorm": (bn, bn_data),
        "flatten": (nn.Sequential(nn.Flatten(), nn.Linear(12, 9), nn.GELU(), nn.Linear(9, 4))
                    .double().eval(), _data([11, 20], shape=(3, 4))),
    }


@pytest.mark.parametrize("name", ["mlp", "no-bias", "batchnorm", "flatten"])
@pytest.mark.parametrize("m", [None, 2], ids=["sigma", "plane"])
def test_first_layer_from_shared_products_matches_generic(name: str, m: int | None,
                                                          first_calls: list[int]) -> None:
    model, data = _models()[name]
    names = [n for n, _ in model.named_parameters() if ".bn." not in n]
    stack = _affine(model, names, k=7, m=m)
    ev = Evaluator(model, nn.CrossEntropyLoss(), data, names, cache_bytes=1 << 30)
    assert ev.fused is not None
    _close(ev.stacked(stack), _generic(model, data, names, stack))
    assert first_calls  # the shortcut really ran


def test_perturbed_batchnorm_of_first_layer_takes_the_plain_path(first_calls: list[int]) -> None:
    model, data = _models()["batchnorm"]
    names = [n for n, _ in model.named_parameters()]  # BatchNorm affine perturbed: not affine
    stack = _affine(model, names, k=5, m=2)
    ev = Evaluator(model, nn.CrossEntropyLoss(), data, names, cache_bytes=1 << 30)
    _close(ev.stacked(stack), _generic(model, data, names, stack))
    assert not first_calls


def test_products_are_cached_across_sigma(first_calls: list[int]) -> None:
    model, data = _models()["mlp"]
    names = [n for n, _ in model.named_parameters()]
    ev = Evaluator(model, nn.CrossEntropyLoss(), data, names, cache_bytes=1 << 30)
    a = _affine(model, names, k=6, sigma=0.1)
    ev.stacked(a)
    computed = len(first_calls)
    assert computed >= 1
    for sigma in (0.1, 0.25, 0.7):
        b = AffineStack(a.center, a.directions, sigma=sigma, key=a.key)
        _close(ev.stacked(b), _generic(model, data, names, b))
    assert len(first_calls) == computed  # no recomputation at later σ
    other = _affine(model, names, k=6, key="other", seed=9)  # new key: new products
    _close(ev.stacked(other), _generic(model, data, names, other))
    assert len(first_calls) > computed


def test_no_cache_room_takes_the_plain_path_unless_cheaper(first_calls: list[int]) -> None:
    model, data = _models()["mlp"]
    names = [n for n, _ in model.named_parameters()]
    ev = Evaluator(model, nn.CrossEntropyLoss(), data, names, cache_bytes=1)
    diag = _affine(model, names, k=6)
    _close(ev.stacked(diag), _generic(model, data, names, diag))
    assert not first_calls  # as many products as copies and nowhere to keep them
    plane = _affine(model, names, k=9, m=2)
    _close(ev.stacked(plane), _generic(model, data, names, plane))
    ev.stacked(plane)
    assert len(first_calls) == 2  # 2 directions < 9 copies: worth it uncached (one group)
    assert not ev._first


def test_local_energy_and_surface_match_generic(first_calls: list[int]) -> None:
    model, data = _models()["mlp"]
    loss_fn = nn.CrossEntropyLoss()
    sig = [0.02, 0.1, 0.3]
    fused = local_energy(model, loss_fn, data, sig, 7, seed=4, chunk_size=4)
    coords = np.linspace(-1, 1, 5)
    grid = surface_2d(model, loss_fn, data, xs=coords, ys=coords[:3], seed=2, chunk_size=6)
    assert first_calls
    plan = _fused.plan
    try:
        _fused.plan = lambda *_: None
        generic = local_energy(model, loss_fn, data, sig, 7, seed=4, chunk_size=4)
        ref = surface_2d(model, loss_fn, data, xs=coords, ys=coords[:3], seed=2, chunk_size=6)
    finally:
        _fused.plan = plan
    np.testing.assert_allclose(fused.samples, generic.samples, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(fused.error_samples, generic.error_samples)
    np.testing.assert_allclose(grid.loss, ref.loss, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(grid.error, ref.error)


@pytest.mark.parametrize("classes", [3, 40], ids=["narrow-head", "wide-head"])
@pytest.mark.parametrize("perturbed", ["all", "head-weight"])
def test_classifier_head_layouts_match_generic(classes: int, perturbed: str) -> None:
    torch.manual_seed(0)
    model = MLP(12, classes, depth=1, width=48).double().eval()
    data = _data([23, 9], classes=classes)
    names = [n for n, _ in model.named_parameters()
             if perturbed == "all" or n == "out.weight"]
    stack = _affine(model, names, k=5)
    ev = Evaluator(model, nn.CrossEntropyLoss(), data, names)
    _close(ev.stacked(stack.materialise()), _generic(model, data, names, stack))


def test_plan_is_traced_once_per_model_and_again_after_a_change(
        monkeypatch: pytest.MonkeyPatch) -> None:
    traced: list[int] = []
    original = _fused._trace_steps
    monkeypatch.setattr(_fused, "_trace_steps", lambda m: traced.append(1) or original(m))
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 4)).double().eval()
    data = _data([10, 6])
    names = [n for n, _ in model.named_parameters()]
    stack = _affine(model, names, k=4)
    first = Evaluator(model, nn.CrossEntropyLoss(), data, names).stacked(stack)
    Evaluator(model, nn.CrossEntropyLoss(), data, names).stacked(stack)
    assert len(traced) == 1
    model[1] = nn.Tanh()  # the same structure, another activation: traced again
    changed = Evaluator(model, nn.CrossEntropyLoss(), data, names).stacked(stack)
    assert len(traced) == 2
    _close(changed, _generic(model, data, names, stack))
    assert not torch.equal(changed[0], first[0])


def test_plan_cache_does_not_keep_models_alive() -> None:
    import gc
    import weakref

    model = nn.Sequential(nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 4)).double().eval()
    model.forward = model.forward  # an instance-level forward (a bound method)
    assert _fused.plan(model, nn.CrossEntropyLoss()) is not None
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None
