"""Figures comparing the minima of several objectives: one figure per measure.

Every figure draws all objectives side by side in the same fixed colour per objective
(:func:`objective_color`, keyed by the objective's registry name, so "ce" is the same blue in every
figure of every study) and one marker or line style per seed. Confidence bands or bars are drawn
wherever the measure has an interval. Each function takes the
:class:`~landscape.compare.measures.MinimumMeasures` of the runs (any order), saves the figure to
``out`` when given (PNG/PDF by extension; :func:`landscape.plot.save`, which closes it) and
returns the figure.
"""

from __future__ import annotations

import math
import os
import zlib
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from landscape.compare.correlation import RankCorrelation
from landscape.compare.granulated import GranulatedKendall
from landscape.compare.measures import GAPS, SCALAR_MEASURES, MinimumMeasures, ScalarMeasure
from landscape.errors import ConfigError
from landscape.plot._style import plt, save

PathLike = str | os.PathLike[str] | None

#: Fixed colours per objective (Okabe–Ito, then matplotlib's tab10): the same in every figure.
OBJECTIVE_COLORS: dict[str, str] = {
    "ce": "#0072B2", "cross-entropy": "#0072B2", "mse": "#D55E00", "hinge_cs": "#009E73",
    "hinge_ww": "#56B4E9", "label_smoothing": "#CC79A7", "gce": "#E69F00", "sce": "#7f3c8d",
    "gce_truncated": "#8c564b", "imae": "#bcbd22", "focal": "#17becf", "perceptron": "#7f7f7f",
    "mse_rescaled": "#e377c2", "sam": "#1f3b73", "asam": "#2ca02c", "logit_adjusted": "#9467bd",
    "gcl": "#d62728", "hsic": "#000000", "hsic_bottleneck": "#000000", "ldce_approx": "#aec7e8",
}
#: Readable names of the objectives (registry name when missing).
OBJECTIVE_LABELS: dict[str, str] = {
    "ce": "cross-entropy", "mse": "MSE", "hinge_cs": "hinge (Crammer–Singer)",
    "hinge_ww": "hinge (Weston–Watkins)", "label_smoothing": "label smoothing",
    "gce": "GCE", "sce": "SCE", "gce_truncated": "truncated GCE", "imae": "IMAE",
    "focal": "focal", "perceptron": "perceptron", "mse_rescaled": "rescaled MSE",
    "sam": "SAM", "asam": "ASAM", "logit_adjusted": "logit-adjusted CE", "gcl": "GCL",
}
_FALLBACK = plt.get_cmap("tab20").colors
_MARKERS = ("o", "s", "^", "D", "v", "P")
_LINES = ("-", "--", ":", "-.")


def objective_color(name: str) -> str | tuple[float, ...]:
    """The fixed colour of objective ``name`` (a stable hash into tab20 for unlisted names)."""
    if name in OBJECTIVE_COLORS:
        return OBJECTIVE_COLORS[name]
    return _FALLBACK[zlib.crc32(name.encode()) % len(_FALLBACK)]


def objective_label(name: str) -> str:
    """A readable name of objective ``name``."""
    return OBJECTIVE_LABELS.get(name, name)


def _objectives(results: Sequence[MinimumMeasures]) -> list[str]:
    """Objectives in order of first appearance."""
    return list(dict.fromkeys(r.objective for r in results))


def _seed_styles(results: Sequence[MinimumMeasures]) -> dict[int, int]:
    return {s: i for i, s in enumerate(sorted({r.seed for r in results}))}


def _finish(fig: Figure, out: PathLike) -> Figure:
    if out is not None:
        save(fig, out)
    return fig


def _legend_handles(objectives: Sequence[str], seeds: dict[int, int], *, lines: bool
                    ) -> list[Line2D]:
    handles = [Line2D([], [], color=objective_color(o), lw=2 if lines else 0, marker=None
                      if lines else "o", label=objective_label(o)) for o in objectives]
    handles += [Line2D([], [], color="0.3", ls=_LINES[i % len(_LINES)] if lines else "none",
                       marker=None if lines else _MARKERS[i % len(_MARKERS)],
                       label=f"seed {s}") for s, i in seeds.items()]
    return handles


