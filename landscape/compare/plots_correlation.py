"""Figures of the rank correlations of the measures with the generalisation gap (see
:mod:`landscape.compare.plots`): Kendall τ per measure (:func:`plot_correlations`) and Jiang et
al.'s granulated Ψ with its per-axis ψ (:func:`plot_granulated`), with bootstrap intervals.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from landscape.compare import registry
from landscape.compare.correlation import RankCorrelation
from landscape.compare.granulated import GranulatedKendall
from landscape.compare.plots_style import PathLike, _finish
from landscape.compare.protocol import Scalar as ScalarMeasure
from landscape.errors import ConfigError
from landscape.plot._style import plt


# ------------------------------------------------------------------------------- correlations
def _mark_degenerate(ax: Axes, value: float, y: float, degenerate: bool, color: str) -> None:
    """Mark a point interval (every resample gave the same value): a hollow ring around the
    point and the words "point interval", so that it does not read as certainty."""
    if not degenerate:
        return
    ax.plot(value, y, "o", ms=12, mfc="none", mec=color, mew=1.0)
    ax.annotate(f"[{value:.2g}, {value:.2g}]: point interval", (value, y),
                xytext=(-12 if value > 0 else 12, 0), textcoords="offset points",
                ha="right" if value > 0 else "left", va="center", fontsize=7, color=color)


def _measure_tick(m: ScalarMeasure | None, key: str, symbol: str) -> str:
    """A measure's axis label with the sign of ``symbol`` that "flat generalises" predicts."""
    if m is None:
        return key
    expected = "> 0" if m.flatter == "lower" else "< 0"
    return f"{m.label} ({m.flatter} = flatter)\nflat generalises ⇒ {symbol} {expected}"


def plot_correlations(correlations: Sequence[RankCorrelation], *, out: PathLike = None
                      ) -> Figure:
    """Kendall τ of every measure with the gap(s), with bootstrap intervals as error bars; the
    sign that "flatter minima generalise better" predicts is marked per measure."""
    measures = {m.key: m for m in registry.scalars(flatness=True)}
    gap_info = {g.key: g for g in registry.scalars(flatness=False)}
    keys = list(dict.fromkeys(c.measure for c in correlations))
    gaps = list(dict.fromkeys(c.gap for c in correlations))
    fig, ax = plt.subplots(figsize=(8, 0.55 * len(keys) + 1.8))
    offsets = np.linspace(-0.15, 0.15, len(gaps)) if len(gaps) > 1 else [0.0]
    colors = ("#222222", "#999999", "#4477aa")
    for j, gap in enumerate(gaps):
        for c in (c for c in correlations if c.gap == gap):
            y = keys.index(c.measure) + offsets[j]
            if not math.isfinite(c.tau):
                continue
            xerr = None
            if math.isfinite(c.ci_low) and math.isfinite(c.ci_high):
                xerr = np.array([[max(c.tau - c.ci_low, 0.0)], [max(c.ci_high - c.tau, 0.0)]])
            color = colors[j % len(colors)]
            ax.errorbar(c.tau, y, xerr=xerr, fmt="o", color=color, capsize=3,
                        label=gap_info[gap].label if gap in gap_info else gap)
            _mark_degenerate(ax, c.tau, y, getattr(c, "degenerate", False), color)
    ax.set_yticks(range(len(keys)))
    ax.set_yticklabels([_measure_tick(measures.get(k), k, "τ") for k in keys], fontsize=8)
    ax.set_ylabel("measure")
    ax.invert_yaxis()
    ax.axvline(0.0, color="0.5", lw=0.8)
    ax.set_xlim(-1.05, 1.05)
    n = max((c.n for c in correlations), default=0)
    level = 100 * correlations[0].confidence if correlations else 95
    ax.set_xlabel(f"Kendall τ with the generalisation gap ({level:.0f}% bootstrap CI, "
                  f"{n} runs)")
    handles, names = ax.get_legend_handles_labels()
    unique = dict(zip(names, handles))
    ax.legend(unique.values(), unique.keys(), fontsize=8, loc="upper left",
              bbox_to_anchor=(1.02, 1.0), title="gap")
    ax.grid(alpha=0.3, axis="x")
    ax.set_title("rank correlation of each measure with the generalisation gap")
    fig.tight_layout()
    return _finish(fig, out)


