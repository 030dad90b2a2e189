"""Granulated Kendall Ψ against a brute-force oracle: scipy's τ-b in enumerated groups."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
from scipy import stats

from landscape.compare import granulated_correlations, granulated_kendall, kendall_tau
from landscape.compare.correlation import StatisticsWarning
from landscape.compare.granulated import MIN_GROUPS
from landscape.errors import ConfigError

LEVELS = {"objective": ("ce", "mse", "hinge"), "batch_size": (32, 256), "lr": (0.01, 0.05)}
SEEDS = (0, 1)


def _grid(rng: np.random.Generator) -> tuple[dict[str, list], list[int], np.ndarray, np.ndarray]:
    """A full grid objective × batch × lr × seed with tied and missing values."""
    rows = list(itertools.product(*LEVELS.values(), SEEDS))
    rng.shuffle(rows)  # run order must not matter
    axes = {k: [r[i] for r in rows] for i, k in enumerate(LEVELS)}
    seeds = [r[-1] for r in rows]
    x = np.round(rng.normal(size=len(rows)), 1)  # ties
    y = np.round(rng.normal(size=len(rows)), 1)
    x[3] = np.nan
    return axes, seeds, x, y


def _oracle(axes: dict[str, list], seeds: list[int], x: np.ndarray, y: np.ndarray
            ) -> dict[str, tuple[float, int, int]]:
    """ψ per axis by enumerating every setting of the other axes and the seed."""
    out = {}
    for axis in LEVELS:
        others = [k for k in LEVELS if k != axis]
        taus, skipped = [], 0
        for setting in itertools.product(*(LEVELS[k] for k in others), SEEDS):
            rows = [r for r in range(len(x))
                    if all(axes[k][r] == v for k, v in zip(others, setting))
                    and seeds[r] == setting[-1]]
            assert len(rows) == len(LEVELS[axis])
            gx, gy = x[rows], y[rows]
            ok = np.isfinite(gx) & np.isfinite(gy)
            if ok.sum() < 2 or np.ptp(gx[ok]) == 0 or np.ptp(gy[ok]) == 0:
                skipped += 1
                continue
            taus.append(stats.kendalltau(gx[ok], gy[ok]).statistic)
        out[axis] = (float(np.mean(taus)), len(taus), skipped)
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_enumerated_groups(seed: int) -> None:
    axes, seeds, x, y = _grid(np.random.default_rng(seed))
    r = granulated_kendall(x, y, axes, strata={"seed": seeds}, num_bootstrap=300, min_groups=3)
    want = _oracle(axes, seeds, x, y)
    assert [a.axis for a in r.axes] == list(LEVELS)
    for a in r.axes:
        psi, groups, skipped = want[a.axis]
        assert a.psi == pytest.approx(psi, abs=1e-12)
        assert (a.num_groups, a.num_skipped, a.levels) == (groups, skipped,
                                                            len(LEVELS[a.axis]))
        assert a.ci_low <= a.psi <= a.ci_high and not a.too_few
    assert r.psi == pytest.approx(np.mean([w[0] for w in want.values()]), abs=1e-12)
    assert r.ci_low <= r.psi <= r.ci_high and r.n == len(x)


def test_intervals_are_scipys_bca_over_groups() -> None:
    """ψ's interval is scipy's BCa bootstrap of the mean group τ, Ψ's the multi-sample BCa of
    the mean of the axes' means (groups resampled per axis), from the spawned seeds."""
    axes, seeds, x, y = _grid(np.random.default_rng(4))
    r = granulated_kendall(x, y, axes, strata={"seed": seeds}, num_bootstrap=400, seed=2,
                           min_groups=3)
    want = _oracle_taus(axes, seeds, x, y)
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(2).spawn(4)]
    for j, a in enumerate(r.axes):
        ci = stats.bootstrap((want[a.axis],), lambda t, axis=-1: np.round(np.mean(t, axis), 12),
                             n_resamples=400, method="BCa",
                             random_state=rngs[j]).confidence_interval
        assert (a.ci_low, a.ci_high) == pytest.approx((ci.low, ci.high), abs=1e-12)
    ci = stats.bootstrap(tuple(want[a] for a in LEVELS),
                         lambda *t, axis=-1: np.round(np.mean([np.mean(v, axis)
                                                               for v in t], 0), 12),
                         n_resamples=400, method="BCa",
                         random_state=rngs[3]).confidence_interval
    assert (r.ci_low, r.ci_high) == pytest.approx((ci.low, ci.high), abs=1e-12)