# ------------------------------------------------------------------------------ training curves
def plot_training(path: str | os.PathLike[str], runs: Sequence[str], *, out: PathLike = None,
                  title: str | None = None) -> Figure:
    """Training loss, training error and test error against epoch for stored runs, coloured by
    objective, one line style per seed (loss in each objective's own units; errors on a log
    scale, floored at 1e-3 so that a zero error stays visible)."""
    from landscape.store import read_history, run_attrs

    floor = 1e-3
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    infos = [(r, run_attrs(path, r)) for r in runs]
    objectives = list(dict.fromkeys(str(a.get("objective", "?")) for _, a in infos))
    seeds = {s: i for i, s in enumerate(sorted({int(a.get("seed", 0)) for _, a in infos}))}
    for run, attrs in infos:
        h = read_history(path, run)
        obj, seed = str(attrs.get("objective", "?")), int(attrs.get("seed", 0))
        style = {"color": objective_color(obj), "ls": _LINES[seeds[seed] % len(_LINES)],
                 "lw": 1.4}
        axes[0].plot(h["epoch"], h["train_loss"], **style)
        axes[1].plot(h["epoch"], np.maximum(1 - h["train_acc"], floor), **style)
        axes[2].plot(h["epoch"], np.maximum(1 - h["test_acc"], floor), **style)
    axes[0].set(ylabel="training loss (each objective's own units)", yscale="log",
                title="training loss")
    axes[1].set(ylabel=f"training error = 1 − accuracy (floor {floor:g})", yscale="log",
                title="training error")
    axes[2].set(ylabel=f"test error = 1 − accuracy (floor {floor:g})", yscale="log",
                title="test error")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3, which="both")
    axes[2].legend(handles=_legend_handles(objectives, seeds, lines=True), fontsize=8,
                   loc="upper left", bbox_to_anchor=(1.02, 1.0))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _finish(fig, out)


# ------------------------------------------------------------------------------- local energy
def plot_local_energy(results: Sequence[MinimumMeasures], *, out: PathLike = None,
                      z: float = 1.96) -> Figure:
    """Local-energy curves δE(σ), one column per objective: the training error (top row, one
    shared scale) and the training loss (bottom row, each objective's own units), every seed
    with its band ``± z·stderr`` over the noise draws (95 % for the default ``z``)."""
    objectives = _objectives(results)
    seeds = _seed_styles(results)
    n = len(objectives)
    fig, axes = plt.subplots(2, n, figsize=(2.9 * n + 0.8, 6.2), squeeze=False, sharex=True)
    for col in range(1, n):  # the error is on one scale; the losses are not (own y axes)
        axes[0, col].sharey(axes[0, 0])
    for col, obj in enumerate(objectives):
        for r in (r for r in results if r.objective == obj):
            le = r.local_energy
            order = np.argsort(le.sigmas)
            sig = le.sigmas[order]
            ls = _LINES[seeds[r.seed] % len(_LINES)]
            for row, (delta, se) in enumerate(((le.error_delta, le.error_stderr),
                                               (le.delta, le.stderr))):
                d, band = delta[order], z * np.nan_to_num(se[order], nan=0.0)
                ax = axes[row, col]
                ax.plot(sig, d, ls=ls, marker=".", ms=4, color=objective_color(obj),
                        label=f"seed {r.seed}")
                ax.fill_between(sig, d - band, d + band, color=objective_color(obj), alpha=0.2,
                                lw=0)
        axes[0, col].set_title(objective_label(obj), color=objective_color(obj), fontsize=10)
        axes[1, col].set_xlabel("σ (multiplicative weight noise)")
        for row in range(2):
            axes[row, col].axhline(0.0, color="0.6", lw=0.8)
            axes[row, col].grid(alpha=0.3)
    axes[0, 0].set_ylabel("δ training error (fraction)")
    axes[1, 0].set_ylabel("δ training loss (objective units)")
    axes[0, 0].legend(fontsize=8, loc="upper left")
    fig.suptitle(f"local energy: mean increase under weight noise, {100 * _level(z):.0f}% bands "
                 "(lower = flatter)")
    fig.tight_layout()
    return _finish(fig, out)


def _level(z: float) -> float:
    return math.erf(z / math.sqrt(2.0))


