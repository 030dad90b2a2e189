"""Stochastic Lanczos quadrature against the dense spectrum of a small network Hessian."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from landscape._seeding import torch_generator
from landscape.errors import ConfigError
from landscape.hessian import (
    HessianOperator,
    MatrixOperator,
    SmoothedDensity,
    SpectralDensityResult,
    spectral_density,
)
from landscape.hessian.lanczos import lanczos_lockstep
from landscape.hessian.trace import _probes


@pytest.fixture(scope="module")
def slq(problem: dict) -> SpectralDensityResult:
    H = HessianOperator(problem["model"], problem["loss_fn"], (problem["x"], problem["y"]))
    return spectral_density(H, num_probes=30, num_steps=40, seed=0)


def test_shapes_and_counts(slq: SpectralDensityResult, problem: dict) -> None:
    for a in (slq.alphas, slq.betas, slq.nodes, slq.weights):
        assert a.shape == (30, 40) and a.dtype == np.float64
    assert slq.num_matvecs == 30 * 40 and slq.num_params == problem["H"].shape[0]
    np.testing.assert_allclose(np.nansum(slq.weights, axis=1), 1.0, atol=1e-12)


def test_moments_match_traces_within_statistical_error(slq: SpectralDensityResult,
                                                       problem: dict) -> None:
    ev = problem["evals"].numpy()
    P = ev.size
    for order, exact in ((1, ev.sum() / P), (2, (ev ** 2).sum() / P)):
        per_probe = slq.moments(order)
        se = per_probe.std(ddof=1) / math.sqrt(per_probe.size)
        assert abs(per_probe.mean() - exact) <= 3 * se, order
        assert se < 0.2 * abs(exact)  # the test has power: the error bar is not huge


def test_nodes_lie_in_the_spectrum_and_the_top_node_converges(slq: SpectralDensityResult,
                                                              problem: dict) -> None:
    ev = problem["evals"].numpy()
    scale = np.abs(ev).max()
    assert np.nanmin(slq.nodes) >= ev.min() - 1e-10 * scale
    assert np.nanmax(slq.nodes) <= ev.max() + 1e-10 * scale
    assert np.nanmax(slq.nodes[:, -1]) == pytest.approx(ev.max(), rel=1e-8)
    assert np.all(np.abs(slq.nodes[:, -1] - ev.max()) < 1e-6 * scale)  # every probe


def test_lockstep_block_equals_sequential_single_probes(problem: dict) -> None:
    H = HessianOperator(problem["model"], problem["loss_fn"], (problem["x"], problem["y"]))
    block = spectral_density(H, num_probes=3, num_steps=15, seed=7)
    V = _probes(H.num_params, 3, "rademacher", torch_generator(7, "hessian.spectral_density"))
    for c in range(3):
        single = lanczos_lockstep(H, V[:, c], 15)
        np.testing.assert_allclose(block.alphas[c], single.alphas[0], rtol=1e-9, atol=1e-13)


def test_reorth_none_and_gaussian_probes(problem: dict) -> None:
    A = MatrixOperator(problem["H"])
    r = spectral_density(A, num_probes=20, num_steps=25, reorth="none",
                         distribution="gaussian", seed=2)
    ev = problem["evals"].numpy()
    m1 = r.moments(1)
    assert abs(m1.mean() - ev.mean()) <= 3 * m1.std(ddof=1) / math.sqrt(20)
    assert r.reorth == "none" and r.distribution == "gaussian"


def test_early_breakdown_is_nan_padded() -> None:
    A = torch.diag(torch.tensor([0.0] * 10 + [1.0] * 10 + [5.0] * 5, dtype=torch.float64))
    r = spectral_density(A, num_probes=4, num_steps=10)
    assert r.nodes.shape == (4, 10)
    assert np.all(np.isnan(r.nodes[:, 3:])) and np.all(~np.isnan(r.nodes[:, :3]))
    np.testing.assert_allclose(r.nodes[:, :3], np.tile([0.0, 1.0, 5.0], (4, 1)), atol=1e-10)
    assert r.num_matvecs == 12
    d = r.density(preset=None, sigma=0.1)
    assert np.isfinite(d.density).all()


def test_ghorbani_preset(slq: SpectralDensityResult) -> None:
    d = slq.density(preset="ghorbani")
    lo = np.mean(np.nanmin(slq.nodes, axis=1)) - 0.01
    hi = np.mean(np.nanmax(slq.nodes, axis=1)) + 0.01
    assert d.grid.size == 10000 and d.grid[0] == pytest.approx(lo) and d.grid[-1] == \
        pytest.approx(hi)
    assert d.sigma == pytest.approx(math.sqrt(1e-5 * max(1.0, hi - lo)))
    assert np.sum(d.density) * (d.grid[1] - d.grid[0]) == pytest.approx(1.0)
    assert d.normalized and d.kernel == "gaussian" and d.preset == "ghorbani"


def test_papyan_preset(slq: SpectralDensityResult) -> None:
    d = slq.density(preset="papyan")
    lo, hi = np.nanmin(slq.nodes), np.nanmax(slq.nodes)
    pad = 0.05 * (hi - lo)
    assert d.grid.size == 1024 and d.grid[0] == pytest.approx(lo - pad)
    half = (hi - lo + 2 * pad) / 2
    assert d.sigma == pytest.approx(2 / 39 / math.sqrt(8 * math.log(3)) * half)
    mass = np.sum(d.density) * (d.grid[1] - d.grid[0])
    assert 0.9 < mass <= 1.0 + 1e-6 and not d.normalized


def test_smoothing_integrates_the_quadrature() -> None:
    r = spectral_density(torch.diag(torch.tensor([1.0, 2.0, 2.0, 4.0], dtype=torch.float64)),
                         num_probes=1, num_steps=4)
    grid = np.linspace(-5, 10, 30001)
    for kernel in ("gaussian", "lorentzian"):
        d = r.density(grid, preset=None, sigma=0.05, kernel=kernel)
        dx = grid[1] - grid[0]
        assert np.sum(d.density) * dx == pytest.approx(1.0, abs=0.01)
        mean = np.sum(grid * d.density) * dx
        assert mean == pytest.approx(r.moments(1)[0], abs=0.02)
    with pytest.raises(ConfigError):
        r.density(preset=None)


def test_round_trip_through_arrays(slq: SpectralDensityResult) -> None:
    arrays, attrs = slq.to_arrays()
    back = SpectralDensityResult.from_arrays(arrays, attrs)
    np.testing.assert_array_equal(back.nodes, slq.nodes)
    np.testing.assert_array_equal(back.betas, slq.betas)
    assert back.num_matvecs == slq.num_matvecs and back.reorth == slq.reorth
    d = slq.density(preset="papyan")
    d2 = SmoothedDensity.from_arrays(*d.to_arrays())
    np.testing.assert_array_equal(d2.density, d.density)
    assert d2.sigma == d.sigma and d2.preset == "papyan"
    with pytest.raises(ConfigError, match="not a SmoothedDensity"):
        SmoothedDensity.from_arrays(arrays, attrs)


def test_a_zero_hessian_has_a_point_mass_at_zero() -> None:
    r = spectral_density(torch.zeros(5, 5, dtype=torch.float64), num_probes=2, num_steps=3)
    assert np.nanmax(np.abs(r.nodes)) == 0.0
    for preset in ("papyan", "ghorbani"):
        d = r.density(preset=preset)
        assert d.sigma > 0 and np.isfinite(d.density).all()
        assert abs(d.grid[np.argmax(d.density)]) <= d.grid[1] - d.grid[0]
        mass = np.sum(d.density) * (d.grid[1] - d.grid[0])
        assert mass == pytest.approx(1.0, abs=0.05)