def _oracle_taus(axes: dict[str, list], seeds: list[int], x: np.ndarray, y: np.ndarray
                 ) -> dict[str, np.ndarray]:
    """The defined within-group τs of every axis, in order of each group's first run."""
    out = {}
    for axis in LEVELS:
        others = [k for k in LEVELS if k != axis]
        firsts: dict[tuple, list[int]] = {}
        for run in range(len(x)):
            firsts.setdefault((*(axes[k][run] for k in others), seeds[run]), []).append(run)
        taus = []
        for rows in firsts.values():
            gx, gy = x[rows], y[rows]
            ok = np.isfinite(gx) & np.isfinite(gy)
            if ok.sum() >= 2 and np.ptp(gx[ok]) > 0 and np.ptp(gy[ok]) > 0:
                taus.append(stats.kendalltau(gx[ok], gy[ok]).statistic)
        out[axis] = np.array(taus)
    return out


def test_one_group_gives_no_interval() -> None:
    """Ψ from one group per axis: −1.00 is reported, an interval [−1.00, −1.00] is not."""
    with pytest.warns(StatisticsWarning, match=r"lr \(1\)"):
        r = granulated_kendall([3.0, 2.0, 1.0], [0.1, 0.2, 0.3], {"lr": [1, 2, 3]})
    a = r.axis("lr")
    assert a.psi == -1.0 and a.num_groups == 1 and a.too_few and r.too_few
    assert math.isnan(a.ci_low) and math.isnan(r.ci_low) and math.isnan(r.ci_high)
    assert r.psi == -1.0 and not r.degenerate and r.min_groups == MIN_GROUPS


def test_threshold_is_per_axis_and_degenerate_intervals_are_flagged() -> None:
    # 10 groups (objectives) in which the measure reverses the gap's order over 3 learning
    # rates: ψ_lr = −1 in every group, so every resample gives −1
    obj = [o for o in "abcdefghij" for _ in range(3)]
    lr = [1, 2, 3] * 10
    gap = np.array([g + 0.1 * k for g in range(10) for k in range(3)])
    measure = -gap + np.repeat(np.arange(10) * 10.0, 3)
    with pytest.warns(StatisticsWarning, match=r"objective \(3\)"):
        r = granulated_kendall(measure, gap, {"objective": obj, "lr": lr})
    a = r.axis("lr")
    assert a.num_groups == 10 and not a.too_few and a.degenerate
    assert (a.psi, a.ci_low, a.ci_high) == (-1.0, -1.0, -1.0)
    assert r.axis("objective").too_few and r.too_few and math.isnan(r.ci_low)
    r1 = granulated_kendall(measure, gap, {"objective": obj, "lr": lr}, min_groups=3)
    assert not r1.too_few and r1.axis("objective").degenerate and r1.degenerate


def test_simpson_paradox_is_what_it_is_for() -> None:
    # within each objective the flatter-by-measure run has the larger gap, across objectives
    # the opposite: τ over all runs is positive, every within-objective τ is -1
    obj = ["a"] * 3 + ["b"] * 3 + ["c"] * 3
    lr = [0.01, 0.02, 0.03] * 3
    gap = np.array([0.1, 0.2, 0.3, 1.1, 1.2, 1.3, 2.1, 2.2, 2.3])
    measure = np.array([3.0, 2.0, 1.0, 13.0, 12.0, 11.0, 23.0, 22.0, 21.0])
    assert kendall_tau(measure, gap).tau == pytest.approx(0.5)  # (27 - 9) / 36 pairs
    r = granulated_kendall(measure, gap, {"objective": obj, "lr": lr}, num_bootstrap=200,
                           min_groups=3)
    assert r.axis("lr").psi == -1.0 and r.axis("lr").num_groups == 3
    assert r.axis("objective").psi == 1.0
    assert r.psi == 0.0
    assert (r.axis("lr").ci_low, r.axis("lr").ci_high) == (-1.0, -1.0)  # every group agrees
    assert r.axis("lr").degenerate and r.degenerate


