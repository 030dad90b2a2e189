"""Flat-minimum width (bisection with common random numbers) and Jiang et al.'s PAC-Bayes σ."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from landscape.errors import ConfigError
from landscape.flatness import flat_minimum_width, local_energy, pac_bayes_sigma, random_directions
from tests.flatness._util import cls_data, mean_out, mlp, quad_data, quadratic
from tests.helpers import blobs

CE = nn.CrossEntropyLoss()


def test_width_recovers_the_quadratic_crossing_and_its_interval() -> None:
    model = quadratic(at_minimum=True)
    A = model.A
    tau, S = 0.5, 400
    r = flat_minimum_width(model, mean_out, quad_data(), tau, num_samples=S, noise="additive",
                           rtol=1e-9, sigma_bounds=(1e-2, 10.0))
    z = random_directions(model, S, "additive")["w"]
    q = torch.einsum("sp,pq,sq->s", z, A, z).numpy()          # δE_j(σ) = ½σ² q_j exactly
    qbar, se = q.mean(), q.std(ddof=1) / math.sqrt(S)
    assert r.bracketed
    assert r.width == pytest.approx(math.sqrt(2 * tau / qbar), rel=1e-8)
    assert r.ci_low == pytest.approx(math.sqrt(2 * tau / (qbar + 1.959964 * se)), rel=1e-6)
    assert r.ci_high == pytest.approx(math.sqrt(2 * tau / (qbar - 1.959964 * se)), rel=1e-6)
    analytic = math.sqrt(2 * tau / float(torch.trace(A)))
    assert r.ci_low < analytic < r.ci_high
    assert r.ci_high / r.ci_low < 1.2  # an informative interval
    assert np.all(np.diff(r.sigmas) > 0) and r.delta.shape == r.sigmas.shape


def test_width_is_reproducible_and_unbracketed_is_reported() -> None:
    model, data = mlp(), cls_data(30)
    a = flat_minimum_width(model, CE, data, 0.05, num_samples=6, rtol=1e-3)
    b = flat_minimum_width(model, CE, data, 0.05, num_samples=6, rtol=1e-3)
    assert a.width == b.width and a.ci_low <= a.width <= a.ci_high
    # the curve at the width is at the threshold (same draws as local_energy)
    le = local_energy(model, CE, data, [a.width], 6)
    assert le.delta[0] == pytest.approx(0.05, rel=5e-3)
    far = flat_minimum_width(model, CE, data, 1e6, num_samples=2, sigma_bounds=(0.01, 0.1))
    assert not far.bracketed and math.isnan(far.width)
    clf, cdata = _centroid_classifier()
    err = flat_minimum_width(clf, CE, cdata, 0.05, quantity="error", num_samples=8)
    assert err.quantity == "error" and err.bracketed
    assert err.ci_low <= err.width <= err.ci_high
    le = local_energy(clf, CE, cdata, [err.width / 1.01, err.width * 1.01], 8)
    assert le.error_delta[0] < 0.05 <= le.error_delta[1]


def test_width_bad_input() -> None:
    model, data = mlp(), cls_data(20)
    with pytest.raises(ConfigError, match="threshold"):
        flat_minimum_width(model, CE, data, -1.0)
    with pytest.raises(ConfigError, match="sigma_bounds"):
        flat_minimum_width(model, CE, data, 0.1, sigma_bounds=(1.0, 0.5))
    with pytest.raises(ConfigError, match="quantity"):
        flat_minimum_width(model, CE, data, 0.1, quantity="accuracy")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="classification"):
        flat_minimum_width(quadratic(), mean_out, quad_data(), 0.1, quantity="error")


def _centroid_classifier() -> tuple[nn.Module, tuple[torch.Tensor, torch.Tensor]]:
    ds = blobs(150, dim=4, classes=3, seed=0)
    x = ds.x.double()
    c = torch.stack([x[ds.y == k].mean(0) for k in range(3)])
    model = nn.Linear(4, 3).double().eval()
    with torch.no_grad():
        model.weight.copy_(c)
        model.bias.copy_(-0.5 * (c * c).sum(1))
    return model, (x, ds.y)


def test_pac_bayes_sigma_reaches_the_target_error_increase() -> None:
    model, data = _centroid_classifier()
    r = pac_bayes_sigma(model, CE, data, num_samples=10)
    assert r.converged and abs(r.error_increase - 0.1) < 0.01
    assert r.base_error < 0.05 and 0 < r.sigma < 2
    assert r.flatness == pytest.approx(1 / r.sigma**2)
    # σ′ is the standard deviation of N(0, σ′²), with the same draws as local_energy
    le = local_energy(model, CE, data, [r.sigma], 10, noise="additive")
    assert le.error_delta[0] == pytest.approx(r.error_increase, abs=1e-12)
    assert len(r.sigmas) == len(r.increases) <= 15
    with pytest.raises(ConfigError, match="target"):
        pac_bayes_sigma(model, CE, data, target=1.5)


def test_width_results_round_trip_through_arrays() -> None:
    model, data = _centroid_classifier()
    p = pac_bayes_sigma(model, CE, data, num_samples=4, max_steps=3)
    w = flat_minimum_width(model, CE, data, 0.05, num_samples=4, grid=3, max_steps=5)
    for r in (p, w):
        back = type(r).from_arrays(*r.to_arrays())
        for f in r.__dataclass_fields__:
            a, b = getattr(r, f), getattr(back, f)
            if isinstance(a, np.ndarray):
                np.testing.assert_array_equal(a, b)
            elif not (isinstance(a, float) and math.isnan(a) and math.isnan(b)):
                assert a == b, f
