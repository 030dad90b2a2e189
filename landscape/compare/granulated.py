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
* intervals: a seeded percentile bootstrap over groups. On every resample the groups of each
  axis are drawn with replacement and ψ_i and Ψ recomputed; the paper reports no interval.

Example:
    >>> # the measure follows the gap within each objective, but not across objectives
    >>> gap     = [0.1, 0.2, 0.3, 0.4]
    >>> measure = [3.0, 4.0, 1.0, 2.0]
    >>> r = granulated_kendall(measure, gap, {"objective": ["a", "a", "b", "b"],
    ...                                       "lr": [0.1, 0.2, 0.1, 0.2]}, num_bootstrap=100)
    >>> r.axis("lr").psi, r.axis("objective").psi, r.psi
    (1.0, -1.0, 0.0)
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from landscape.compare.correlation import check_bootstrap, percentile_interval, tau_b
from landscape.errors import ConfigError


@dataclass(frozen=True)
class AxisCorrelation:
    """ψ of one axis: the mean within-group τ-b over the groups where only this axis varies.

    Attributes:
        axis: the hyper-parameter's name. levels: its number of distinct values.
        psi: mean τ-b over the groups with a τ (NaN when none has one).
        ci_low, ci_high: percentile-bootstrap interval over the groups.
        num_groups: groups with a τ. num_skipped: groups without one (see the module notes).
    """

    axis: str
    levels: int
    psi: float
    ci_low: float
    ci_high: float
    num_groups: int
    num_skipped: int


@dataclass(frozen=True)
class GranulatedKendall:
    """Jiang et al.'s granulated Kendall coefficient Ψ of one measure with one gap.

    Attributes:
        measure, gap: the keys it was computed for.
        psi: Ψ, the mean of the axes' ψ (NaN when no axis has a group with a τ).
        ci_low, ci_high: percentile-bootstrap interval of Ψ at ``confidence``.
        axes: one :class:`AxisCorrelation` per axis with more than one level, in input order.
        confidence: the intervals' level. num_bootstrap: resamples. seed: their seed.
        n: runs given.
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


def granulated_kendall(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray,
                       axes: Mapping[str, Sequence[Hashable]], *,
                       strata: Mapping[str, Sequence[Hashable]] | None = None,
                       num_bootstrap: int = 2000, confidence: float = 0.95, seed: int = 0,
                       measure: str = "x", gap: str = "y") -> GranulatedKendall:
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

    Returns:
        :class:`GranulatedKendall`.

    Raises:
        ConfigError: no axis, a key that is both an axis and a stratum, lengths that differ, or
            bad ``num_bootstrap``/``confidence``.
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

    varying = [a for a in axes if len(set(axes[a])) > 1]
    per_axis = {a: group_taus(xa, ya, keys, a) for a in varying}
    rng = np.random.default_rng(seed)
    boot = np.full((int(num_bootstrap), len(varying)), np.nan)
    for j, a in enumerate(varying):
        taus = per_axis[a][0]
        if taus.size:
            boot[:, j] = taus[rng.integers(0, taus.size, (int(num_bootstrap), taus.size))].mean(1)

    results = []
    for j, a in enumerate(varying):
        taus, skipped = per_axis[a]
        psi = float(taus.mean()) if taus.size else math.nan
        low, high = percentile_interval(boot[:, j], confidence)
        results.append(AxisCorrelation(a, len(set(axes[a])), psi, low, high,
                                       num_groups=int(taus.size), num_skipped=skipped))
    defined = [j for j, r in enumerate(results) if r.num_groups]
    psi = float(np.mean([results[j].psi for j in defined])) if defined else math.nan
    low, high = (percentile_interval(boot[:, defined].mean(1), confidence) if defined
                 else (math.nan, math.nan))
    return GranulatedKendall(measure=measure, gap=gap, psi=psi, ci_low=low, ci_high=high,
                             axes=tuple(results), confidence=float(confidence),
                             num_bootstrap=int(num_bootstrap), seed=int(seed), n=int(n))


def granulated_correlations(measures: Mapping[str, Sequence[float] | np.ndarray],
                            gaps: Mapping[str, Sequence[float] | np.ndarray],
                            axes: Mapping[str, Sequence[Hashable]], *,
                            strata: Mapping[str, Sequence[Hashable]] | None = None,
                            num_bootstrap: int = 2000, confidence: float = 0.95,
                            seed: int = 0) -> list[GranulatedKendall]:
    """:func:`granulated_kendall` of every measure with every gap, measures outer; every pair
    uses the same seed."""
    return [granulated_kendall(values, gap_values, axes, strata=strata,
                               num_bootstrap=num_bootstrap, confidence=confidence, seed=seed,
                               measure=key, gap=gap_key)
            for key, values in measures.items() for gap_key, gap_values in gaps.items()]
