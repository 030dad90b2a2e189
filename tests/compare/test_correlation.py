"""Kendall τ with a bootstrap interval: against scipy, against hand counts, and its coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from landscape.compare import bootstrap_tau, kendall_tau, rank_correlations, tau_b
from landscape.errors import ConfigError


def test_tau_b_matches_scipy_with_and_without_ties() -> None:
    rng = np.random.default_rng(0)
    for n in (2, 3, 7, 20):
        x, y = rng.normal(size=n), rng.normal(size=n)
        assert tau_b(x, y) == pytest.approx(stats.kendalltau(x, y).statistic, abs=1e-12)
        xt, yt = rng.integers(0, 3, size=n), rng.integers(0, 4, size=n)  # many ties
        if np.ptp(xt) and np.ptp(yt):
            assert tau_b(xt, yt) == pytest.approx(stats.kendalltau(xt, yt).statistic,
                                                  abs=1e-12)


def test_hand_counted_cases() -> None:
    assert tau_b([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert tau_b([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    # one swap among 6 pairs: 5 concordant, 1 discordant → (5 − 1)/6
    assert tau_b([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)
    # x = [1, 2, 2, 3], y = [1, 2, 3, 3], pairs of positions: (1,2) (1,3) (1,4) (2,4)
    # concordant, (2,3) tied in x only, (3,4) tied in y only
    # P = 4, Q = 0, T_x = 1, T_y = 1 → τ_b = 4 / √((4 + 1)(4 + 1)) = 0.8
    assert tau_b([1, 2, 2, 3], [1, 2, 3, 3]) == pytest.approx(0.8)
    assert math.isnan(tau_b([1, 1, 1], [1, 2, 3]))


def test_kendall_tau_point_estimate_p_value_and_interval() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=15)
    y = x + rng.normal(size=15)
    r = kendall_tau(x, y, num_bootstrap=500, seed=3, measure="m", gap="g")
    ref = stats.kendalltau(x, y)
    assert r.tau == pytest.approx(ref.statistic) and r.p_value == pytest.approx(ref.pvalue)
    assert r.ci_low <= r.tau <= r.ci_high and -1 <= r.ci_low < r.ci_high <= 1
    assert (r.measure, r.gap, r.n, r.num_bootstrap) == ("m", "g", 15, 500)
    again = kendall_tau(x, y, num_bootstrap=500, seed=3)
    assert (again.ci_low, again.ci_high) == (r.ci_low, r.ci_high)          # seeded
    # every bootstrap τ is scipy's τ on that resample
    boot = bootstrap_tau(x, y, num_bootstrap=5, seed=3)
    idx = np.random.default_rng(3).integers(0, 15, size=(5, 15))
    for b, i in zip(boot, idx):
        assert b == pytest.approx(stats.kendalltau(x[i], y[i]).statistic, abs=1e-12)


def test_bootstrap_interval_covers_the_population_tau() -> None:
    """Bivariate normal with correlation ρ has τ = (2/π) arcsin ρ; the 95 % interval from 25
    pairs should cover it in most of 200 replicates (percentile bootstrap: somewhat below 95 %)."""
    rho, n, reps = 0.5, 25, 200
    truth = 2 / math.pi * math.asin(rho)
    rng = np.random.default_rng(7)
    cov = [[1.0, rho], [rho, 1.0]]
    covered = 0
    for k in range(reps):
        xy = rng.multivariate_normal([0.0, 0.0], cov, size=n)
        r = kendall_tau(xy[:, 0], xy[:, 1], num_bootstrap=300, seed=k)
        covered += r.ci_low <= truth <= r.ci_high
    assert 0.85 <= covered / reps <= 0.99


def test_missing_values_are_dropped_and_degenerate_cases_are_nan() -> None:
    r = kendall_tau([1, 2, np.nan, 4, 5], [1, 2, 3, np.inf, 6], num_bootstrap=50)
    assert r.n == 3 and r.tau == pytest.approx(1.0)
    flat = kendall_tau([1, 1, 1], [1, 2, 3], num_bootstrap=50)
    assert math.isnan(flat.tau) and math.isnan(flat.ci_low)
    with pytest.raises(ConfigError):
        kendall_tau([1, 2], [1, 2, 3])
    with pytest.raises(ConfigError):
        kendall_tau([1, 2], [1, 2], confidence=1.5)


def test_rank_correlations_pairs_every_measure_with_every_gap() -> None:
    out = rank_correlations({"a": [1, 2, 3, 4], "b": [4, 3, 2, 1]},
                            {"g": [1, 2, 3, 4], "h": [2, 1, 4, 3]}, num_bootstrap=50)
    assert [(c.measure, c.gap) for c in out] == [("a", "g"), ("a", "h"), ("b", "g"), ("b", "h")]
    assert out[0].tau == pytest.approx(1.0) and out[2].tau == pytest.approx(-1.0)
