"""Relative flatness against a dense float64 Hessian, and its reparametrisation invariance
(which the plain Hessian trace does not have)."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.func import functional_call

from landscape.errors import ConfigError, NonDeterministicError
from landscape.flatness.relative_flatness import (
    default_layer,
    relative_flatness,
    relative_flatness_result,
)

CE = nn.CrossEntropyLoss()


def _net(seed: int = 0, width: int = 6, act: type[nn.Module] = nn.ReLU) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, width), act(), nn.Linear(width, width), act(),
                         nn.Linear(width, 4)).double().eval()


def _data(n: int = 30, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, 5, generator=g, dtype=torch.float64),
            torch.randint(0, 4, (n,), generator=g))


def _dense_block(model: nn.Module, x, y, weight: str) -> torch.Tensor:
    """Hessian of the mean loss w.r.t. one weight matrix, [d, m, d, m], by
    torch.autograd.functional.hessian."""
    params = {n: p.detach() for n, p in model.named_parameters()}

    def loss(w):
        return CE(functional_call(model, {**params, weight: w}, (x,)), y)

    return torch.autograd.functional.hessian(loss, params[weight])


def _kappa_dense(model, x, y, layer: str) -> tuple[float, float]:
    """(κ = Σ_{s,s'} ⟨w_s, w_s'⟩ Tr H_{s,s'}, Tr H) straight from the definition."""
    W = dict(model.named_parameters())[f"{layer}.weight"].detach()
    H = _dense_block(model, x, y, f"{layer}.weight")
    tr_blocks = torch.einsum("sitj,ij->st", H, torch.eye(W.shape[1], dtype=torch.float64))
    return float(((W @ W.t()) * tr_blocks).sum()), float(torch.einsum("sisi->", H))


@pytest.mark.parametrize("layer", [None, "2", "0"])
@pytest.mark.parametrize("act", [nn.ReLU, nn.Tanh])
def test_exact_matches_dense_hessian(layer, act):
    model = _net(act=act)
    x, y = _data()
    name = layer or "4"
    expected, _ = _kappa_dense(model, x, y, name)
    batches = [(x[:12], y[:12]), (x[12:24], y[12:24]), (x[24:], y[24:])]  # ragged last batch
    r = relative_flatness_result(model, CE, batches, layer=layer, method="exact", block_size=7)
    assert r.value == pytest.approx(expected, rel=1e-10)
    assert r.layer == name and r.method == "exact" and r.stderr == 0.0
    W = dict(model.named_parameters())[f"{name}.weight"]
    assert r.rank == min(W.shape) and r.num_matvecs == r.rank * W.shape[1]


def test_rank_deficient_layer_is_exact():
    model = _net(width=6)
    with torch.no_grad():  # last layer of rank 2 (< min(d, m) = 4)
        model[4].weight.copy_(torch.randn(4, 2, dtype=torch.float64)
                              @ torch.randn(2, 6, dtype=torch.float64))
    x, y = _data()
    r = relative_flatness_result(model, CE, (x, y), method="exact")
    assert r.rank == 2
    assert r.value == pytest.approx(_kappa_dense(model, x, y, "4")[0], rel=1e-10)


@pytest.mark.parametrize("method", ["hutchinson", "hutch++"])
def test_stochastic_estimates(method):
    model = _net(act=nn.Tanh, width=8)
    x, y = _data()
    exact = _kappa_dense(model, x, y, "2")[0]
    r = relative_flatness_result(model, CE, (x, y), layer="2", method=method, num_matvecs=60,
                                 seed=3)
    assert r.method == method and r.num_matvecs == 60 and r.stderr > 0
    assert abs(r.value - exact) < 5 * r.stderr
    again = relative_flatness_result(model, CE, (x, y), layer="2", method=method,
                                     num_matvecs=60, seed=3)
    assert again.value == r.value
    # Hutch++ with a budget ≥ 3 × the operator's side sketches everything: exact
    full = relative_flatness_result(model, CE, (x, y), layer="2", method="hutch++",
                                    num_matvecs=3 * 64)
    assert full.value == pytest.approx(exact, rel=1e-8)


def test_auto_method():
    model = _net()
    x, y = _data()
    assert relative_flatness_result(model, CE, (x, y)).method == "exact"  # r·m = 24 ≤ 100
    assert relative_flatness_result(model, CE, (x, y), num_matvecs=10).method == "hutch++"


def _rescale(model: nn.Module, layer: int, lam: float) -> nn.Module:
    """W_layer → λ W_layer, (W, b)_previous → (W, b)/λ: the same function for a ReLU net."""
    import copy

    out = copy.deepcopy(model)
    with torch.no_grad():
        out[layer].weight.mul_(lam)
        out[layer - 2].weight.div_(lam)
        out[layer - 2].bias.div_(lam)
    return out


@pytest.mark.parametrize("lam", [0.25, 3.0])
def test_invariant_under_layerwise_rescaling(lam):
    """Petzka et al.'s reparametrisation: κ is unchanged, the plain trace Tr(H) is not."""
    model = _net(seed=5)
    x, y = _data()
    scaled = _rescale(model, 4, lam)
    with torch.no_grad():
        assert torch.allclose(model(x), scaled(x), rtol=1e-12, atol=1e-12)
    k0 = relative_flatness(model, CE, (x, y))
    k1 = relative_flatness(scaled, CE, (x, y))
    assert k1 == pytest.approx(k0, rel=1e-10)
    _, t0 = _kappa_dense(model, x, y, "4")
    _, t1 = _kappa_dense(scaled, x, y, "4")
    assert t1 == pytest.approx(t0 / lam ** 2, rel=1e-10)  # the plain trace moves by 1/λ²
    assert t1 != pytest.approx(t0, rel=1e-2)  # so the same invariance test fails for it


def test_default_layer_and_bad_input():
    model = _net()
    x, y = _data()
    assert default_layer(model) == "4"
    with pytest.raises(ConfigError, match=r"not an nn\.Linear"):
        relative_flatness(model, CE, (x, y), layer="1")
    with pytest.raises(ConfigError, match="method must be one of"):
        relative_flatness(model, CE, (x, y), method="dense")
    with pytest.raises(ConfigError, match=r"no nn\.Linear"):
        relative_flatness(nn.Sequential(nn.Flatten()), CE, (x, y))
    drop = nn.Sequential(nn.Linear(5, 4), nn.Dropout(0.5)).double().train()
    with pytest.raises(NonDeterministicError):
        relative_flatness(drop, CE, (x, y))
    # a one-shot iterator is read once into a list
    r = relative_flatness(model, CE, iter([(x[:15], y[:15]), (x[15:], y[15:])]))
    assert r == pytest.approx(relative_flatness(model, CE, (x, y)), rel=1e-10)


def test_docstring_examples_run():
    import doctest

    import landscape.flatness.relative_flatness as mod

    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
