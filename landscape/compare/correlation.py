"""Rank correlation between a measure of flatness and the generalisation gap, across runs.

Kendall's τ-b (ties counted as in :func:`scipy.stats.kendalltau`) with two resampling answers
from scipy, both seeded:

* the **p-value** of a permutation test of τ = 0 (:func:`scipy.stats.permutation_test`,
  ``permutation_type="pairings"``: the measure is re-paired with the gaps at random). When
  ``n! ≤ num_permutations`` every permutation is enumerated and the p-value is exact; otherwise
  it is a Monte-Carlo estimate with scipy's conservative ``(b + 1)/(B + 1)`` correction. The
  two-sided p-value is twice the smaller tail.
* the **interval**: a bias-corrected and accelerated (BCa) bootstrap of the runs as pairs
  (:func:`scipy.stats.bootstrap`, ``paired=True``). A resample in which one variable is
  constant carries no rank information; it counts as τ = 0 (conservative, and rare: without
  ties it needs every draw to hit one run, probability ``n^{1-n}``) and the number of such
  resamples is reported.

Where the methods cannot make their claim, the result says so instead of printing numbers:

* **too few runs** (``too_few``): below :func:`min_runs` runs no p-value and no interval are
  computed (NaN) and a :class:`StatisticsWarning` is issued; τ itself is still reported. The
  threshold is the smallest ``n`` with ``2/n! ≤ 1 − confidence``: below it even a perfect
  ranking cannot reach the test's level (4 runs: the smallest two-sided p is 2/4! = 0.083), so
  an interval "excluding 0" there would contradict the test by construction. 5 runs at 95 %.
* **degenerate interval** (``degenerate``): every bootstrap resample gave the same τ (e.g. τ = 1,
  which every resample of a perfectly ranked set reproduces). The interval is then reported as
  the point ``[τ, τ]`` and flagged: it expresses no uncertainty at all, not certainty.
* **disagreement** (``agrees``): BCa and the permutation test are different procedures and can
  disagree near the boundary. In a simulation (``benchmarks/correlation_statistics.py``:
  bivariate normal, ρ ∈ {0, 0.4, 0.7}, n ∈ {5, 6, 8, 10, 15, 25}, 100 replicates each) a
  permutation p < 0.05 came with a BCa interval containing 0 in 0–24 % of the cases (most at
  ρ = 0.7, n = 8–15: BCa is the more conservative), and an interval excluding 0 with p ≥ 0.05
  (the misleading direction) in 0–6 % (6 % at n = 6, ρ = 0.7; ≤ 2 % elsewhere). The interval
  covered the true τ in 90–100 % of the replicates. ``agrees`` is
  ``(p < α) == (0 ∉ interval)`` with ``α = 1 − confidence``; tables mark a disagreement.

Why scipy rather than the vectorised hand-written percentile bootstrap this module had: measured
side by side (``benchmarks/correlation_statistics.py``; 2000 resamples, one thread, a shared
machine, so ratios only), scipy's BCa bootstrap with the vectorised τ statistic below took
0.81×, 0.53× and 0.26× the time of the hand-written one for 10, 40 and 96 runs on a quiet
machine, and 1.6×, 0.45× and 1.6× under heavy load: no consistent speed-up that would justify
hand-written resampling (the bootstrap costs well under a second per pair either way).

Jiang et al. ("Fantastic generalization measures", ICLR 2020) rank measures by this statistic;
with the handful of runs of a demo the intervals are wide, which is the point of showing them.

Example:
    >>> r = kendall_tau([1, 2, 3, 4, 5, 6], [1.0, 2.5, 2.0, 4.0, 6.0, 5.5], num_bootstrap=500)
    >>> round(r.tau, 3), r.n, round(r.p_value, 4), r.exact, r.degenerate
    (0.733, 6, 0.0556, True, False)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from landscape.errors import ConfigError

#: Resamples evaluated per vectorised block (memory ``block × n × n`` float64, times a few).
_BLOCK_BYTES = 64 * 2**20


class StatisticsWarning(UserWarning):
    """Too little data for an interval or a p-value; the result says which is missing and why."""


@dataclass(frozen=True)
class RankCorrelation:
    """Kendall's τ-b of one measure against the gap, with its permutation p-value and interval.

    Attributes:
        measure: the measure's key. gap: the gap's key.
        tau: τ-b on all runs (NaN with fewer than two usable runs or a constant variable).
        p_value: two-sided permutation p-value for τ = 0 (NaN when ``too_few``).
        ci_low, ci_high: the BCa bootstrap interval at ``confidence`` (NaN when ``too_few``;
            ``[τ, τ]`` when ``degenerate``).
        confidence: the interval's level. n: runs used (pairs with both values finite).
        num_bootstrap: resamples drawn. num_degenerate: resamples in which a variable was
            constant (counted as τ = 0).
        seed: the seed of both the bootstrap and the permutations.
        degenerate: every resample gave the same τ: the interval is a point and says nothing.
        too_few: fewer runs than :func:`min_runs`: no p-value and no interval.
        exact: the p-value enumerates all ``n!`` permutations.
        num_permutations: permutations behind the p-value (``n!`` when exact).
        interval_method: ``"BCa"``, ``"percentile"`` (BCa undefined, e.g. a constant
            jackknife), ``"degenerate"`` or ``"none"``.
        agrees: ``(p < 1 − confidence) == (0 ∉ [ci_low, ci_high])``; ``True`` when there is no
            p-value (nothing to disagree with).
    """

    measure: str
    gap: str
    tau: float
    p_value: float
    ci_low: float
    ci_high: float
    confidence: float
    n: int
    num_bootstrap: int
    num_degenerate: int
    seed: int
    degenerate: bool = False
    too_few: bool = False
    exact: bool = False
    num_permutations: int = 0
    interval_method: str = "BCa"
    agrees: bool = True


def _signs(v: np.ndarray) -> np.ndarray:
    return np.sign(v[..., :, None] - v[..., None, :])


def tau_b(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
    """Kendall's τ-b of two equally long samples by sign matrices (NaN when one is constant);
    equals :func:`scipy.stats.kendalltau` ``(x, y).statistic``."""
    sx, sy = _signs(np.asarray(x, dtype=np.float64)), _signs(np.asarray(y, dtype=np.float64))
    den = math.sqrt(float((sx * sx).sum()) * float((sy * sy).sum()))
    return float((sx * sy).sum() / den) if den > 0 else math.nan


def tau_b_along(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """τ-b along ``axis`` of broadcast arrays (scipy's vectorised-statistic convention), with
    ``τ = 0`` where a variable is constant (no rank information), rounded to 12 decimals so that
    equal τs of differently ordered resamples compare equal (BCa counts ties with the observed
    value)."""
    xa = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    ya = np.moveaxis(np.asarray(y, dtype=np.float64), axis, -1)
    xa, ya = np.broadcast_arrays(xa, ya)
    sx, sy = _signs(xa), _signs(ya)
    num = (sx * sy).sum(axis=(-1, -2))
    den = np.sqrt((sx * sx).sum(axis=(-1, -2)) * (sy * sy).sum(axis=(-1, -2)))
    return np.round(np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0), 12)


def bootstrap_tau(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray, *,
                  num_bootstrap: int = 2000, seed: int = 0) -> np.ndarray:
    """τ-b of ``num_bootstrap`` paired resamples (with replacement) of ``(x, y)``, seeded;
    NaN for resamples where a variable is constant (a plain resampling helper; the intervals of
    :func:`kendall_tau` come from :func:`scipy.stats.bootstrap`)."""
    xa, ya = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n = xa.size
    sx, sy = _signs(xa), _signs(ya)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(num_bootstrap, n))
    out = np.empty(num_bootstrap)
    block = max(1, _BLOCK_BYTES // (8 * n * n))
    for start in range(0, num_bootstrap, block):
        ib = idx[start:start + block]
        bx = sx[ib[:, :, None], ib[:, None, :]]
        by = sy[ib[:, :, None], ib[:, None, :]]
        num = (bx * by).sum(axis=(1, 2))
        den = np.sqrt((bx * bx).sum(axis=(1, 2)) * (by * by).sum(axis=(1, 2)))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start:start + block] = np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)
    return out


def check_bootstrap(num_bootstrap: int, confidence: float) -> None:
    """Raise :class:`ConfigError` unless ``num_bootstrap`` is a positive integer and
    ``confidence`` lies in (0, 1)."""
    if isinstance(num_bootstrap, bool) or int(num_bootstrap) != num_bootstrap \
            or num_bootstrap < 1:
        raise ConfigError(f"num_bootstrap must be a positive integer, got {num_bootstrap!r}")
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must lie in (0, 1), got {confidence}")


def percentile_interval(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    """The central ``confidence`` percentile interval of the finite ``samples`` (NaNs when
    there are none)."""
    good = samples[np.isfinite(samples)]
    if not good.size:
        return math.nan, math.nan
    alpha = (1.0 - confidence) / 2
    return float(np.quantile(good, alpha)), float(np.quantile(good, 1 - alpha))


def min_runs(confidence: float = 0.95) -> int:
    """The fewest runs for which :func:`kendall_tau` reports a p-value and an interval: the
    smallest ``n`` with ``2/n! ≤ 1 − confidence`` (5 at 95 %, 6 at 99 %), below which no
    ranking, however perfect, can reach the level of the interval."""
    n = 2
    while 2.0 / math.factorial(n) > 1.0 - confidence:
        n += 1
    return n


def _batch(n: int) -> int:
    return max(1, _BLOCK_BYTES // (32 * n * n))


def bca_interval(data: tuple[np.ndarray, ...], statistic: object, *, paired: bool,
                 num_bootstrap: int, confidence: float, rng: np.random.Generator,
                 batch: int | None = None) -> tuple[float, float, str, np.ndarray]:
    """BCa interval of a vectorised ``statistic`` by :func:`scipy.stats.bootstrap`.

    Returns ``(low, high, method, bootstrap distribution)``; ``method`` is ``"BCa"``,
    ``"percentile"`` when the BCa correction is undefined (scipy returns NaN, e.g. when every
    resample gives one value or the jackknife is constant), or ``"degenerate"`` when the interval
    is a single point (then ``low == high``).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        res = stats.bootstrap(data, statistic, paired=paired, vectorized=True,  # type: ignore[arg-type]
                              n_resamples=int(num_bootstrap), confidence_level=confidence,
                              method="BCa", random_state=rng, batch=batch)
    dist = np.asarray(res.bootstrap_distribution, dtype=np.float64)
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    how = "BCa"
    if not (math.isfinite(lo) and math.isfinite(hi)):
        (lo, hi), how = percentile_interval(dist, confidence), "percentile"
    if hi - lo <= 1e-12 * max(1.0, abs(lo), abs(hi)):  # a point: e.g. every resample gave τ = 1
        return lo, lo, "degenerate", dist
    return lo, hi, how, dist


def _permutation_p(x: np.ndarray, y: np.ndarray, num_permutations: int,
                   rng: np.random.Generator) -> tuple[float, bool, int]:
    n = x.size
    exact = math.factorial(n) <= num_permutations
    res = stats.permutation_test((x,), lambda a, axis=-1: tau_b_along(a, y, axis=axis),
                                 permutation_type="pairings", vectorized=True,
                                 n_resamples=int(num_permutations), random_state=rng,
                                 batch=_batch(n))
    used = math.factorial(n) if exact else int(num_permutations)
    return float(res.pvalue), exact, used


def kendall_tau(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray, *,
                num_bootstrap: int = 2000, confidence: float = 0.95, seed: int = 0,
                measure: str = "x", gap: str = "y", num_permutations: int = 9999
                ) -> RankCorrelation:
    """Kendall's τ-b of ``x`` against ``y`` with a permutation p-value and a BCa interval.

    Pairs where either value is NaN or infinite are left out (e.g. a width that was not bracketed).

    Args:
        x, y: one value per run each (same length).
        num_bootstrap: bootstrap resamples of the runs. Default 2000 (Efron & Tibshirani's
            advice for percentile-type intervals is ≥ 1000).
        confidence: level of the interval; ``1 − confidence`` is also the level at which
            ``agrees`` compares the p-value. Default 0.95.
        seed: seed of the resampling (the interval and a Monte-Carlo p-value are deterministic
            functions of it).
        measure, gap: names recorded in the result.
        num_permutations: random permutations for the p-value; when ``n! ≤ num_permutations``
            (``n ≤ 7`` by default) all ``n!`` are enumerated instead. Default 9999 (scipy's).

    Returns:
        :class:`RankCorrelation`; with fewer than :func:`min_runs` runs it has ``too_few`` set,
        NaN p-value and interval, and a :class:`StatisticsWarning` is issued.

    Raises:
        ConfigError: different lengths, or bad ``num_bootstrap``/``confidence``/
            ``num_permutations``.
    """
    xa, ya = np.asarray(x, dtype=np.float64).ravel(), np.asarray(y, dtype=np.float64).ravel()
    if xa.size != ya.size:
        raise ConfigError(f"x and y must have the same length, got {xa.size} and {ya.size}")
    check_bootstrap(num_bootstrap, confidence)
    check_bootstrap(num_permutations, 0.5)
    ok = np.isfinite(xa) & np.isfinite(ya)
    xa, ya = xa[ok], ya[ok]
    n = int(xa.size)
    nan = math.nan
    tau = tau_b(xa, ya) if n >= 2 else nan
    base = dict(measure=measure, gap=gap, tau=tau, confidence=float(confidence), n=n,
                num_bootstrap=int(num_bootstrap), seed=int(seed))
    if not math.isfinite(tau):
        return RankCorrelation(**base, p_value=nan, ci_low=nan, ci_high=nan,  # type: ignore[arg-type]
                               num_degenerate=int(num_bootstrap), interval_method="none")
    need = min_runs(confidence)
    if n < need:
        warnings.warn(f"Kendall τ of {measure} with {gap} from {n} runs: no p-value or "
                      f"interval below {need} runs (the smallest two-sided p-value with {n} "
                      f"runs is 2/{n}! = {2 / math.factorial(n):.3g})", StatisticsWarning,
                      stacklevel=2)
        return RankCorrelation(**base, p_value=nan, ci_low=nan, ci_high=nan,  # type: ignore[arg-type]
                               num_degenerate=0, too_few=True, interval_method="none")
    boot_rng, perm_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    constant = [0]

    def statistic(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
        if a.shape[axis] == n:  # a resample (the jackknife's leave-one-out samples have n − 1)
            constant[0] += int(((np.ptp(a, axis=axis) == 0) | (np.ptp(b, axis=axis) == 0)).sum())
        return tau_b_along(a, b, axis=axis)

    lo, hi, how, _ = bca_interval((xa, ya), statistic, paired=True,
                                  num_bootstrap=num_bootstrap, confidence=confidence,
                                  rng=boot_rng, batch=_batch(n))
    p, exact, used = _permutation_p(xa, ya, num_permutations, perm_rng)
    agrees = (p < 1 - confidence) == (not lo <= 0 <= hi)
    return RankCorrelation(**base, p_value=p, ci_low=lo, ci_high=hi,  # type: ignore[arg-type]
                           num_degenerate=constant[0], degenerate=how == "degenerate",
                           exact=exact, num_permutations=used, interval_method=how,
                           agrees=bool(agrees))


def rank_correlations(measures: Mapping[str, Sequence[float] | np.ndarray],
                      gaps: Mapping[str, Sequence[float] | np.ndarray], *,
                      num_bootstrap: int = 2000, confidence: float = 0.95,
                      seed: int = 0, num_permutations: int = 9999) -> list[RankCorrelation]:
    """Kendall's τ of every measure against every gap (:func:`kendall_tau`), measures outer.

    Args:
        measures: measure key → one value per run.
        gaps: gap key → one value per run (same run order).
        num_bootstrap, confidence, seed, num_permutations: as for :func:`kendall_tau`; every
            pair uses the same seed, so the intervals resample the same runs.

    Returns:
        One :class:`RankCorrelation` per (measure, gap), in the mappings' order.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", StatisticsWarning)
        out = [kendall_tau(values, gap_values, num_bootstrap=num_bootstrap,
                           confidence=confidence, seed=seed, measure=key, gap=gap_key,
                           num_permutations=num_permutations)
               for key, values in measures.items() for gap_key, gap_values in gaps.items()]
    reissue(caught, [f"{c.measure}/{c.gap} ({c.n} runs)" for c in out if c.too_few],
            f"no p-value or interval below {min_runs(confidence)} runs for")
    return out


def reissue(caught: list[warnings.WarningMessage], what: list[str], summary: str) -> None:
    """Re-issue the warnings ``caught`` from a loop over pairs: other categories unchanged,
    the :class:`StatisticsWarning` s as one summary naming the pairs ``what``."""
    for w in caught:
        if not issubclass(w.category, StatisticsWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if what:
        warnings.warn(f"{summary} {len(what)} pair(s): {', '.join(what)}", StatisticsWarning,
                      stacklevel=3)
