"""local_entropy: Gaussian closed forms on quadratic losses, thermodynamic integration, seeding,
round trips and input errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from landscape.errors import ConfigError, NonDeterministicError, NonFiniteError
from landscape.flatness import LocalEntropyResult, local_entropy
from landscape.flatness.local_entropy import integrate_log_gamma, step_coefficients
from tests.flatness._util import Quadratic, mean_out, mlp, quad_data, quadratic


# ------------------------------------------------------------------ Gaussian closed forms
def gaussian(A: torch.Tensor, b: torch.Tensor, w: torch.Tensor, beta: float, gamma: float,
             scheme: str | None = None, eta: float = 0.0) -> dict[str, float]:
    """Exact moments of p(w') ∝ exp(−β(½w'ᵀAw' + bᵀw') − γ/2‖w' − w‖²) and its log Z.

    With a ``scheme``, the moments of that discretisation's stationary law at step ``eta``
    instead: the step is the linear map ``w' ← w + a(w' − w) − c(Aw' + b) + sξ``, whose
    stationary mean is exact and whose covariance is ``s²(I − M²)⁻¹``, ``M = aI − cA``.
    """
    p = A.shape[0]
    eye = torch.eye(p, dtype=A.dtype)
    lam = beta * A + gamma * eye
    c = gamma * w - beta * b
    mu = torch.linalg.solve(lam, c)
    if scheme is None:
        cov = torch.linalg.inv(lam)
    else:
        a, cc, s = step_coefficients(gamma, beta, eta, scheme)
        m = a * eye - cc * A
        cov = s**2 * torch.linalg.inv(eye - m @ m)
    sq = float(torch.trace(cov) + ((mu - w) ** 2).sum())
    loss = float(0.5 * torch.trace(A @ cov) + 0.5 * mu @ A @ mu + b @ mu)
    log_z = float(0.5 * p * math.log(2 * math.pi) - 0.5 * torch.logdet(lam)
                  + 0.5 * c @ mu - 0.5 * gamma * w @ w)
    base = float(0.5 * w @ A @ w + b @ w)
    phi_flat = -beta * base + 0.5 * p * math.log(2 * math.pi / gamma)
    return {"sq": sq, "loss": loss, "log_z": log_z, "phi_excess": log_z - phi_flat}


BETA, ETA, CHAINS = 1.0, 0.005, 128
GAMMAS = np.geomspace(0.5, 128.0, 7)


@pytest.fixture(scope="module")
def quad_run() -> tuple[Quadratic, LocalEntropyResult]:
    model = quadratic(p=4, seed=0)          # w is not the minimum: the mean shift matters
    r = local_entropy(model, mean_out, quad_data(), GAMMAS[::-1].copy(), beta=BETA,
                      num_chains=CHAINS, num_steps=400, burn_in=150, step_size=ETA, seed=3)
    return model, r


def test_sq_dist_and_loss_match_gaussian_closed_form(quad_run) -> None:
    model, r = quad_run
    A, b, w = model.A, model.b, model.w.detach()
    np.testing.assert_array_equal(r.gammas, GAMMAS)               # sorted ascending
    assert r.sq_dist_chains.shape == r.loss_chains.shape == (GAMMAS.size, CHAINS)
    below_noise = 0
    for i, g in enumerate(GAMMAS):
        exact = gaussian(A, b, w, BETA, g)
        chain = gaussian(A, b, w, BETA, g, "exponential", ETA)   # the discretised chain's law
        se = r.sq_dist_stderr[i]
        assert se < 0.04 * exact["sq"]                             # the check is informative
        # the sampler's own stationary law, exactly
        assert abs(r.sq_dist_mean[i] - chain["sq"]) < 4 * se, (g, chain)
        # the continuous target: the O(η) bias is small (< 0.5%) and, where it is below the
        # noise, the estimate is within 4 stderr of the exact Gaussian value
        bias = chain["sq"] - exact["sq"]
        assert 0 < bias < 0.01 * exact["sq"]
        if bias < se:
            below_noise += 1
            assert abs(r.sq_dist_mean[i] - exact["sq"]) < 4 * se, (g, exact)
        assert abs(r.loss_mean[i] - exact["loss"]) < 4 * r.loss_stderr[i], (g, exact)
    assert below_noise >= 4
    # the control variate: shadow coefficient near 1 where the coupling dominates
    assert r.control_variate and np.all((r.cv_coefficients > 0) & (r.cv_coefficients < 1.2))
    assert r.cv_coefficients[-1] > 0.8 > r.cv_coefficients[0]
    # the per-chain values are what the means and stderrs summarise
    np.testing.assert_allclose(r.sq_dist_mean, r.sq_dist_chains.mean(1), rtol=1e-12)
    np.testing.assert_allclose(r.loss_stderr, r.loss_chains.std(1, ddof=1) / math.sqrt(CHAINS),
                               rtol=1e-12)
    assert np.all(np.abs(r.sq_dist_drift) < 5)
    assert r.base == pytest.approx(float(0.5 * w @ A @ w + b @ w), rel=1e-12)


def test_thermodynamic_integration_matches_exact_log_z(quad_run) -> None:
    model, r = quad_run
    A, b, w = model.A, model.b, model.w.detach()
    ex = [gaussian(A, b, w, BETA, g) for g in GAMMAS]
    law = [gaussian(A, b, w, BETA, g, "exponential", ETA) for g in GAMMAS]
    exact_dlz = np.array([e["log_z"] - ex[-1]["log_z"] for e in ex])
    exact_phi = np.array([e["phi_excess"] for e in ex])
    # deterministic error of the estimator: trapezoid in log γ and 1/γ tail applied to the
    # sampler's exact curve (O(η) discretisation included); small next to the values
    dlz_q, phi_q, _ = integrate_log_gamma(GAMMAS, np.array([e["sq"] for e in law]), 4)
    det_dlz, det_phi = np.abs(dlz_q - exact_dlz), np.abs(phi_q - exact_phi)
    assert np.all(det_dlz[:-1] < 0.01 * exact_dlz[:-1]) and np.all(det_phi < 0.05)
    # log Z(γ_k) − log Z(γ_max) against the closed form
    assert r.delta_log_z[-1] == 0.0 and r.delta_log_z_stderr[-1] == 0.0
    assert np.all(np.abs(r.delta_log_z - exact_dlz) <= 4 * r.delta_log_z_stderr + det_dlz)
    assert r.delta_log_z_stderr[0] < 0.02 * exact_dlz[0]
    lo, hi = r.delta_log_z_ci(0.999)
    assert lo[0] < exact_dlz[0] < hi[0]
    # the difference between two γ values, log Z(γ_0) − log Z(γ_2), with its per-chain CI
    diff_chains = r.delta_log_z_chains[0] - r.delta_log_z_chains[2]
    se = diff_chains.std(ddof=1) / math.sqrt(diff_chains.size)
    assert abs(diff_chains.mean() - (exact_dlz[0] - exact_dlz[2])) < 4 * se + 0.01
    # the excess over the flat reference, tail included (γ_max = 128 ≫ λ_max(A) ≈ 4.5)
    assert np.all(np.abs(r.phi_excess - exact_phi) < 4 * r.phi_excess_stderr + det_phi)
    assert r.phi_excess_stderr[0] < 0.1 * abs(exact_phi[0])
    assert abs(r.phi_tail_chains.mean()) < 0.05                   # Gaussian regime at γ_max
    np.testing.assert_allclose(r.phi_excess_chains[-1], r.phi_tail_chains, rtol=1e-12)
    np.testing.assert_allclose(r.phi, r.phi_excess + r.phi_flat)
    np.testing.assert_allclose(
        r.phi_flat, -BETA * r.base + 2 * np.log(2 * np.pi / GAMMAS), rtol=1e-12)
    assert r.scheme == "exponential" and r.integration == "trapezoid_log_gamma"
    np.testing.assert_array_equal(r.step_sizes, np.full(GAMMAS.size, ETA))


def test_linear_model_mse_batches_default_beta_matches_ula_closed_form() -> None:
    # MSE of a linear model is exactly quadratic in (weight, bias); batches of unequal size with
    # extra entries; beta defaults to N
    gen = torch.Generator().manual_seed(4)
    n, d = 12, 2
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    x[:3] *= 3.0                        # a small, atypical batch: its weight n_b/N matters
    y = x @ torch.tensor([[1.0], [-0.5]], dtype=torch.float64) + 0.3 * torch.randn(
        n, 1, generator=gen, dtype=torch.float64)
    data = [(x[:3], y[:3], "extra"), (x[3:], y[3:], "extra", 0)]
    model = nn.Linear(d, 1).double().eval()
    xt = torch.cat([x, torch.ones(n, 1, dtype=torch.float64)], 1)       # θ = (W, b)
    A = 2.0 / n * xt.T @ xt
    bvec = -2.0 / n * xt.T @ y[:, 0]
    const = float((y**2).mean())
    theta = torch.cat([model.weight.detach().reshape(-1), model.bias.detach()])
    gammas, eta = [48.0, 96.0], 0.004
    r = local_entropy(model, nn.MSELoss(), data, gammas, num_chains=24, num_steps=500,
                      burn_in=150, step_size=eta, seed=1, scheme="euler")
    assert r.beta == n and r.num_data == n and r.num_params == 3
    assert r.estimator == "full_batch" and r.batch_size is None
    np.testing.assert_allclose(r.noise_scales, math.sqrt(2 * eta / n), rtol=1e-12)
    assert r.scheme == "euler"
    for i, g in enumerate(gammas):
        ula = gaussian(A, bvec, theta, float(n), g, "euler", eta)
        assert r.sq_dist_stderr[i] < 0.06 * ula["sq"]
        assert abs(r.sq_dist_mean[i] - ula["sq"]) < 4 * r.sq_dist_stderr[i], (g, ula)
        assert abs(r.loss_mean[i] - (ula["loss"] + const)) < 4 * r.loss_stderr[i]
    # the model is never moved
    np.testing.assert_array_equal(
        torch.cat([model.weight.detach().reshape(-1), model.bias.detach()]).numpy(),
        theta.numpy())


def rotated_quadratic(eigs: list[float], seed: int) -> Quadratic:
    """A quadratic with the given Hessian eigenvalues, at its minimum (``L = 0`` there)."""
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(len(eigs), len(eigs), generator=gen, dtype=torch.float64))
    A = q @ torch.diag(torch.tensor(eigs, dtype=torch.float64)) @ q.T
    w0 = torch.randn(len(eigs), generator=gen, dtype=torch.float64)
    return Quadratic(A, -A @ w0, w0).eval()


def test_flatter_quadratic_has_larger_local_entropy() -> None:
    eigs = [1.0, 1.3, 1.6, 2.0]
    sharp = rotated_quadratic(eigs, seed=5)
    flat = Quadratic(sharp.A / 10, sharp.b / 10, sharp.w.detach()).eval()   # same minimum
    gammas = np.array([2.0, 8.0, 32.0, 128.0])
    kw = {"beta": 1.0, "num_chains": 32, "num_steps": 150, "burn_in": 100, "seed": 2}
    # the step size scaled to each model's curvature (η λ_max = 0.01: the same O(η) bias)
    rs = local_entropy(sharp, mean_out, quad_data(), gammas, step_size=0.005, **kw)
    rf = local_entropy(flat, mean_out, quad_data(), gammas, step_size=0.05, **kw)
    diff = rf.phi_excess_chains - rs.phi_excess_chains
    se = diff.std(1, ddof=1) / math.sqrt(diff.shape[1])
    assert np.all(diff.mean(1) > 4 * se)
    assert np.all(rf.sq_dist_mean > rs.sq_dist_mean)
    # at a minimum the exact excess is −½ Σ log(1 + βλᵢ/γ) < 0; the tolerance adds the
    # deterministic error (quadrature on this coarse grid and O(η), from the sampler's law)
    for model, r, eta in ((sharp, rs, 0.005), (flat, rf, 0.05)):
        A, b, w = model.A, model.b, model.w.detach()
        lam = torch.linalg.eigvalsh(A).numpy()
        exact = np.array([-0.5 * np.log1p(lam / g).sum() for g in gammas])
        np.testing.assert_allclose(exact, [gaussian(A, b, w, 1.0, g)["phi_excess"]
                                           for g in gammas])
        law = np.array([gaussian(A, b, w, 1.0, g, "exponential", eta)["sq"] for g in gammas])
        det = np.abs(integrate_log_gamma(gammas, law, 4)[1] - exact)
        assert np.all(det < 0.05)
        assert np.all(np.abs(r.phi_excess - exact) < 4 * r.phi_excess_stderr + det), (
            r.phi_excess, exact)
        assert np.all(np.abs(r.sq_dist_drift) < 4)


def test_control_variate_keeps_the_mean_and_cuts_the_noise() -> None:
    # many weakly curved directions: ‖w' − w‖² is dominated by the coupling's P-dim noise
    model = rotated_quadratic(list(np.linspace(0.1, 0.6, 16)), seed=6)
    A, b, w = model.A, model.b, model.w.detach()
    gammas, eta = np.array([2.0, 8.0, 32.0]), 0.03
    exact = np.array([-0.5 * np.log1p(torch.linalg.eigvalsh(A).numpy() / g).sum()
                      for g in gammas])
    law = np.array([gaussian(A, b, w, 1.0, g, "exponential", eta)["sq"] for g in gammas])
    det = np.abs(integrate_log_gamma(gammas, law, 16)[1] - exact)
    out = {}
    for cv in (True, False):
        r = local_entropy(model, mean_out, quad_data(), gammas, beta=1.0, num_chains=16,
                          num_steps=150, burn_in=60, step_size=eta, seed=4,
                          control_variate=cv)
        assert r.control_variate is cv
        assert np.all(np.abs(r.sq_dist_mean - law) < 4 * r.sq_dist_stderr)
        assert np.all(np.abs(r.phi_excess - exact) < 4 * r.phi_excess_stderr + det)
        out[cv] = r
    assert np.all(out[True].phi_excess_stderr < 0.3 * out[False].phi_excess_stderr)
    assert np.all(out[True].sq_dist_stderr < 0.5 * out[False].sq_dist_stderr)
    assert out[True].phi_excess_stderr[0] < 0.05 * abs(exact[0])
    np.testing.assert_array_equal(out[False].cv_coefficients, 0.0)


def test_flat_loss_with_control_variate_is_exact_even_in_transients() -> None:
    # L ≡ 0: w' − w is the shadow chain itself, so every record equals E‖u_t‖² = P v_t
    p, eta, steps = 5, 0.02, 30
    model = Quadratic(torch.zeros(p, p, dtype=torch.float64),
                      torch.zeros(p, dtype=torch.float64),
                      torch.randn(p, dtype=torch.float64)).eval()
    r = local_entropy(model, mean_out, quad_data(), [1.0, 10.0], beta=1.0, num_chains=4,
                      num_steps=steps, burn_in=0, step_size=eta)
    a, _, sc = step_coefficients(1.0, 1.0, eta, "exponential")
    v, vs = 1.0 / 10.0, []                 # the start is exactly N(w, I/γ_max); γ = 10 first
    for _ in range(steps):                 # then γ = 1 from that state, no burn-in
        vs.append(v)
        v = a * a * v + sc * sc
    np.testing.assert_allclose(r.sq_dist_chains[1], p / 10.0, rtol=1e-10)
    np.testing.assert_allclose(r.sq_dist_chains[0], p * np.mean(vs), rtol=1e-10)
    np.testing.assert_allclose(r.cv_coefficients, 1.0, rtol=1e-10)
    plain = local_entropy(model, mean_out, quad_data(), [1.0, 10.0], beta=1.0, num_chains=4,
                          num_steps=steps, burn_in=0, step_size=eta, control_variate=False)
    assert np.all(plain.sq_dist_stderr > 0.01 * r.sq_dist_mean)


def test_integrate_log_gamma_flat_and_quadrature() -> None:
    g = np.array([0.5, 1.0, 4.0, 10.0])
    p = 7
    dlz, phi, tail = integrate_log_gamma(g, p / g, p)
    np.testing.assert_allclose(phi, 0.0, atol=1e-12)
    np.testing.assert_allclose(tail, 0.0, atol=1e-12)
    np.testing.assert_allclose(dlz, 0.5 * p * np.log(g[-1] / g), rtol=1e-12)
    # per-chain columns are integrated independently
    m = np.stack([p / g, 2 * p / g], 1)
    dlz2, phi2, tail2 = integrate_log_gamma(g, m, p, tail=False)
    np.testing.assert_allclose(dlz2[:, 1], 2 * dlz2[:, 0])
    np.testing.assert_allclose(tail2, 0.0)
    np.testing.assert_allclose(phi2[:, 1], dlz2[:, 0])


# ------------------------------------------------------------------ determinism and round trip
def _short(model: nn.Module, data, gammas, **kw) -> LocalEntropyResult:
    opts = {"beta": 40.0, "num_chains": 3, "num_steps": 6, "burn_in": 4, "step_size": 0.01}
    return local_entropy(model, nn.CrossEntropyLoss(), data, gammas, **{**opts, **kw})


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return torch.randn(20, 3, generator=gen, dtype=torch.float64), torch.randint(
        0, 3, (20,), generator=gen)


def _fields(r: LocalEntropyResult) -> dict:
    arrays, attrs = r.to_arrays()
    return {**arrays, **attrs}


def _assert_same(a: LocalEntropyResult, b: LocalEntropyResult) -> None:
    fa, fb = _fields(a), _fields(b)
    assert fa.keys() == fb.keys()
    for k in fa:
        if isinstance(fa[k], np.ndarray):
            np.testing.assert_array_equal(fa[k], fb[k], err_msg=k)
        else:
            assert fa[k] == fb[k], k


def test_same_seed_same_result_and_input_order_irrelevant() -> None:
    model, data = mlp(), _data()
    before = [p.detach().clone() for p in model.parameters()]
    a = _short(model, data, [30.0, 3.0, 10.0], seed=7)
    b = _short(model, data, [3.0, 10.0, 30.0], seed=7)
    _assert_same(a, b)
    c = _short(model, data, [3.0, 10.0, 30.0], seed=8)
    assert not np.array_equal(a.sq_dist_chains, c.sq_dist_chains)
    # chain c's trajectory does not depend on how many chains run beside it (the pooled
    # control-variate coefficient does, so compare without it)
    e = _short(model, data, [3.0, 10.0, 30.0], seed=7, control_variate=False)
    d = _short(model, data, [3.0, 10.0, 30.0], seed=7, num_chains=2, control_variate=False)
    np.testing.assert_allclose(d.sq_dist_chains, e.sq_dist_chains[:, :2], rtol=1e-12)
    np.testing.assert_allclose(d.loss_chains, a.loss_chains[:, :2], rtol=1e-12)
    for p, q in zip(model.parameters(), before):
        assert torch.equal(p.detach(), q)
    assert np.all(np.isfinite(a.phi_excess)) and np.all(a.phi_excess_stderr > 0)


def test_minibatch_sgld_deterministic_and_different() -> None:
    model, data = mlp(), _data()
    full = _short(model, data, [10.0, 30.0], seed=1)
    mb1 = _short(model, data, [10.0, 30.0], seed=1, batch_size=5)
    mb2 = _short(model, data, [10.0, 30.0], seed=1, batch_size=5)
    _assert_same(mb1, mb2)
    assert mb1.estimator == "minibatch" and mb1.batch_size == 5
    assert not np.array_equal(full.loss_chains, mb1.loss_chains)
    # the whole data set as the "minibatch" is the full-batch chain up to summation order
    mbn = _short(model, data, [10.0, 30.0], seed=1, batch_size=20)
    np.testing.assert_allclose(mbn.sq_dist_chains, full.sq_dist_chains, rtol=1e-8)


@pytest.mark.parametrize("batch_size", [None, 5])
def test_convolutional_models_loop_over_chains_to_the_vmapped_result(monkeypatch,
                                                                      batch_size) -> None:
    """A model with convolutions runs its chains in a loop (faster there); the result is the
    vmapped one's in float64, full-batch and minibatch."""
    from landscape.flatness.local_entropy import _Chains
    from landscape.models import LeNet

    model = LeNet(1, 3, image_size=6, channels=(2, 3), hidden=(5, 4)).double().eval()
    gen = torch.Generator().manual_seed(0)
    data = (torch.randn(20, 1, 6, 6, generator=gen, dtype=torch.float64),
            torch.randint(0, 3, (20,), generator=gen))
    calls = {"loss": 0}
    loss = _Chains._loss

    def counted(self, *args):
        calls["loss"] += 1
        return loss(self, *args)

    monkeypatch.setattr(_Chains, "_loss", counted)
    looped = _short(model, data, [10.0, 30.0], seed=2, batch_size=batch_size)
    assert calls["loss"] >= 3 * 2 * (6 + 4)  # one call per chain and step (and the base)
    monkeypatch.setattr(nn.modules.conv, "_ConvNd", type("NoConv", (), {}))
    calls["loss"] = 0
    vmapped = _short(model, data, [10.0, 30.0], seed=2, batch_size=batch_size)
    assert calls["loss"] < 3 * 2 * (6 + 4)  # one (vmapped) call per step
    for name in ("sq_dist_chains", "loss_chains", "phi_excess_chains"):
        np.testing.assert_allclose(getattr(looped, name), getattr(vmapped, name), rtol=1e-10,
                                   atol=1e-12, err_msg=name)


def test_round_trip_through_arrays() -> None:
    model, data = mlp(), _data()
    for kw in ({}, {"batch_size": 4}):
        r = _short(model, data, [5.0, 50.0], **kw)
        arrays, attrs = r.to_arrays()
        assert attrs["result_type"] == "LocalEntropyResult"
        back = LocalEntropyResult.from_arrays(arrays, attrs)
        _assert_same(r, back)
        assert back.batch_size == r.batch_size
        np.testing.assert_array_equal(back.phi, r.phi)


def test_step_size_per_gamma_follows_the_given_order() -> None:
    model, data = mlp(), _data()
    r = _short(model, data, [50.0, 5.0], step_size=[0.001, 0.02], scheme="euler")
    np.testing.assert_array_equal(r.gammas, [5.0, 50.0])
    np.testing.assert_array_equal(r.step_sizes, [0.02, 0.001])
    np.testing.assert_allclose(r.noise_scales, np.sqrt(2 * np.array([0.02, 0.001]) / 40.0))
    same = _short(model, data, [5.0, 50.0], step_size=[0.02, 0.001], scheme="euler")
    _assert_same(r, same)
    other = _short(model, data, [5.0, 50.0], step_size=0.02, scheme="euler")
    assert not np.array_equal(other.sq_dist_chains[1], r.sq_dist_chains[1])


def test_params_selection_moves_only_selected() -> None:
    model, data = mlp(), _data()
    r = _short(model, data, [10.0], params="2.bias")
    assert r.num_params == 3
    assert r.phi_tail_chains.shape == (3,)


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("gammas", [[0.0, 1.0], [-1.0], [1.0, float("nan")], [],
                                    [1.0, 1.0], [[1.0, 2.0]], [float("inf")]])
def test_bad_gammas(gammas) -> None:
    with pytest.raises(ConfigError, match="gammas"):
        _short(mlp(), _data(), gammas)


@pytest.mark.parametrize("kw", [{"beta": 0.0}, {"beta": float("nan")}, {"step_size": -1.0},
                                {"num_chains": 0}, {"num_steps": 0}, {"burn_in": -1},
                                {"batch_size": 0}, {"batch_size": 21},
                                {"step_size": [0.01, 0.02]}, {"step_size": [0.0]},
                                {"scheme": "leapfrog"}])
def test_bad_options(kw) -> None:
    with pytest.raises(ConfigError):
        _short(mlp(), _data(), [1.0], **kw)


def test_non_finite_loss_and_divergence() -> None:
    model = mlp()
    with torch.no_grad():
        model[0].weight[0, 0] = float("nan")
    with pytest.raises(NonFiniteError, match="reference weights"):
        _short(model, _data(), [1.0])
    with pytest.raises(NonFiniteError, match="step_size"):
        local_entropy(quadratic(p=3), mean_out, quad_data(), [1.0], beta=1e3, step_size=100.0,
                      num_chains=2, num_steps=400, burn_in=0)


def test_train_mode_dropout_refused() -> None:
    model = nn.Sequential(nn.Linear(3, 5), nn.Dropout(0.5), nn.Linear(5, 3)).double()
    with pytest.raises(NonDeterministicError, match="dropout"):
        _short(model.train(), _data(), [1.0])
    _short(model.eval(), _data(), [1.0])        # eval mode is fine
    with pytest.raises(NonDeterministicError, match="BatchNorm"):
        _short(mlp(batchnorm=True).train(), _data(), [1.0])
    _short(mlp(batchnorm=True), _data(), [1.0])


# ------------------------------------------------------------------ slow
@pytest.mark.slow
def test_step_size_bias_euler_grows_with_gamma_exponential_does_not() -> None:
    model = quadratic(p=4, seed=0, at_minimum=True)
    A, b, w = model.A, model.b, model.w.detach()
    g, eta = 100.0, 0.01
    exact = gaussian(A, b, w, 1.0, g)["sq"]
    bias = {}
    for scheme in ("euler", "exponential"):
        r = local_entropy(model, mean_out, quad_data(), [g], beta=1.0, num_chains=64,
                          num_steps=2000, burn_in=100, step_size=eta, seed=0, scheme=scheme)
        law = gaussian(A, b, w, 1.0, g, scheme, eta)["sq"]
        assert abs(r.sq_dist_mean[0] - law) < 4 * r.sq_dist_stderr[0]
        bias[scheme] = r.sq_dist_mean[0] - exact
        assert abs(bias[scheme]) > 0 and r.sq_dist_stderr[0] < 0.005 * exact
    # Euler inflates every variance by ≈ 1/(1 − ηγ/2) ≈ +50%: far outside the noise
    assert bias["euler"] > 0.3 * exact
    assert abs(bias["exponential"]) < 0.02 * exact
