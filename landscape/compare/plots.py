"""Figures comparing the minima of several objectives: one figure per measure.

Every figure draws all objectives side by side in the same fixed colour per objective
(:func:`objective_color`, keyed by the objective's registry name, so "ce" is the same blue in every
figure of every study) and one marker or line style per seed. Confidence bands or bars are drawn
wherever the measure has an interval. Each function takes the
:class:`~landscape.compare.MinimumMeasures` of the runs (any order), saves the figure to
``out`` when given (PNG/PDF by extension; :func:`landscape.plot.save`, which closes it) and
returns the figure.

This module holds the figures of the scalar measures (:func:`plot_measure`,
:func:`plot_measure_by_condition`, :func:`plot_local_entropy`) and re-exports the others, so that
every figure is importable from here: the curves (training, local energy, spectra) are in
:mod:`landscape.compare.plots_curves`, the rank correlations in
:mod:`landscape.compare.plots_correlation`, and the shared colours, markers and saving in
:mod:`landscape.compare.plots_style`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, NullFormatter

from landscape.compare import registry
from landscape.compare.minimum import MinimumMeasures
from landscape.compare.plots_correlation import plot_correlations, plot_granulated
from landscape.compare.plots_curves import plot_local_energy, plot_spectra, plot_training
from landscape.compare.plots_style import (
    _LINES,
    _MARKERS,
    OBJECTIVE_COLORS,
    OBJECTIVE_LABELS,
    PathLike,
    _finish,
    _legend_handles,
    _objectives,
    _seed_styles,
    objective_color,
    objective_label,
)
from landscape.compare.protocol import Scalar as ScalarMeasure
from landscape.errors import ConfigError
from landscape.plot._style import plt


# -------------------------------------------------------------------------- scalar measures
def measure_interval(r: MinimumMeasures, key: str) -> tuple[float, float] | None:
    """The (low, high) interval of scalar ``key`` of ``r`` when its measure gives one (see
    :meth:`MinimumMeasures.intervals`); ``None`` for the others."""
    return r.intervals().get(key)


def _yerr(value: float, interval: tuple[float, float] | None) -> np.ndarray | None:
    if interval is None or not all(math.isfinite(v) for v in interval):
        return None
    return np.array([[max(value - interval[0], 0.0)], [max(interval[1] - value, 0.0)]])


def _by_objective(ax: Axes, results: Sequence[MinimumMeasures], key: str, *,
                  objectives: Sequence[str] | None = None,
                  seeds: dict[int, int] | None = None) -> None:
    objectives = list(objectives) if objectives is not None else _objectives(results)
    seeds = seeds if seeds is not None else _seed_styles(results)
    offsets = np.linspace(-0.15, 0.15, max(len(seeds), 1)) if len(seeds) > 1 else [0.0]
    for r in results:
        x = objectives.index(r.objective) + offsets[seeds[r.seed]]
        v = r.scalars()[key]
        if not math.isfinite(v):  # e.g. a width that was not bracketed: say so, do not hide it
            ax.text(x, 0.02, "n/a", ha="center", va="bottom", fontsize=7,
                    color=objective_color(r.objective), transform=ax.get_xaxis_transform())
            continue
        ax.errorbar(x, v, yerr=_yerr(v, measure_interval(r, key)), fmt=_MARKERS[seeds[r.seed]],
                    color=objective_color(r.objective), ms=6, capsize=3, lw=1.2)
    ax.set_xticks(range(len(objectives)))
    # wrapped names side by side; upright (rotated) only when many objectives share the axis
    many = len(objectives) > 4
    ax.set_xticklabels([_wrap(objective_label(o), 11) for o in objectives],
                       rotation=90 if many else 0, fontsize=7)
    ax.set_xlim(-0.6, len(objectives) - 0.4)
    ax.set_xlabel("objective")


def _vs_gap(ax: Axes, results: Sequence[MinimumMeasures], key: str, gap: ScalarMeasure, *,
            seeds: dict[int, int] | None = None, xlabel: str | None = None) -> None:
    seeds = seeds if seeds is not None else _seed_styles(results)
    for r in results:
        s = r.scalars()
        if not (math.isfinite(s[key]) and math.isfinite(s[gap.key])):
            continue
        ax.errorbar(s[gap.key], s[key], yerr=_yerr(s[key], measure_interval(r, key)),
                    fmt=_MARKERS[seeds[r.seed]], color=objective_color(r.objective), ms=6,
                    capsize=3, lw=1.2)
    ax.set_xlabel(xlabel or f"generalisation gap: {gap.description}")
    ax.xaxis.set_major_locator(MaxNLocator(4))  # gap ticks like −0.010 need room


def _set_scale(axes: Sequence[Axes], values: np.ndarray) -> str:
    """A log y scale when the values span more than a decade (symmetric log around zero when
    some are not positive, linear within the smallest magnitude); returns what the axis label
    should say about it (``""`` for a linear axis)."""
    v = values[np.isfinite(values)]
    mags = np.abs(v[v != 0])
    if not mags.size or mags.max() / mags.min() <= 10:
        return ""
    if (v > 0).all():
        for ax in axes:
            ax.set_yscale("log")
        return "log scale"
    # the decade above the smallest magnitude: values near zero stay in the linear part
    lin = 10.0 ** math.ceil(math.log10(max(mags.min(), 1e-3 * mags.max())))
    for ax in axes:
        ax.set_yscale("symlog", linthresh=lin)
        # symlog autoscaling can end the axis right at the largest value: keep a margin
        lo, hi = ax.get_ylim()
        top = 3.0 * v.max() if v.max() > 0 else hi
        bottom = 3.0 * v.min() if v.min() < 0 else -lin
        ax.set_ylim(min(lo, bottom), max(hi, top))
    return f"symmetric-log scale, linear within ±{lin:g}"


def _with_scale(label: str, scale: str) -> str:
    return f"{label} [{scale}]" if scale else label


def auto_log_scale(axes: Sequence[Axes], values: Sequence[float] | np.ndarray) -> str:
    """Put the y axes on a log scale when ``values`` span more than a decade (symmetric log,
    linear within the smallest magnitude's decade, when some are not positive), the rule
    every figure here applies to measures marked ``log``; returns the scale's name for the
    axis label (``""`` when linear)."""
    return _set_scale(axes, np.asarray(values, dtype=np.float64))


def _setting(key: str, results: Sequence[MinimumMeasures]) -> str:
    """The settings behind a scalar measure, for titles (its measure's caption)."""
    m = registry.owner(key)
    settings = results[0].settings.get(m.name)
    return m.caption(settings) if m.caption is not None and settings is not None else ""


def _no_interval(results: Sequence[MinimumMeasures], key: str) -> str:
    """A caption's note when no run has an interval for ``key``."""
    if any(measure_interval(r, key) is not None for r in results):
        return ""
    return "; one value per run, no interval"


def plot_measure(results: Sequence[MinimumMeasures], key: str, *, out: PathLike = None,
                 ylabel: str | None = None) -> Figure:
    """One scalar measure (a key of :func:`~landscape.compare.registry.scalars`): by
    objective (left; seeds side by side, with the measure's interval where it has one) and
    against the error gap (right). A log scale is used when the values span decades, and the
    axis label says so. A measure in each objective's own units (``Scalar.own_units``: a loss
    increase, a Hessian eigenvalue) gets one panel per objective instead, each with its own y
    axis, the measure against the error gap: values of different objectives are never put on
    one axis."""
    m = registry.scalar(key)
    objectives = _objectives(results)
    if m.own_units and len(objectives) > 1:
        fig = _per_objective(results, m, ylabel)
    else:
        fig, (ax_obj, ax_gap) = plt.subplots(1, 2, figsize=(11, 4.3), sharey=True,
                                             gridspec_kw={"width_ratios": [1.3, 1]})
        _by_objective(ax_obj, results, key)
        _vs_gap(ax_gap, results, key, registry.scalar("error_gap"))
        scale = _set_scale([ax_obj, ax_gap], np.array([r.scalars()[key] for r in results])) \
            if m.log else ""
        ax_obj.set_ylabel(_wrap(_with_scale(ylabel or m.axis_label, scale), 36))
        ax_obj.set_title("by objective")
        ax_gap.set_title("against the generalisation gap")
        ax_gap.legend(handles=_legend_handles(objectives, _seed_styles(results), lines=False),
                      fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
        for ax in (ax_obj, ax_gap):
            ax.grid(alpha=0.3, which="both")
    fig.suptitle(_wrap(f"{m.label} of the minima ({_setting(key, results)}; {m.flatter} = "
                       f"flatter{_no_interval(results, key)})", int(9 * fig.get_figwidth())))
    fig.tight_layout()
    return _finish(fig, out)


def _per_objective(results: Sequence[MinimumMeasures], m: ScalarMeasure,
                   ylabel: str | None) -> Figure:
    """One panel per objective: the measure against the error gap, own y axis each."""
    objectives = _objectives(results)
    seeds = _seed_styles(results)
    gap = registry.scalar("error_gap")
    n = len(objectives)
    fig, axes = plt.subplots(1, n, figsize=(3.0 * n + 1.4, 4.0), squeeze=False)
    for ax, obj in zip(axes[0], objectives):
        rs = [r for r in results if r.objective == obj]
        _vs_gap(ax, rs, m.key, gap, seeds=seeds, xlabel=_wrap(gap.axis_label, 30))
        scale = _set_scale([ax], np.array([r.scalars()[m.key] for r in rs])) if m.log else ""
        label = ylabel or m.axis_label if ax is axes[0, 0] else m.label
        ax.set_ylabel(_wrap(_with_scale(label, scale), 40))
        ax.set_title(objective_label(obj), color=objective_color(obj), fontsize=10)
        ax.grid(alpha=0.3, which="both")
        ax.tick_params(axis="x", labelsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(3))  # gap ticks like −0.0175 in a narrow panel
    axes[0, -1].legend(handles=_legend_handles([], seeds, lines=False), fontsize=8,
                       loc="upper left", bbox_to_anchor=(1.02, 1.0),
                       title="each objective's own units")
    return fig


def plot_measure_by_condition(groups: Mapping[str, Sequence[MinimumMeasures]], key: str, *,
                              out: PathLike = None, ylabel: str | None = None,
                              title: str | None = None) -> Figure:
    """One scalar measure by objective under several conditions, one panel per condition.

    ``groups`` maps a condition's label (e.g. ``"clean labels"``, ``"40% label noise"``) to the
    results measured under it. Every panel lists the objectives in the same order (of first
    appearance over all groups; an objective missing from a condition leaves its slot empty),
    in the fixed colour per objective, seeds side by side with the measure's interval where it
    has one; the panels share the y axis (a log or symmetric-log scale when the values span
    decades and the measure is marked ``log``). ``key`` is a key of
    :func:`~landscape.compare.registry.scalars` or of
    the gaps.
    """
    info = {s.key: s for s in registry.scalars()}
    if key not in info:
        raise ConfigError(f"unknown measure {key!r}; choose one of {sorted(info)}")
    if not groups or not any(groups.values()):
        raise ConfigError("plot_measure_by_condition needs at least one non-empty group")
    m = info[key]
    everything = [r for rs in groups.values() for r in rs]
    objectives = _objectives(everything)
    seeds = _seed_styles(everything)
    n = len(groups)
    width = max(3.2, 0.7 * len(objectives) + 1.2)
    fig, axes = plt.subplots(1, n, figsize=(width * n + 2.2, 4.6), squeeze=False, sharey=True)
    for ax, (label, rs) in zip(axes[0], groups.items()):
        _by_objective(ax, rs, key, objectives=objectives, seeds=seeds)
        ax.set_title(label)
        ax.grid(alpha=0.3, which="both")
        if m.signed:
            ax.axhline(0.0, color="0.6", lw=0.8)
    values = np.array([r.scalars()[key] for r in everything])
    scale = _set_scale(list(axes[0]), values) if m.log else ""
    axes[0, 0].set_ylabel(_wrap(_with_scale(ylabel or m.axis_label, scale), 36))
    axes[0, -1].legend(handles=_legend_handles(objectives, seeds, lines=False), fontsize=8,
                       loc="upper left", bbox_to_anchor=(1.02, 1.0))
    setting = _setting(key, everything)
    flatter = f"{m.flatter} = flatter" if m.flatter is not None else \
        "lower = generalises better"
    fig.suptitle(_wrap(title or f"{m.label} of the minima by objective"
                       f"{f' ({setting}; {flatter})' if setting else f' ({flatter})'}",
                       int(9 * fig.get_figwidth())))
    fig.tight_layout()
    return _finish(fig, out)


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width, break_long_words=False,
                                    break_on_hyphens=False))


def _tex_number(x: float) -> str:
    """``x`` for mathtext: ``10^{4}`` for 1e4, ``2.5\\times10^{4}`` for 2.5e4, ``0.5``."""
    if x == 0 or 1e-3 <= abs(x) < 1e4:
        return f"{x:.3g}"
    exp = math.floor(math.log10(abs(x)))
    mant = x / 10.0 ** exp
    head = "" if abs(mant - 1) < 1e-9 else f"{mant:.3g}\\times"
    return f"{head}10^{{{exp}}}"


def plot_local_entropy(results: Sequence[MinimumMeasures], *, out: PathLike = None) -> Figure:
    """Local entropy: ΔΦ(γ) against the coupling γ for every run with its confidence band
    (left), ΔΦ at the smallest γ by objective (middle) and against the error gap (right)."""
    seeds = _seed_styles(results)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4), gridspec_kw={"width_ratios": [1, 1, 1]})
    for r in results:
        e = r.local_entropy
        lo, hi = e.phi_excess_ci(0.95)
        c = objective_color(r.objective)
        axes[0].plot(e.gammas, e.phi_excess, ls=_LINES[seeds[r.seed] % len(_LINES)],
                     marker=_MARKERS[seeds[r.seed]], ms=4, color=c)
        axes[0].fill_between(e.gammas, lo, hi, color=c, alpha=0.15, lw=0)
    axes[0].set(xscale="log", xlabel=r"coupling $\gamma$ (window width $\propto\gamma^{-1/2}$), "
                "log scale", ylabel=r"$\Delta\Phi(\gamma) = \Phi - \Phi_{flat}$ (nats; 0 = flat)",
                title="local entropy against γ (95% bands)")
    axes[0].axhline(0.0, color="0.6", lw=0.8)
    axes[0].xaxis.set_minor_formatter(NullFormatter())  # minor labels crowd a short range
    _by_objective(axes[1], results, "local_entropy")
    gmin = min(float(r.local_entropy.gammas[0]) for r in results)
    at = rf"$\Delta\Phi$ at $\gamma = {_tex_number(gmin)}$ (nats)"
    axes[1].set(ylabel=at, title="by objective (95% CI over chains)")
    _vs_gap(axes[2], results, "local_entropy", registry.scalar("error_gap"))
    axes[2].set(ylabel=at, title="against the generalisation gap")
    for ax in axes:
        ax.grid(alpha=0.3, which="both")
    axes[2].legend(handles=_legend_handles(_objectives(results), seeds, lines=True,
                                           markers=True),
                   fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    c = results[0].config
    fig.suptitle(f"local entropy of the minima by SGLD ({c.entropy_chains} chains, "
                 f"{c.entropy_burn_in} + {c.entropy_steps} steps per γ, η = "
                 f"{c.entropy_step_size:g}; higher = flatter)")
    fig.tight_layout()
    return _finish(fig, out)


__all__ = [
    "OBJECTIVE_COLORS",
    "OBJECTIVE_LABELS",
    "auto_log_scale",
    "measure_interval",
    "objective_color",
    "objective_label",
    "plot_correlations",
    "plot_granulated",
    "plot_local_energy",
    "plot_local_entropy",
    "plot_measure",
    "plot_measure_by_condition",
    "plot_spectra",
    "plot_training",
]