def test_invariant_under_monotone_maps_and_seeded() -> None:
    axes, seeds, x, y = _grid(np.random.default_rng(5))
    a = granulated_kendall(x, y, axes, strata={"seed": seeds}, seed=3, min_groups=3)
    b = granulated_kendall(np.exp(3 * x), y ** 3, axes, strata={"seed": seeds}, seed=3,
                           min_groups=3)
    assert a == dataclasses.replace(b, measure=a.measure, gap=a.gap)
    assert granulated_kendall(x, y, axes, strata={"seed": seeds}, seed=3, min_groups=3) == a
    c = granulated_kendall(x, y, axes, strata={"seed": seeds}, seed=4, min_groups=3)
    assert c.psi == a.psi and (c.ci_low, c.ci_high) != (a.ci_low, a.ci_high)


def test_strata_separate_replicates() -> None:
    axes, seeds, x, y = _grid(np.random.default_rng(7))
    with_seed = granulated_kendall(x, y, axes, strata={"seed": seeds}, num_bootstrap=50,
                                   min_groups=3)
    with pytest.warns(StatisticsWarning, match="fewer than 10 groups"):
        merged = granulated_kendall(x, y, axes, num_bootstrap=50)
    # without the stratum, the two seeds of a setting share a group: half as many, twice as big
    assert with_seed.axis("lr").num_groups + with_seed.axis("lr").num_skipped == 12
    assert merged.axis("lr").num_groups + merged.axis("lr").num_skipped == 6
    assert merged.axis("lr").psi != with_seed.axis("lr").psi


def test_single_level_axis_constant_groups_and_bad_input() -> None:
    gap = [0.1, 0.2, 0.3, 0.4]
    measure = [1.0, 1.0, 2.0, 3.0]  # constant within the first lr group
    with pytest.warns(StatisticsWarning, match=r"lr \(1\), bs \(2\)"):
        r = granulated_kendall(measure, gap, {"model": ["mlp"] * 4, "lr": [1, 2, 1, 2],
                                              "bs": [1, 1, 2, 2]}, num_bootstrap=50)
    assert [a.axis for a in r.axes] == ["lr", "bs"]  # "model" has one level
    assert (r.axis("lr").num_groups, r.axis("lr").num_skipped) == (1, 1)
    with pytest.raises(KeyError, match="model"):
        r.axis("model")
    nothing = granulated_kendall([1.0, 1.0], [0.1, 0.2], {"lr": [1, 2]}, num_bootstrap=10)
    assert not nothing.too_few  # no group at all: nothing to warn about
    assert math.isnan(nothing.psi) and math.isnan(nothing.ci_low)
    with pytest.raises(ConfigError, match="at least one axis"):
        granulated_kendall(measure, gap, {})
    with pytest.raises(ConfigError, match="3 values for 4 runs"):
        granulated_kendall(measure, gap, {"lr": [1, 2, 1]})
    with pytest.raises(ConfigError, match="both axis and stratum"):
        granulated_kendall(measure, gap, {"lr": [1, 2, 1, 2]}, strata={"lr": [0] * 4})
    with pytest.raises(ConfigError, match="same length"):
        granulated_kendall(measure, gap[:3], {"lr": [1, 2, 1, 2]})
    with pytest.raises(ConfigError, match="num_bootstrap"):
        granulated_kendall(measure, gap, {"lr": [1, 2, 1, 2]}, num_bootstrap=0)


def test_granulated_correlations_order() -> None:
    axes, seeds, x, y = _grid(np.random.default_rng(9))
    out = granulated_correlations({"m1": x, "m2": -x}, {"g1": y, "g2": 2 * y}, axes,
                                  strata={"seed": seeds}, num_bootstrap=50, min_groups=3)
    assert [(r.measure, r.gap) for r in out] == [("m1", "g1"), ("m1", "g2"), ("m2", "g1"),
                                                 ("m2", "g2")]
    assert out[0].psi == out[1].psi == -out[2].psi


def test_one_summary_warning_for_many_pairs() -> None:
    with pytest.warns(StatisticsWarning) as record:
        granulated_correlations({"m1": [1.0, 2.0, 3.0], "m2": [3.0, 1.0, 2.0]},
                                {"g": [0.1, 0.2, 0.3]}, {"lr": [1, 2, 3]})
    assert len(record) == 1
    assert "lr (1)" in str(record[0].message) and "m1/g, m2/g" in str(record[0].message)