# -------------------------------------------------------------------------- scalar measures
def measure_interval(r: MinimumMeasures, key: str) -> tuple[float, float] | None:
    """The (low, high) interval of scalar measure ``key`` of ``r`` when it has one: the width's
    confidence interval, the local entropy's over chains, ±1.96 standard errors of the trace and
    of the local energy at σ*; ``None`` for the others."""
    s = r.scalars()[key]
    if key == "width":
        return r.width.ci_low, r.width.ci_high
    if key == "local_entropy":
        lo, hi = r.local_entropy.phi_excess_ci(r.config.confidence)
        return float(lo[0]), float(hi[0])
    if key == "trace" and r.spectrum.trace is not None:
        half = 1.96 * float(r.spectrum.trace.stderr)
        return s - half, s + half
    if key in ("local_energy_error", "local_energy_loss"):
        le = r.local_energy
        i = int(np.flatnonzero(np.isclose(le.sigmas, r.config.reference_sigma))[0])
        se = le.error_stderr[i] if key == "local_energy_error" else le.stderr[i]
        return s - 1.96 * float(se), s + 1.96 * float(se)
    return None


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
    ax.set_xticklabels([objective_label(o) for o in objectives], rotation=25, ha="right")
    ax.set_xlim(-0.6, len(objectives) - 0.4)


def _vs_gap(ax: Axes, results: Sequence[MinimumMeasures], key: str, gap: ScalarMeasure) -> None:
    seeds = _seed_styles(results)
    for r in results:
        s = r.scalars()
        if not (math.isfinite(s[key]) and math.isfinite(s[gap.key])):
            continue
        ax.errorbar(s[gap.key], s[key], yerr=_yerr(s[key], measure_interval(r, key)),
                    fmt=_MARKERS[seeds[r.seed]], color=objective_color(r.objective), ms=6,
                    capsize=3, lw=1.2)
    ax.set_xlabel(f"generalisation gap: {gap.description}")


def _set_scale(axes: Sequence[Axes], values: np.ndarray) -> None:
    """A log y scale when the values span more than a decade (symmetric log around zero when
    some are not positive, linear within the smallest magnitude)."""
    v = values[np.isfinite(values)]
    mags = np.abs(v[v != 0])
    if not mags.size or mags.max() / mags.min() <= 10:
        return
    for ax in axes:
        if (v > 0).all():
            ax.set_yscale("log")
        else:
            # the decade above the smallest magnitude: values near zero stay in the linear part
            lin = 10.0 ** math.ceil(math.log10(max(mags.min(), 1e-3 * mags.max())))
            ax.set_yscale("symlog", linthresh=lin)
            # symlog autoscaling can end the axis right at the largest value: keep a margin
            lo, hi = ax.get_ylim()
            top = 3.0 * v.max() if v.max() > 0 else hi
            bottom = 3.0 * v.min() if v.min() < 0 else -lin
            ax.set_ylim(min(lo, bottom), max(hi, top))


def auto_log_scale(axes: Sequence[Axes], values: Sequence[float] | np.ndarray) -> None:
    """Put the y axes on a log scale when ``values`` span more than a decade (symmetric log,
    linear within the smallest magnitude's decade, when some are not positive); the rule
    every figure here applies to measures marked ``log``."""
    _set_scale(axes, np.asarray(values, dtype=np.float64))


def _setting(key: str, results: Sequence[MinimumMeasures]) -> str:
    """The settings behind a scalar measure, for titles."""
    c = results[0].config
    return {
        "local_energy_error": f"σ = {c.reference_sigma:g}, {c.num_draws} draws",
        "local_energy_loss": f"σ = {c.reference_sigma:g}, {c.num_draws} draws",
        "width": f"δ training error = {c.width_threshold:g}, {100 * c.confidence:.0f}% CI",
        "sharpness": f"L2 ball ρ = {c.rho:g}, {c.sharpness_steps} ascent steps",
        "local_entropy": f"γ = {min(c.gammas):g}, {c.entropy_chains} SGLD chains",
        "lambda_max": f"Lanczos, relative residual ≤ {c.eigen_tol:g}",
        "trace": f"Hutch++, {c.trace_matvecs} products, ±1.96 s.e.",
    }.get(key, "")


