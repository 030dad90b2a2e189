"""local_energy: closed forms on quadratics, the Hessian limit on an MLP, batching, seeding, BN."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import hessian

from landscape.errors import ConfigError, NonDeterministicError, NonFiniteError
from landscape.flatness import local_energy, random_directions
from tests.flatness._util import (
    cls_data,
    flat_fn,
    flatten,
    full_loss,
    mean_out,
    mlp,
    naive_losses,
    quad_data,
    quadratic,
)

CE = nn.CrossEntropyLoss()


# ------------------------------------------------------------------ closed forms on a quadratic
def test_additive_quadratic_closed_form_per_sample_and_mean() -> None:
    model = quadratic(at_minimum=False)
    A, w, g = model.A, model.w.detach(), model.grad()
    sigma, S = 0.3, 3000
    r = local_energy(model, mean_out, quad_data(), [sigma], S, noise="additive", seed=1)
    z = random_directions(model, S, "additive", seed=1)["w"]              # [S, P]
    exact = sigma * z @ g + 0.5 * sigma**2 * torch.einsum("sp,pq,sq->s", z, A, z)
    np.testing.assert_allclose(r.delta_samples[0], exact.numpy(), rtol=1e-10, atol=1e-12)
    expected = 0.5 * sigma**2 * float(torch.trace(A))
    assert abs(r.delta[0] - expected) < 3 * r.stderr[0]
    assert r.stderr[0] < 0.15 * expected  # the check above is informative
    assert math.isnan(r.base_error) and np.isnan(r.error_samples).all()  # not classification
    _ = w


def test_additive_quadratic_at_minimum_exact_with_many_samples() -> None:
    model = quadratic(at_minimum=True)
    S = 4000
    r = local_energy(model, mean_out, quad_data(), [0.1, 0.2], S, noise="additive")
    expected = 0.5 * np.array([0.1, 0.2]) ** 2 * float(torch.trace(model.A))
    np.testing.assert_allclose(r.delta, expected, rtol=0.03)
    assert np.all(np.abs(r.delta - expected) < 3 * r.stderr)
    # common random numbers: at a minimum every sample scales exactly like σ²
    np.testing.assert_allclose(r.delta_samples[1], 4 * r.delta_samples[0], rtol=1e-9)


def test_multiplicative_quadratic_closed_form() -> None:
    model = quadratic(at_minimum=False, seed=2)
    A, w, g = model.A, model.w.detach(), model.grad()
    sigma, S = 0.2, 3000
    r = local_energy(model, mean_out, quad_data(), [sigma], S)  # multiplicative by default
    z = random_directions(model, S, "additive")["w"]
    d = z * w
    exact = sigma * d @ g + 0.5 * sigma**2 * torch.einsum("sp,pq,sq->s", d, A, d)
    np.testing.assert_allclose(r.delta_samples[0], exact.numpy(), rtol=1e-10, atol=1e-12)
    expected = 0.5 * sigma**2 * float((torch.diagonal(A) * w**2).sum())
    assert abs(r.delta[0] - expected) < 3 * r.stderr[0]
    assert r.stderr[0] < 0.1 * expected


# ------------------------------------------------------------------ small-σ limit on an MLP
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("noise", ["additive", "multiplicative"])
def test_small_sigma_matches_dense_hessian(noise: str) -> None:
    model = mlp()
    x, y = cls_data()
    f, theta0, names, _ = flat_fn(model, CE, x, y)
    H = hessian(f)(theta0)
    g = torch.func.grad(f)(theta0)
    S, sigma = 400, 1e-3
    r = local_energy(model, CE, (x, y), [sigma], S, noise=noise, seed=5)  # type: ignore[arg-type]
    D = flatten(random_directions(model, S, noise, seed=5), names)  # type: ignore[arg-type]
    second = 0.5 * sigma**2 * torch.einsum("sp,pq,sq->s", D, H, D)
    # per sample: the second-order Taylor expansion, up to O(σ³)
    taylor = sigma * D @ g + second
    np.testing.assert_allclose(r.delta_samples[0], taylor.numpy(), rtol=2e-3,
                               atol=1e-3 * float(second.abs().mean()))
    # mean of the curvature part against ½σ² tr(H) (additive) or ½σ² Σ H_ii w_i² (multiplicative)
    curv = r.delta_samples[0] - (sigma * D @ g).numpy()
    target = torch.diagonal(H) if noise == "additive" else torch.diagonal(H) * theta0**2
    expected = 0.5 * sigma**2 * float(target.sum())
    stderr = curv.std(ddof=1) / math.sqrt(S)
    assert abs(curv.mean() - expected) < 3 * stderr
    assert stderr < 0.2 * abs(expected)


# ------------------------------------------------------------------ batching and data
def test_vmapped_equals_naive_loop_of_model_copies() -> None:
    model = mlp(batchnorm=True)
    model.train()
    x, y = cls_data(60)
    model(x)  # give BatchNorm non-trivial running statistics
    model.eval()
    batches = [(x[:25], y[:25]), (x[25:], y[25:])]
    sigma, S = 0.4, 7
    r = local_energy(model, CE, batches, [sigma], S, noise="filter", biasbn="perturb",
                     chunk_size=3)
    d = random_directions(model, S, "filter", biasbn="perturb")
    losses, errors = naive_losses(model, CE, batches, d, sigma)
    np.testing.assert_allclose(r.samples[0], losses, rtol=0, atol=1e-12)
    np.testing.assert_allclose(r.error_samples[0], errors, rtol=0, atol=1e-12)
    loop = local_energy(model, CE, batches, [sigma], S, noise="filter", biasbn="perturb",
                        batched=False)
    np.testing.assert_allclose(loop.samples, r.samples, rtol=0, atol=1e-12)
    assert r.base == pytest.approx(full_loss(model, CE, batches)[0], abs=1e-13)


def test_convolutional_copies_loop_on_the_cpu_to_the_vmapped_result(monkeypatch) -> None:
    """Convolutional copies are evaluated one by one on the CPU (faster there than a vmapped,
    grouped convolution), to the naive losses and to the vmapped result."""
    from landscape.flatness import _evaluate
    from landscape.models import LeNet

    model = LeNet(1, 3, image_size=6, channels=(2, 3), hidden=(5, 4)).double().eval()
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(30, 1, 6, 6, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (30,), generator=gen)
    assert _evaluate.vmap_is_slow(model, torch.device("cpu"))
    assert not _evaluate.vmap_is_slow(mlp(), torch.device("cpu"))
    calls = {"one": 0}
    one = _evaluate.Evaluator._one

    def counted(self, *args):
        calls["one"] += 1
        return one(self, *args)

    monkeypatch.setattr(_evaluate.Evaluator, "_one", counted)
    looped = local_energy(model, CE, (x, y), [0.1, 0.3], 6, noise="filter")
    assert calls["one"] >= 2 * 6  # one call per copy and σ
    d = random_directions(model, 6, "filter")
    for i, sigma in enumerate((0.1, 0.3)):
        losses, _ = naive_losses(model, CE, [(x, y)], d, sigma)
        np.testing.assert_allclose(looped.samples[i], losses, rtol=0, atol=1e-12)
    monkeypatch.setattr(_evaluate, "vmap_is_slow", lambda *_: False)
    calls["one"] = 0
    vmapped = local_energy(model, CE, (x, y), [0.1, 0.3], 6, noise="filter")
    assert calls["one"] <= 3  # the base, then one vmapped call per σ
    np.testing.assert_allclose(vmapped.samples, looped.samples, rtol=0, atol=1e-12)


def test_ragged_batches_give_the_full_data_expectation() -> None:
    model = mlp()
    x, y = cls_data(40)
    whole = local_energy(model, CE, (x, y), [0.1, 0.5], 6)
    ragged = local_energy(model, CE, [(x[:7], y[:7]), (x[7:20], y[7:20]), (x[20:], y[20:])],
                          [0.1, 0.5], 6)
    np.testing.assert_allclose(ragged.samples, whole.samples, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ragged.error_samples, whole.error_samples, rtol=0, atol=1e-12)
    # an unweighted mean of batch losses would differ
    parts = [(x[:7], y[:7]), (x[7:20], y[7:20]), (x[20:], y[20:])]
    per_batch = [float(CE(model(xb), yb).detach()) for xb, yb in parts]
    assert abs(np.mean(per_batch) - ragged.base) > 1e-6
    assert ragged.num_data == 40


def test_labelled_dataset_items_and_chunking_do_not_change_samples() -> None:
    model = mlp()
    x, y = cls_data(30)
    extra = (x, y, y.clone(), torch.arange(30))
    a = local_energy(model, CE, extra, [0.3], 10, chunk_size=1)
    b = local_energy(model, CE, (x, y), [0.3], 10, memory_budget=1)
    c = local_energy(model, CE, (x, y), [0.3], 10)
    np.testing.assert_allclose(a.samples, c.samples, rtol=0, atol=1e-12)
    np.testing.assert_allclose(b.samples, c.samples, rtol=0, atol=1e-12)


# ------------------------------------------------------------------ seeding and estimators
def test_seed_and_common_random_numbers() -> None:
    model = mlp()
    data = cls_data(30)
    a = local_energy(model, CE, data, [0.0, 0.1, 0.3], 5, seed=3)
    b = local_energy(model, CE, data, [0.3, 0.1], 5, seed=3)
    c = local_energy(model, CE, data, [0.1, 0.3], 5, seed=4)
    np.testing.assert_array_equal(a.samples[1:], b.samples[::-1])
    assert not np.allclose(a.samples[1:], c.samples)
    assert a.delta[0] == 0.0 and np.all(a.delta_samples[0] == 0.0)
    assert a.error_delta[0] == 0.0
    assert a.estimator == "shared_noise" and not a.per_batch_noise


def test_per_batch_noise_is_a_different_labelled_estimator() -> None:
    model = quadratic(at_minimum=True)
    batches = [quad_data(3), quad_data(5), quad_data(4)]
    shared = local_energy(model, mean_out, batches, [0.2], 600, noise="additive")
    per = local_energy(model, mean_out, batches, [0.2], 600, noise="additive",
                       per_batch_noise=True)
    assert per.per_batch_noise and per.estimator == "per_batch_noise"
    assert not np.allclose(per.samples, shared.samples)
    # same expectation, smaller spread (a batch average of independent draws)
    both = math.hypot(per.stderr[0], shared.stderr[0])
    assert abs(per.delta[0] - shared.delta[0]) < 4 * both
    assert per.stderr[0] < shared.stderr[0]


# ------------------------------------------------------------------ BatchNorm policy
def _bn_model_and_data() -> tuple[nn.Module, list[tuple[torch.Tensor, torch.Tensor]]]:
    model = mlp(batchnorm=True, seed=2)
    x, y = cls_data(48, seed=4)
    model.train()
    model(x * 3 + 1)  # stored statistics deliberately off
    model.eval()
    return model, [(x[:24], y[:24]), (x[24:], y[24:])]


def test_bn_recalibrate_per_copy_and_model_restored() -> None:
    model, batches = _bn_model_and_data()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    sigma, S = 0.3, 3
    rec = local_energy(model, CE, batches, [0.0, sigma], S, bn="recalibrate")
    stored = local_energy(model, CE, batches, [0.0, sigma], S, bn="stored")
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert not model.training and not any(m.training for m in model.modules())
    assert abs(rec.base - stored.base) > 1e-3
    assert rec.delta[0] == 0.0
    # reference: perturb a copy, reset BN, average statistics over all data, evaluate
    d = random_directions(model, S, "multiplicative")
    x_all = torch.cat([b[0] for b in batches])
    for j in range(S):
        m = copy.deepcopy(model)
        p = dict(m.named_parameters())
        with torch.no_grad():
            for n, t in d.items():
                p[n].add_(sigma * t[j])
            bn = m[1]
            bn.reset_running_stats()
            bn.momentum = None
            bn.train()
            for xb, _ in batches:
                m(xb)
            m.eval()
        assert not torch.allclose(bn.running_mean, model[1].running_mean)
        ref_loss, ref_err = full_loss(m, CE, batches)
        assert rec.samples[1, j] == pytest.approx(ref_loss, abs=1e-12)
        assert rec.error_samples[1, j] == pytest.approx(ref_err, abs=1e-12)
    _ = x_all
    one = local_energy(model, CE, batches, [sigma], S, bn="recalibrate", bn_batches=1)
    assert not np.allclose(one.samples, rec.samples[1:])


def test_bn_in_train_mode_needs_recalibrate_and_dropout_always_refused() -> None:
    model, batches = _bn_model_and_data()
    model.train()
    with pytest.raises(NonDeterministicError, match="BatchNorm"):
        local_energy(model, CE, batches, [0.1], 2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    local_energy(model, CE, batches, [0.1], 2, bn="recalibrate")
    assert model.training
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    drop = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5), nn.Linear(4, 3)).double().train()
    for bn in ("stored", "recalibrate"):
        with pytest.raises(NonDeterministicError, match="dropout"):
            local_energy(drop, CE, cls_data(), [0.1], 2, bn=bn)  # type: ignore[arg-type]


# ------------------------------------------------------------------ bad input
def test_bad_input_raises_clear_errors() -> None:
    model = mlp()
    data = cls_data(20)
    with pytest.raises(ConfigError, match=">= 0"):
        local_energy(model, CE, data, [0.1, -0.1], 2)
    with pytest.raises(ConfigError, match="non-empty"):
        local_energy(model, CE, data, [], 2)
    with pytest.raises(ConfigError, match="non-empty"):
        local_energy(model, CE, data, [[0.1, 0.2]], 2)
    with pytest.raises(ConfigError, match="num_samples"):
        local_energy(model, CE, data, [0.1], 0)
    with pytest.raises(ConfigError, match="no batch"):
        local_energy(model, CE, [], [0.1], 2)
    with pytest.raises(ConfigError, match="one-shot"):
        local_energy(model, CE, iter([data]), [0.1], 2)
    with pytest.raises(ConfigError, match="selects no"):
        local_energy(model, CE, data, [0.1], 2, params="missing.*")
    with pytest.raises(ConfigError, match="scalar"):
        local_energy(model, nn.CrossEntropyLoss(reduction="none"), data, [0.1], 2)
    with pytest.raises(ConfigError, match="bn"):
        local_energy(model, CE, data, [0.1], 2, bn="folded")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="chunk_size"):
        local_energy(model, CE, data, [0.1], 2, chunk_size=0)
    with pytest.raises(NonFiniteError, match="unperturbed"):
        local_energy(model, lambda o, t: CE(o, t) * math.nan, data, [0.1], 2)
    with pytest.raises(NonFiniteError, match="sigma=1e"):
        local_energy(quadratic(), mean_out, quad_data(), [1.0, 1e200], 2, noise="additive")
