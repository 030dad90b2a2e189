"""Fisher–Rao norm against three independent oracles in float64: Liang et al.'s closed form for
bias-free ReLU networks, per-sample Jacobians from torch.func, and a dense Fisher matrix."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn
from torch.func import functional_call, jacrev, vmap

from landscape.errors import ConfigError, NonDeterministicError
from landscape.flatness.fisher_rao import fisher_rao, fisher_rao_norm

CE = nn.CrossEntropyLoss()


def _relu_net(sizes: tuple[int, ...], bias: bool, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(sizes):
        layers += [nn.Linear(a, b, bias=bias), nn.ReLU()]
    return nn.Sequential(*layers[:-1]).double().eval()


def _data(n: int = 37, d: int = 5, c: int = 4, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, d, generator=g, dtype=torch.float64),
            torch.randint(0, c, (n,), generator=g))


def _split(x, y, sizes=(16, 16, 5)):
    out, s = [], 0
    for k in sizes:
        out.append((x[s:s + k], y[s:s + k]))
        s += k
    return out


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_bias_free_relu_identity(depth):
    """⟨θ, ∂ℓ/∂θ⟩ = (L+1)⟨∂ℓ/∂f, f⟩ (Liang et al. 2019, L hidden layers): with softmax
    cross-entropy ∂ℓ/∂f = p − e_y, so the empirical norm is (L+1)² mean (pᵀf − f_y)² and the
    model norm (L+1)² mean Var_{c~p}(f_c)."""
    sizes = (5, *([7] * depth), 4)
    model = _relu_net(sizes, bias=False)
    x, y = _data()
    with torch.no_grad():
        f = model(x)
    p = torch.softmax(f, 1)
    k2 = float(len(sizes) - 1) ** 2
    emp = k2 * ((p * f).sum(1) - f.gather(1, y[:, None])[:, 0]).pow(2).mean()
    var = (p * f.pow(2)).sum(1) - (p * f).sum(1).pow(2)
    got_emp = fisher_rao_norm(model, CE, _split(x, y))
    got_mod = fisher_rao_norm(model, CE, _split(x, y), fisher="model")
    assert got_emp == pytest.approx(float(emp), rel=1e-12)
    assert got_mod == pytest.approx(float(k2 * var.mean()), rel=1e-12)
    # the identity does not hold with biases: the closed form must then be wrong
    biased = _relu_net(sizes, bias=True)
    with torch.no_grad():
        fb = biased(x)
    pb = torch.softmax(fb, 1)
    wrong = k2 * ((pb * fb).sum(1) - fb.gather(1, y[:, None])[:, 0]).pow(2).mean()
    assert fisher_rao_norm(biased, CE, (x, y)) != pytest.approx(float(wrong), rel=1e-3)


def _tanh_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 4)).double().eval()


def _per_sample_jacobians(model: nn.Module, x: torch.Tensor, names: list[str]):
    """J_i = ∂f(x_i)/∂θ, [N, C, P], by torch.func (independent of the double-backward trick)."""
    params = {n: p.detach() for n, p in model.named_parameters()}

    def f(sel, xi):
        return functional_call(model, {**params, **sel}, (xi[None],))[0]

    sel = {n: params[n] for n in names}
    jac = vmap(jacrev(f), in_dims=(None, 0))(sel, x)
    return torch.cat([jac[n].reshape(x.shape[0], -1, params[n].numel()) for n in names], 2)


@pytest.mark.parametrize("params", [None, "2.*", ["0.weight", "2.bias"]])
def test_against_per_sample_jacobians(params):
    model = _tanh_net()
    x, y = _data()
    names = [n for n, _ in model.named_parameters()]
    if params == "2.*":
        names = ["2.weight", "2.bias"]
    elif isinstance(params, list):
        names = params
    J = _per_sample_jacobians(model, x, names)
    theta = torch.cat([dict(model.named_parameters())[n].detach().reshape(-1) for n in names])
    with torch.no_grad():
        p = torch.softmax(model(x), 1)
    fdot = J @ theta  # [N, C]
    onehot = nn.functional.one_hot(y, 4).double()
    emp = ((p - onehot) * fdot).sum(1).pow(2).mean()
    # model Fisher: score of class c is (e_c − p)ᵀ J θ
    scores = fdot - (p * fdot).sum(1, keepdim=True)
    mod = (p * scores.pow(2)).sum(1).mean()
    r = fisher_rao(model, CE, _split(x, y), params=params)
    assert r.value == pytest.approx(float(emp), rel=1e-12)
    assert r.num_samples == 37 and r.num_params == theta.numel()
    assert fisher_rao_norm(model, CE, _split(x, y), fisher="model", params=params) \
        == pytest.approx(float(mod), rel=1e-12)


def _dense_fisher(model: nn.Module, x: torch.Tensor, y: torch.Tensor, kind: str):
    """F = (1/N) Σ_i g_i g_iᵀ from one autograd gradient per sample (and per class)."""
    params = list(model.parameters())
    P = sum(p.numel() for p in params)
    F = torch.zeros(P, P, dtype=torch.float64)
    for i in range(x.shape[0]):
        logp = torch.log_softmax(model(x[i:i + 1]), 1)[0]
        if kind == "empirical":
            pairs = [(1.0, -logp[y[i]])]
        else:
            pairs = [(float(logp[c].detach().exp()), -logp[c]) for c in range(logp.shape[0])]
        for w, loss in pairs:
            g = torch.cat([t.reshape(-1) for t in
                           torch.autograd.grad(loss, params, retain_graph=True)])
            F += w * torch.outer(g, g)
    return F / x.shape[0]


@pytest.mark.parametrize("kind", ["empirical", "model"])
def test_against_dense_fisher(kind):
    model = _tanh_net(seed=3)
    x, y = _data(n=21, seed=4)
    F = _dense_fisher(model, x, y, kind)
    theta = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    expected = float(theta @ F @ theta)
    got = fisher_rao_norm(model, CE, _split(x, y, (8, 8, 5)), fisher=kind)
    assert got == pytest.approx(expected, rel=1e-12)
    # a different θ in the quadratic form would not match: the test can fail
    assert float((2 * theta) @ F @ theta) != pytest.approx(got, rel=1e-3)


def test_result_evidence_and_iterator():
    model = _tanh_net()
    x, y = _data()
    r = fisher_rao(model, CE, iter(_split(x, y)))
    r_list = fisher_rao(model, CE, _split(x, y))
    assert float(r) == r.value == pytest.approx(r_list.value, rel=1e-14)
    assert 0 < r.stderr < r.value and r.fisher == "empirical"


def test_float32_model_close_to_float64():
    model = _tanh_net()
    x, y = _data()
    ref = fisher_rao_norm(model, CE, (x, y))
    got = fisher_rao_norm(model.float(), CE, (x.float(), y))
    assert got == pytest.approx(ref, rel=1e-4)


def test_bad_input():
    model = _tanh_net()
    x, y = _data()
    with pytest.raises(ConfigError, match="fisher must be one of"):
        fisher_rao_norm(model, CE, (x, y), fisher="true")
    with pytest.raises(ConfigError, match="selects no trainable"):
        fisher_rao_norm(model, CE, (x, y), params="nothing.*")
    with pytest.raises(ConfigError, match="scalar"):
        fisher_rao_norm(model, nn.CrossEntropyLoss(reduction="none"), (x, y))
    with pytest.raises(ConfigError, match="no batch"):
        fisher_rao_norm(model, CE, [])
    seq = nn.Sequential(nn.Linear(5, 3), nn.Flatten(0)).double().eval()
    with pytest.raises(ConfigError, match="logits"):
        fisher_rao_norm(seq, nn.MSELoss(), (x, torch.zeros(37 * 3, dtype=torch.float64)),
                        fisher="model")
    drop = nn.Sequential(nn.Linear(5, 4), nn.Dropout(0.5)).double().train()
    with pytest.raises(NonDeterministicError):
        fisher_rao_norm(drop, CE, (x, y))


def test_docstring_examples_run():
    import doctest

    import landscape.flatness.fisher_rao as mod

    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