def plot_measure(results: Sequence[MinimumMeasures], key: str, *, out: PathLike = None,
                 ylabel: str | None = None) -> Figure:
    """One scalar measure (a key of :data:`~landscape.compare.measures.SCALAR_MEASURES`): by
    objective (left; seeds side by side, with the measure's interval where it has one) and
    against the error gap (right). A log scale is used when the values span decades."""
    m = {s.key: s for s in SCALAR_MEASURES}[key]
    fig, (ax_obj, ax_gap) = plt.subplots(1, 2, figsize=(11, 4.3), sharey=True,
                                         gridspec_kw={"width_ratios": [1.1, 1]})
    _by_objective(ax_obj, results, key)
    _vs_gap(ax_gap, results, key, GAPS[0])
    ylabel = ylabel or f"{m.label}: {m.description}"
    ax_obj.set_ylabel(_wrap(ylabel, 50))
    if m.log:
        _set_scale([ax_obj, ax_gap], np.array([r.scalars()[key] for r in results]))
    for ax in (ax_obj, ax_gap):
        ax.grid(alpha=0.3, which="both")
    ax_obj.set_title("by objective")
    ax_gap.set_title("against the generalisation gap")
    ax_gap.legend(handles=_legend_handles(_objectives(results), _seed_styles(results),
                                          lines=False), fontsize=8, loc="upper left",
                  bbox_to_anchor=(1.02, 1.0))
    fig.suptitle(f"{m.label} of the minima ({_setting(key, results)}; {m.flatter} = flatter)")
    fig.tight_layout()
    return _finish(fig, out)


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
    :data:`~landscape.compare.measures.SCALAR_MEASURES` or of
    :data:`~landscape.compare.measures.GAPS`.
    """
    info = {s.key: s for s in (*SCALAR_MEASURES, *GAPS)}
    if key not in info:
        raise ConfigError(f"unknown measure {key!r}; choose one of {sorted(info)}")
    if not groups or not any(groups.values()):
        raise ConfigError("plot_measure_by_condition needs at least one non-empty group")
    m = info[key]
    everything = [r for rs in groups.values() for r in rs]
    objectives = _objectives(everything)
    seeds = _seed_styles(everything)
    n = len(groups)
    width = max(3.2, 0.42 * len(objectives) + 1.2)
    fig, axes = plt.subplots(1, n, figsize=(width * n + 2.2, 4.6), squeeze=False, sharey=True)
    for ax, (label, rs) in zip(axes[0], groups.items()):
        _by_objective(ax, rs, key, objectives=objectives, seeds=seeds)
        ax.set_title(label)
        ax.grid(alpha=0.3, which="both")
        if key in ("error_gap", "loss_gap", "local_entropy", "local_energy_error"):
            ax.axhline(0.0, color="0.6", lw=0.8)
    axes[0, 0].set_ylabel(_wrap(ylabel or f"{m.label}: {m.description}", 45))
    values = np.array([r.scalars()[key] for r in everything])
    if m.log:
        _set_scale(list(axes[0]), values)
    axes[0, -1].legend(handles=_legend_handles(objectives, seeds, lines=False), fontsize=8,
                       loc="upper left", bbox_to_anchor=(1.02, 1.0))
    setting = _setting(key, everything)
    flatter = f"{m.flatter} = flatter" if key in {s.key for s in SCALAR_MEASURES} else \
        "lower = generalises better"
    fig.suptitle(title or f"{m.label} of the minima by objective"
                 f"{f' ({setting}; {flatter})' if setting else f' ({flatter})'}")
    fig.tight_layout()
    return _finish(fig, out)


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))


def plot_local_entropy(results: Sequence[MinimumMeasures], *, out: PathLike = None) -> Figure:
    """Local entropy: ΔΦ(γ) against the coupling γ for every run with its confidence band
    (left), ΔΦ at the smallest γ by objective (middle) and against the error gap (right)."""
    seeds = _seed_styles(results)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4), gridspec_kw={"width_ratios": [1, 1, 1]})
    for r in results:
        e = r.local_entropy
        lo, hi = e.phi_excess_ci(r.config.confidence)
        c = objective_color(r.objective)
        axes[0].plot(e.gammas, e.phi_excess, ls=_LINES[seeds[r.seed] % len(_LINES)],
                     marker=_MARKERS[seeds[r.seed]], ms=4, color=c)
        axes[0].fill_between(e.gammas, lo, hi, color=c, alpha=0.15, lw=0)
    axes[0].set(xscale="log", xlabel="coupling γ (width of the Gaussian window ∝ γ^−1/2)",
                ylabel="ΔΦ(γ) = Φ − Φ_flat (nats; 0 = flat)",
                title="local entropy against γ (95% bands)")
    axes[0].axhline(0.0, color="0.6", lw=0.8)
    _by_objective(axes[1], results, "local_entropy")
    gmin = min(float(r.local_entropy.gammas[0]) for r in results)
    axes[1].set(ylabel=f"ΔΦ at γ = {gmin:.3g} (nats)", title="by objective (95% CI over chains)")
    _vs_gap(axes[2], results, "local_entropy", GAPS[0])
    axes[2].set(ylabel=f"ΔΦ at γ = {gmin:.3g} (nats)", title="against the generalisation gap")
    for ax in axes:
        ax.grid(alpha=0.3, which="both")
    axes[2].legend(handles=_legend_handles(_objectives(results), seeds, lines=True),
                   fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    c = results[0].config
    fig.suptitle(f"local entropy of the minima by SGLD ({c.entropy_chains} chains, "
                 f"{c.entropy_burn_in} + {c.entropy_steps} steps per γ, η = "
                 f"{c.entropy_step_size:g}; higher = flatter)")
    fig.tight_layout()
    return _finish(fig, out)


# ------------------------------------------------------------------------------------ spectra
def plot_spectra(results: Sequence[MinimumMeasures], *, out: PathLike = None,
                 floor: float = 1e-7, preset: str = "papyan") -> Figure:
    """Hessian spectral densities (SLQ, smoothed with ``preset``: the default ``"papyan"`` scales
    the Gaussian kernel with each spectrum's range and the number of Lanczos steps, so narrow
    spectra are not blurred; ``"ghorbani"`` is PyHessian's fixed-width kernel) on a log scale,
    one panel per objective with every seed, the top eigenvalues marked (▲ at the bottom of the
    panel, λ_max as a dotted line)."""
    objectives = _objectives(results)
    seeds = _seed_styles(results)
    n = len(objectives)
    fig, axes = plt.subplots(1, n, figsize=(2.9 * n + 0.8, 3.9), squeeze=False, sharey=True)
    for col, obj in enumerate(objectives):
        ax = axes[0, col]
        c = objective_color(obj)
        for r in (r for r in results if r.objective == obj):
            ls = _LINES[seeds[r.seed] % len(_LINES)]
            if r.spectrum.density is not None:
                d = r.spectrum.density.density(preset=preset)
                ax.plot(d.grid, d.density + floor, color=c, ls=ls, lw=1.0,
                        label=f"seed {r.seed}")
            if r.spectrum.top is not None:
                eig = r.spectrum.top.eigenvalues
                ax.plot(eig, np.full(eig.shape, 0.04), ls="none", marker="^", ms=6,
                        mfc="none" if seeds[r.seed] else c, mec=c,
                        transform=ax.get_xaxis_transform())
                ax.axvline(float(eig[0]), color=c, ls=":", lw=1.0)
        ax.set_yscale("log")
        ax.set_title(objective_label(obj), color=c, fontsize=10)
        ax.set_xlabel("Hessian eigenvalue λ")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, loc="upper right")
    axes[0, 0].set_ylabel(f"spectral density (+{floor:g}, log scale)")
    c = results[0].config
    fig.suptitle(f"Hessian spectral density (SLQ, {c.density_probes} probes × "
                 f"{c.density_steps} Lanczos steps, {preset} smoothing); ▲ top {c.topk} "
                 "eigenvalues (filled: first seed), dotted: λ_max")
    fig.tight_layout()
    return _finish(fig, out)


# ------------------------------------------------------------------------------- correlations
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
    measures = {m.key: m for m in SCALAR_MEASURES}
    gap_info = {g.key: g for g in GAPS}
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
            ax.errorbar(c.tau, y, xerr=xerr, fmt="o", color=colors[j % len(colors)], capsize=3,
                        label=gap_info[gap].label if gap in gap_info else gap)
    ax.set_yticks(range(len(keys)))
    ax.set_yticklabels([_measure_tick(measures.get(k), k, "τ") for k in keys], fontsize=8)
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
    measures = {m.key: m for m in SCALAR_MEASURES}
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
            ax.errorbar(value, keys.index(r.measure) + offsets[j], xerr=xerr,
                        fmt="D" if axis is None else "o", ms=6 if axis is None else 4.5,
                        color=color, capsize=3,
                        label=label if axis is None else f"ψ: only the {label} varies")
    ax.set_yticks(range(len(keys)))
    ax.set_yticklabels([_measure_tick(measures.get(k), k, "Ψ") for k in keys], fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0.0, color="0.5", lw=0.8)
    ax.set_xlim(-1.05, 1.05)
    level = 100 * results[0].confidence if results else 95
    gap = next(iter(gaps), "")
    gap_label = {g.key: g.label for g in GAPS}.get(gap, gap)
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
