"""Rank correlation between a measure of flatness and the generalisation gap, across runs.

Kendall's τ-b (ties counted as in :func:`scipy.stats.kendalltau`, whose value and p-value are
reported) with a seeded percentile-bootstrap confidence interval: runs are resampled with
replacement, as pairs, and τ-b is recomputed on every resample (vectorised: for ``n`` runs, the
sign matrices ``S_x[i, j] = sign(x_i − x_j)`` and ``S_y`` of a resample are those of the original
indexed by the resampled indices, and ``τ_b = ΣS_x S_y / √(ΣS_x² ΣS_y²)``, which counts a pair tied
in one variable in that variable's normaliser only, exactly as τ-b does). Resamples where one
variable is constant have no τ and are dropped (their number is reported).

Jiang et al. ("Fantastic generalization measures", ICLR 2020) rank measures by exactly this
statistic; with the handful of runs of a demo the intervals are wide, which is the point of
showing them.

Example:
    >>> r = kendall_tau([1, 2, 3, 4, 5], [1.0, 2.5, 2.0, 4.0, 6.0], num_bootstrap=200)
    >>> round(r.tau, 3), r.n
    (0.8, 5)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from landscape.errors import ConfigError

#: Resamples evaluated per vectorised block (memory ``block × n × n`` float64).
_BLOCK_BYTES = 64 * 2**20


@dataclass(frozen=True)
class RankCorrelation:
    """Kendall's τ-b of one measure against the gap, with its bootstrap interval.

    Attributes:
        measure: the measure's key. gap: the gap's key.
        tau: τ-b on all runs (:func:`scipy.stats.kendalltau`; NaN with fewer than two usable
            runs or a constant variable).
        p_value: scipy's two-sided p-value for τ = 0.
        ci_low, ci_high: the percentile-bootstrap interval at ``confidence``.
        confidence: the interval's level. n: runs used (pairs with both values finite).
        num_bootstrap: resamples drawn. num_degenerate: resamples dropped (a constant variable).
        seed: the bootstrap's seed.
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


def _signs(v: np.ndarray) -> np.ndarray:
    return np.sign(v[:, None] - v[None, :])


def tau_b(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
    """Kendall's τ-b of two equally long samples by sign matrices (NaN when one is constant);
    equals :func:`scipy.stats.kendalltau` ``(x, y).statistic``."""
    sx, sy = _signs(np.asarray(x, dtype=np.float64)), _signs(np.asarray(y, dtype=np.float64))
    den = math.sqrt(float((sx * sx).sum()) * float((sy * sy).sum()))
    return float((sx * sy).sum() / den) if den > 0 else math.nan


def bootstrap_tau(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray, *,
                  num_bootstrap: int = 2000, seed: int = 0) -> np.ndarray:
    """τ-b of ``num_bootstrap`` paired resamples (with replacement) of ``(x, y)``, seeded;
    NaN for resamples where a variable is constant."""
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


def kendall_tau(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray, *,
                num_bootstrap: int = 2000, confidence: float = 0.95, seed: int = 0,
                measure: str = "x", gap: str = "y") -> RankCorrelation:
    """Kendall's τ-b of ``x`` against ``y`` with a percentile-bootstrap interval.

    Pairs where either value is NaN or infinite are left out (e.g. a width that was not bracketed).

    Args:
        x, y: one value per run each (same length).
        num_bootstrap: resamples of the runs. Default 2000.
        confidence: level of the interval. Default 0.95.
        seed: seed of the resampling (the interval is a deterministic function of it).
        measure, gap: names recorded in the result.

    Returns:
        :class:`RankCorrelation`.

    Raises:
        ConfigError: different lengths, or bad ``num_bootstrap``/``confidence``.
    """
    xa, ya = np.asarray(x, dtype=np.float64).ravel(), np.asarray(y, dtype=np.float64).ravel()
    if xa.size != ya.size:
        raise ConfigError(f"x and y must have the same length, got {xa.size} and {ya.size}")
    check_bootstrap(num_bootstrap, confidence)
    ok = np.isfinite(xa) & np.isfinite(ya)
    xa, ya = xa[ok], ya[ok]
    n = int(xa.size)
    nan = math.nan
    if n < 2 or np.ptp(xa) == 0 or np.ptp(ya) == 0:
        return RankCorrelation(measure, gap, nan, nan, nan, nan, float(confidence), n,
                               int(num_bootstrap), int(num_bootstrap), int(seed))
    res = stats.kendalltau(xa, ya)
    boot = bootstrap_tau(xa, ya, num_bootstrap=int(num_bootstrap), seed=seed)
    good = boot[np.isfinite(boot)]
    lo, hi = percentile_interval(boot, confidence)
    return RankCorrelation(measure=measure, gap=gap, tau=float(res.statistic),
                           p_value=float(res.pvalue), ci_low=lo, ci_high=hi,
                           confidence=float(confidence), n=n, num_bootstrap=int(num_bootstrap),
                           num_degenerate=int(boot.size - good.size), seed=int(seed))


def rank_correlations(measures: Mapping[str, Sequence[float] | np.ndarray],
                      gaps: Mapping[str, Sequence[float] | np.ndarray], *,
                      num_bootstrap: int = 2000, confidence: float = 0.95,
                      seed: int = 0) -> list[RankCorrelation]:
    """Kendall's τ of every measure against every gap (:func:`kendall_tau`), measures outer.

    Args:
        measures: measure key → one value per run.
        gaps: gap key → one value per run (same run order).
        num_bootstrap, confidence, seed: as for :func:`kendall_tau`; every pair uses the same
            seed, so the intervals resample the same runs.

    Returns:
        One :class:`RankCorrelation` per (measure, gap), in the mappings' order.
    """
    return [kendall_tau(values, gap_values, num_bootstrap=num_bootstrap, confidence=confidence,
                        seed=seed, measure=key, gap=gap_key)
            for key, values in measures.items() for gap_key, gap_values in gaps.items()]
