"""Granulated Kendall coefficient: does a measure rank the gap when one hyper-parameter changes?

A rank correlation over all the runs of a grid mixes effects. Across objectives × batch sizes ×
learning rates, a loss-based measure can rank the gap only because objectives differ in their
units, and the gap because they differ in how much they overfit. Jiang et al. ("Fantastic
generalization measures and where to find them", ICLR 2020, §4) therefore correlate within the
sets of runs in which a single hyper-parameter varies, and average:

.. math::

    \\psi_i = \\frac{1}{|G_i|} \\sum_{g \\in G_i} \\tau_b\\big(m|_g, \\mathrm{gap}|_g\\big),
    \\qquad \\Psi = \\frac{1}{n} \\sum_{i=1}^{n} \\psi_i,

where :math:`G_i` are the groups of runs that share the value of every other hyper-parameter
(axis) and of every *stratum* (a key such as the seed that defines groups but is not itself an
axis: a grid trained with 3 seeds is 3 replicate grids), and :math:`\\tau_b` is Kendall's τ-b
within the group (:func:`landscape.compare.correlation.tau_b`). ψ_i says whether the measure
ranks the gap when hyper-parameter *i* changes and nothing else does; Ψ averages over the axes.

Conventions (ours, where the paper is silent):

* an axis with a single level is not an axis (it has no groups) and is left out of Ψ;
* a group whose τ is undefined (fewer than two runs with finite values, or a constant measure
  or gap) is skipped and counted in :attr:`AxisCorrelation.num_skipped`;
* intervals: a seeded BCa bootstrap over groups (:func:`scipy.stats.bootstrap`, the same method
  as :func:`~landscape.compare.correlation.kendall_tau`'s interval): on every resample the
  groups of each axis are drawn with replacement, independently per axis, and ψ_i and Ψ
  recomputed; the paper reports no interval.
* too few groups: an axis with fewer than ``min_groups`` groups (default :data:`MIN_GROUPS` = 10)
  gets no interval (NaN, ``too_few``), and Ψ gets none unless every axis it averages has enough;
  a :class:`~landscape.compare.correlation.StatisticsWarning` says so. ψ and Ψ themselves are
  still reported. Why 10: a bootstrap over k groups only sees the spread of k numbers. With one
  group the "interval" is the point [τ, τ]; in a simulation (``benchmarks/
  correlation_statistics.py``: groups of 3 runs, τ from a bivariate normal with ρ ∈ {0, 0.6},
  200 replicates) the nominal 95 % BCa interval of ψ covered the true mean within-group τ in
  50–55 % of replicates with 2 groups, 73–78 % with 3, 76–88 % with 4, 78–86 % with 5,
  81–84 % with 6, 83–85 % with 8 and 93 % with 10 groups, the first count that came near its
  level.
* degenerate intervals: when every group of an axis has the same τ (e.g. all −1), every
  resample reproduces it and the interval is a point; it is reported as ``[ψ, ψ]`` with
  ``degenerate`` set, which tables and figures mark: it expresses no uncertainty, not certainty.

Example:
    >>> # the measure follows the gap within each objective, but not across objectives
    >>> gap     = [0.1, 0.2, 0.3, 0.4]
    >>> measure = [3.0, 4.0, 1.0, 2.0]
    >>> r = granulated_kendall(measure, gap, {"objective": ["a", "a", "b", "b"],
    ...                                       "lr": [0.1, 0.2, 0.1, 0.2]}, num_bootstrap=100,
    ...                        min_groups=1)
    >>> r.axis("lr").psi, r.axis("objective").psi, r.psi
    (1.0, -1.0, 0.0)
    >>> r.axis("lr").ci_low, r.axis("lr").ci_high, r.axis("lr").degenerate
    (1.0, 1.0, True)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from landscape.compare.correlation import (
    StatisticsWarning,
    bca_interval,
    check_bootstrap,
    reissue,
    tau_b,
)
from landscape.errors import ConfigError

#: Fewest groups for an interval of ψ (and, on every axis it averages, of Ψ); see the module notes.
MIN_GROUPS = 10


@dataclass(frozen=True)
class AxisCorrelation:
    """ψ of one axis: the mean within-group τ-b over the groups where only this axis varies.

    Attributes:
        axis: the hyper-parameter's name. levels: its number of distinct values.
        psi: mean τ-b over the groups with a τ (NaN when none has one).
        ci_low, ci_high: BCa bootstrap interval over the groups (NaN when ``too_few``,
            ``[ψ, ψ]`` when ``degenerate``).
        num_groups: groups with a τ. num_skipped: groups without one (see the module notes).
        degenerate: the interval is a point (every group has the same τ).
        too_few: fewer than ``min_groups`` groups: no interval.
    """

    axis: str
    levels: int
    psi: float
    ci_low: float
    ci_high: float
    num_groups: int
    num_skipped: int
    degenerate: bool = False
    too_few: bool = False


@dataclass(frozen=True)
class GranulatedKendall:
    """Jiang et al.'s granulated Kendall coefficient Ψ of one measure with one gap.

    Attributes:
        measure, gap: the keys it was computed for.
        psi: Ψ, the mean of the axes' ψ (NaN when no axis has a group with a τ).
        ci_low, ci_high: BCa bootstrap interval of Ψ at ``confidence`` (NaN when ``too_few``,
            ``[Ψ, Ψ]`` when ``degenerate``).
        axes: one :class:`AxisCorrelation` per axis with more than one level, in input order.
        confidence: the intervals' level. num_bootstrap: resamples. seed: their seed.
        n: runs given.
        degenerate: Ψ's interval is a point (every resample gives the same Ψ).
        too_few: some axis that Ψ averages has fewer than ``min_groups`` groups: no interval.
        min_groups: the threshold used.
    """

    measure: str
    gap: str
    psi: float
    ci_low: float
    ci_high: float
    axes: tuple[AxisCorrelation, ...]
    confidence: float
    num_bootstrap: int
    seed: int
    n: int
    degenerate: bool = False
    too_few: bool = False
    min_groups: int = MIN_GROUPS

    def axis(self, name: str) -> AxisCorrelation:
        """The :class:`AxisCorrelation` of axis ``name``."""
        for a in self.axes:
            if a.axis == name:
                return a
        raise KeyError(f"no axis {name!r}; axes with more than one level: "
                       f"{[a.axis for a in self.axes]}")


def group_taus(x: np.ndarray, y: np.ndarray, keys: Mapping[str, Sequence[Hashable]], axis: str
               ) -> tuple[np.ndarray, int]:
    """τ-b of ``x`` and ``y`` within every group of runs sharing all ``keys`` except ``axis``;
    returns the defined τs (in order of each group's first run) and the number of groups skipped.
    """
    others = [k for k in keys if k != axis]
    groups: dict[tuple[Hashable, ...], list[int]] = {}
    for run in range(len(x)):
        groups.setdefault(tuple(keys[k][run] for k in others), []).append(run)
    taus, skipped = [], 0
    for members in groups.values():
        gx, gy = x[members], y[members]
        ok = np.isfinite(gx) & np.isfinite(gy)
        t = tau_b(gx[ok], gy[ok]) if ok.sum() >= 2 else math.nan
        if math.isfinite(t):
            taus.append(t)
        else:
            skipped += 1
    return np.asarray(taus, dtype=np.float64), skipped


def _mean_of_means(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
    """Ψ of resampled group τs: the mean over axes of each axis's mean (vectorised), rounded to
    12 decimals so that a resample equal to the observed value compares equal whatever the
    order of summation (BCa's bias correction counts those ties; group τs take few values)."""
    return np.round(np.mean([np.mean(t, axis=axis) for t in samples], axis=0), 12)


def _interval(samples: tuple[np.ndarray, ...], num_bootstrap: int, confidence: float,
              rng: np.random.Generator) -> tuple[float, float, bool]:
    """BCa interval of the mean of means of ``samples`` (groups resampled per sample) and
    whether it is degenerate (a point)."""
    if all(np.ptp(t) == 0 for t in samples):  # every resample is the observed value
        v = float(_mean_of_means(*samples))
        return v, v, True
    lo, hi, how, _ = bca_interval(samples, _mean_of_means, paired=False,
                                  num_bootstrap=num_bootstrap, confidence=confidence, rng=rng)
    return lo, hi, how == "degenerate"


def granulated_kendall(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray,
                       axes: Mapping[str, Sequence[Hashable]], *,
                       strata: Mapping[str, Sequence[Hashable]] | None = None,
                       num_bootstrap: int = 2000, confidence: float = 0.95, seed: int = 0,
                       measure: str = "x", gap: str = "y",
                       min_groups: int = MIN_GROUPS) -> GranulatedKendall:
    """Granulated Kendall coefficient Ψ of ``x`` (a measure) with ``y`` (the gap).

    Args:
        x, y: one value per run each. Non-finite values leave their run out of its group.
        axes: hyper-parameter name → its value for every run (e.g. ``{"objective": [...],
            "batch_size": [...], "lr": [...]}``).
        strata: keys that define groups without being axes (e.g. ``{"seed": [...]}``): runs that
            differ in a stratum are never compared. Without one, replicate runs of one setting
            fall into the same group.
        num_bootstrap: resamples of the groups. Default 2000 (as :func:`kendall_tau`).
        confidence: level of the intervals. Default 0.95.
        seed: the bootstrap's seed.
        measure, gap: names recorded in the result.
        min_groups: fewest groups for an interval (default :data:`MIN_GROUPS`; see the module
            notes for why). Lowering it is an explicit choice to accept intervals that cover
            less often than their level says.

    Returns:
        :class:`GranulatedKendall`. A :class:`~landscape.compare.correlation.StatisticsWarning`
        is issued when some interval is withheld for too few groups.

    Raises:
        ConfigError: no axis, a key that is both an axis and a stratum, lengths that differ, or
            bad ``num_bootstrap``/``confidence``/``min_groups``.
    """
    xa, ya = np.asarray(x, dtype=np.float64).ravel(), np.asarray(y, dtype=np.float64).ravel()
    strata = dict(strata or {})
    n = xa.size
    if ya.size != n:
        raise ConfigError(f"x and y must have the same length, got {n} and {ya.size}")
    if not axes:
        raise ConfigError("granulated_kendall needs at least one axis (hyper-parameter)")
    if set(axes) & set(strata):
        raise ConfigError(f"keys both axis and stratum: {sorted(set(axes) & set(strata))}")
    keys = {**axes, **strata}
    for name, values in keys.items():
        if len(values) != n:
            raise ConfigError(f"{name!r} has {len(values)} values for {n} runs")
    check_bootstrap(num_bootstrap, confidence)
    check_bootstrap(min_groups, 0.5)

    varying = [a for a in axes if len(set(axes[a])) > 1]
    per_axis = {a: group_taus(xa, ya, keys, a) for a in varying}
    rngs = [np.random.default_rng(s)
            for s in np.random.SeedSequence(seed).spawn(len(varying) + 1)]
    results, nan = [], math.nan
    for j, a in enumerate(varying):
        taus, skipped = per_axis[a]
        k = int(taus.size)
        psi = float(taus.mean()) if k else nan
        low, high, degenerate = nan, nan, False
        if k >= min_groups:
            low, high, degenerate = _interval((taus,), num_bootstrap, confidence, rngs[j])
        results.append(AxisCorrelation(a, len(set(axes[a])), psi, low, high, num_groups=k,
                                       num_skipped=skipped, degenerate=degenerate,
                                       too_few=0 < k < min_groups))
    defined = [r for r in results if r.num_groups]
    psi = float(np.mean([r.psi for r in defined])) if defined else nan
    too_few = any(r.too_few for r in defined)
    low, high, degenerate = nan, nan, False
    if defined and not too_few:
        low, high, degenerate = _interval(tuple(per_axis[r.axis][0] for r in defined),
                                          num_bootstrap, confidence, rngs[-1])
    short = [f"{r.axis} ({r.num_groups})" for r in defined if r.too_few]
    if short:
        warnings.warn(f"granulated Kendall of {measure} with {gap}: no interval for the axes "
                      f"with fewer than {min_groups} groups: {', '.join(short)}; nor for Ψ",
                      StatisticsWarning, stacklevel=2)
    return GranulatedKendall(measure=measure, gap=gap, psi=psi, ci_low=low, ci_high=high,
                             axes=tuple(results), confidence=float(confidence),
                             num_bootstrap=int(num_bootstrap), seed=int(seed), n=int(n),
                             degenerate=degenerate, too_few=too_few,
                             min_groups=int(min_groups))


def granulated_correlations(measures: Mapping[str, Sequence[float] | np.ndarray],
                            gaps: Mapping[str, Sequence[float] | np.ndarray],
                            axes: Mapping[str, Sequence[Hashable]], *,
                            strata: Mapping[str, Sequence[Hashable]] | None = None,
                            num_bootstrap: int = 2000, confidence: float = 0.95,
                            seed: int = 0, min_groups: int = MIN_GROUPS
                            ) -> list[GranulatedKendall]:
    """:func:`granulated_kendall` of every measure with every gap, measures outer; every pair
    uses the same seed."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", StatisticsWarning)
        out = [granulated_kendall(values, gap_values, axes, strata=strata,
                                  num_bootstrap=num_bootstrap, confidence=confidence,
                                  seed=seed, measure=key, gap=gap_key, min_groups=min_groups)
               for key, values in measures.items() for gap_key, gap_values in gaps.items()]
    short = sorted({f"{a.axis} ({a.num_groups})" for r in out for a in r.axes if a.too_few})
    reissue(caught, [f"{r.measure}/{r.gap}" for r in out if r.too_few],
            f"no interval for axes with fewer than {min_groups} groups ({', '.join(short)}), "
            "nor for their Ψ, in")
    return out
