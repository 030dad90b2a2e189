"""Kendall τ with a permutation p-value and a BCa interval: against scipy, hand counts, all
permutations, its coverage, and the cases where no interval or p-value should be printed."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from landscape.compare import bootstrap_tau, kendall_tau, rank_correlations, tau_b
from landscape.compare.correlation import StatisticsWarning, min_runs
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
    ref = stats.kendalltau(x, y, method="exact")
    assert r.tau == pytest.approx(ref.statistic)
    # Monte-Carlo permutation p (9999 permutations) against the exact null distribution
    assert abs(r.p_value - ref.pvalue) < 4 * math.sqrt(ref.pvalue * (1 - ref.pvalue) / 9999)
    assert not r.exact and r.num_permutations == 9999
    assert r.ci_low <= r.tau <= r.ci_high and -1 <= r.ci_low < r.ci_high <= 1
    assert (r.measure, r.gap, r.n, r.num_bootstrap) == ("m", "g", 15, 500)
    assert r.interval_method == "BCa" and not r.degenerate and not r.too_few
    # the interval is scipy's BCa bootstrap of τ-b over paired runs, with the first spawned seed
    boot_rng = np.random.default_rng(np.random.SeedSequence(3).spawn(2)[0])
    want = stats.bootstrap((x, y), lambda a, b: stats.kendalltau(a, b).statistic, paired=True,
                           vectorized=False, n_resamples=500, method="BCa",
                           random_state=boot_rng).confidence_interval
    assert (r.ci_low, r.ci_high) == pytest.approx((want.low, want.high), abs=1e-12)
    # every bootstrap τ of the helper is scipy's τ on that resample
    boot = bootstrap_tau(x, y, num_bootstrap=5, seed=3)
    idx = np.random.default_rng(3).integers(0, 15, size=(5, 15))
    for b, i in zip(boot, idx):
        assert b == pytest.approx(stats.kendalltau(x[i], y[i]).statistic, abs=1e-12)


def test_reproducible_from_the_seed() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=12)
    y = x + 2 * rng.normal(size=12)
    a = kendall_tau(x, y, seed=5, num_bootstrap=400)
    assert kendall_tau(x, y, seed=5, num_bootstrap=400) == a
    b = kendall_tau(x, y, seed=6, num_bootstrap=400)
    assert b.tau == a.tau and (b.ci_low, b.ci_high) != (a.ci_low, a.ci_high)
    assert b.p_value != a.p_value  # 12! > 9999: a Monte-Carlo p-value, seeded


@pytest.mark.parametrize(("n", "ties"), [(5, False), (5, True), (6, False), (6, True),
                                         (7, False)])
def test_exact_p_value_against_all_permutations(n: int, ties: bool) -> None:
    """n! ≤ 9999: the p-value is the exact two-sided tail of τ-b over all n! re-pairings."""
    rng = np.random.default_rng(n + 10 * ties)
    x = rng.integers(0, 3, size=n).astype(float) if ties else rng.normal(size=n)
    y = x + rng.normal(size=n)
    if ties:
        y = np.round(y)
    r = kendall_tau(x, y, num_bootstrap=200)
    t = stats.kendalltau(x, y).statistic
    null = np.array([stats.kendalltau(x[list(p)], y).statistic
                     for p in itertools.permutations(range(n))])
    eps = 1e-12
    want = min(1.0, 2 * min(np.mean(null >= t - eps), np.mean(null <= t + eps)))
    assert r.exact and r.num_permutations == math.factorial(n)
    assert r.p_value == pytest.approx(want, rel=1e-12)


def test_four_runs_give_no_p_value_or_interval() -> None:
    """4 perfectly ranked runs: τ = 1, but no test at 5 % can reject with 4 runs (the smallest
    two-sided p is 2/4! = 0.083), so no interval "[1, 1]" is printed beside it."""
    assert min_runs(0.95) == 5 and min_runs(0.99) == 6 and min_runs(0.5) == 3
    with pytest.warns(StatisticsWarning, match=r"4 runs.*below 5 runs.*0\.0833"):
        r = kendall_tau([1, 2, 3, 4], [0.1, 0.2, 0.3, 0.4])
    assert r.tau == 1.0 and r.too_few and r.n == 4
    assert math.isnan(r.p_value) and math.isnan(r.ci_low) and math.isnan(r.ci_high)


def test_perfect_ranking_interval_is_flagged_degenerate() -> None:
    r = kendall_tau(np.arange(7.0), np.arange(7.0) ** 2)
    assert r.tau == 1.0 and (r.ci_low, r.ci_high) == (1.0, 1.0) and r.degenerate
    assert r.exact and r.p_value == pytest.approx(2 / math.factorial(7))
    assert not kendall_tau(np.arange(7.0), [0, 2, 1, 3, 5, 4, 6]).degenerate


@pytest.mark.parametrize("n", [12, 20, 30])
def test_p_value_and_interval_agree(n: int) -> None:
    """Strong association (ρ = 0.9): p < 0.05 and the interval excludes 0, every time. No
    association: whenever p ≥ 0.05 the interval contains 0 (no interval excludes 0 beside a
    non-significant p); the false positives of a 5 % test (2 of these 12 null cases) come with
    an interval containing 0, which ``agrees`` flags: the documented borderline exception."""
    rng = np.random.default_rng(n)
    for rho in (0.0, 0.9):
        for seed in range(4):
            xy = rng.multivariate_normal([0.0, 0.0], [[1.0, rho], [rho, 1.0]], size=n)
            r = kendall_tau(xy[:, 0], xy[:, 1], seed=seed, num_bootstrap=1000)
            excludes = not r.ci_low <= 0 <= r.ci_high
            assert r.agrees == ((r.p_value < 0.05) == excludes)
            if rho > 0:
                assert r.p_value < 0.05 and excludes
            elif r.p_value >= 0.05:
                assert not excludes


def test_borderline_disagreement_is_flagged() -> None:
    """The documented exception: 6 runs, τ = 0.73, exact p = 0.056, yet the BCa interval
    excludes 0. The two procedures differ near the boundary; the result says so."""
    r = kendall_tau([1, 2, 3, 4, 5, 6], [1.0, 2.5, 2.0, 4.0, 6.0, 5.5], num_bootstrap=500)
    assert r.exact and r.p_value == pytest.approx(40 / 720)
    assert r.ci_low > 0 and not r.agrees


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
        r = kendall_tau(xy[:, 0], xy[:, 1], num_bootstrap=300, seed=k, num_permutations=99)
        covered += r.ci_low <= truth <= r.ci_high
    assert 0.85 <= covered / reps <= 0.99


def test_missing_values_are_dropped_and_degenerate_cases_are_nan() -> None:
    with pytest.warns(StatisticsWarning):
        r = kendall_tau([1, 2, np.nan, 4, 5], [1, 2, 3, np.inf, 6], num_bootstrap=50)
    assert r.n == 3 and r.tau == pytest.approx(1.0) and r.too_few
    flat = kendall_tau([1, 1, 1], [1, 2, 3], num_bootstrap=50)
    assert math.isnan(flat.tau) and math.isnan(flat.ci_low)
    with pytest.raises(ConfigError):
        kendall_tau([1, 2], [1, 2, 3])
    with pytest.raises(ConfigError):
        kendall_tau([1, 2], [1, 2], confidence=1.5)


def test_rank_correlations_pairs_every_measure_with_every_gap() -> None:
    out = rank_correlations({"a": [1, 2, 3, 4, 5], "b": [5, 4, 3, 2, 1]},
                            {"g": [1, 2, 3, 4, 5], "h": [2, 1, 4, 3, 5]}, num_bootstrap=50)
    assert [(c.measure, c.gap) for c in out] == [("a", "g"), ("a", "h"), ("b", "g"), ("b", "h")]
    assert out[0].tau == pytest.approx(1.0) and out[2].tau == pytest.approx(-1.0)


def test_one_summary_warning_for_many_pairs() -> None:
    with pytest.warns(StatisticsWarning) as record:
        rank_correlations({"a": [1, 2, 3], "b": [3, 1, 2]}, {"g": [1, 2, 3]})
    assert len(record) == 1
    assert "below 5 runs for 2 pair(s): a/g (3 runs), b/g (3 runs)" in str(record[0].message)