#: Colours of the hyper-parameter axes in :func:`plot_granulated` (Ψ itself is black).
_AXIS_COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")


def plot_granulated(results: Sequence[GranulatedKendall], *, out: PathLike = None,
                    axis_labels: Mapping[str, str] | None = None) -> Figure:
    """Jiang et al.'s granulated Kendall Ψ of every measure (black) and the ψ of each
    hyper-parameter axis (coloured), with bootstrap intervals over groups; one gap.

    Args:
        results: :func:`~landscape.compare.granulated.granulated_kendall` results of one gap.
        out: where to save the figure. axis_labels: readable names of the axes.
    """
    gaps = {r.gap for r in results}
    if len(gaps) > 1:
        raise ConfigError(f"plot_granulated draws one gap at a time, got {sorted(gaps)}")
    names = dict(axis_labels or {})
    measures = {m.key: m for m in registry.scalars(flatness=True)}
    keys = list(dict.fromkeys(r.measure for r in results))
    axes = list(dict.fromkeys(a.axis for r in results for a in r.axes))
    series = [("Ψ (mean over the axes)", None)] + [(names.get(a, a), a) for a in axes]
    offsets = np.linspace(-0.25, 0.25, len(series)) if len(series) > 1 else [0.0]
    fig, ax = plt.subplots(figsize=(8, 0.75 * len(keys) + 1.8))
    for j, (label, axis) in enumerate(series):
        color = "#222222" if axis is None else _AXIS_COLORS[(j - 1) % len(_AXIS_COLORS)]
        for r in results:
            if axis is None:
                value, low, high = r.psi, r.ci_low, r.ci_high
            else:
                a = next((a for a in r.axes if a.axis == axis), None)
                if a is None:
                    continue
                value, low, high = a.psi, a.ci_low, a.ci_high
            if not math.isfinite(value):
                continue
            xerr = None
            if math.isfinite(low) and math.isfinite(high):
                xerr = np.array([[max(value - low, 0.0)], [max(high - value, 0.0)]])
            y = keys.index(r.measure) + offsets[j]
            ax.errorbar(value, y, xerr=xerr,
                        fmt="D" if axis is None else "o", ms=6 if axis is None else 4.5,
                        color=color, capsize=3,
                        label=label if axis is None else f"ψ: only the {label} varies")
            degenerate = r.degenerate if axis is None else a.degenerate
            _mark_degenerate(ax, value, y, degenerate, color)
    ax.set_yticks(range(len(keys)))
    ax.set_yticklabels([_measure_tick(measures.get(k), k, "Ψ") for k in keys], fontsize=8)
    ax.set_ylabel("measure")
    ax.invert_yaxis()
    ax.axvline(0.0, color="0.5", lw=0.8)
    ax.set_xlim(-1.05, 1.05)
    level = 100 * results[0].confidence if results else 95
    gap = next(iter(gaps), "")
    gap_label = {g.key: g.label for g in registry.scalars(flatness=False)}.get(gap, gap)
    ax.set_xlabel(f"mean Kendall τ with the {gap_label} within groups where one "
                  f"hyper-parameter varies\n({level:.0f}% bootstrap CI over groups)")
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    ax.legend(unique.values(), unique.keys(), fontsize=8, loc="upper left",
              bbox_to_anchor=(1.02, 1.0))
    ax.grid(alpha=0.3, axis="x")
    runs = max((r.n for r in results), default=0)
    ax.set_title(f"granulated rank correlation with the gap (Jiang et al. 2020), {runs} runs")
    fig.tight_layout()
    return _finish(fig, out)
