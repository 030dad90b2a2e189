"""Figures of curves comparing objectives (see :mod:`landscape.compare.plots`): training curves
against epoch (:func:`plot_training`), local-energy curves δE(σ) (:func:`plot_local_energy`) and
Hessian spectral densities against λ (:func:`plot_spectra`).
"""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from landscape.compare.minimum import MinimumMeasures
from landscape.compare.plots_style import (
    _LINES,
    PathLike,
    _finish,
    _legend_handles,
    _objectives,
    _seed_styles,
    objective_color,
    objective_label,
)
from landscape.plot._style import plt


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
    axes[0].set(ylabel="training loss (each objective's own units), log scale", yscale="log",
                title="training loss")
    axes[1].set(ylabel=f"training error = 1 − accuracy (floor {floor:g}), log scale",
                yscale="log", title="training error")
    axes[2].set(ylabel=f"test error = 1 − accuracy (floor {floor:g}), log scale", yscale="log",
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
        if col:  # the losses have a y axis each
            axes[1, col].set_ylabel("δ training loss (own units)")
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
    axes[0, 0].set_ylabel(f"spectral density (+{floor:g}, log scale)")
    c = results[0].config
    handles = _legend_handles([], seeds, lines=True)
    handles += [Line2D([], [], ls="none", marker="^", color="0.3",
                       label=f"top {c.topk} eigenvalues\n(filled: first seed)"),
                Line2D([], [], ls=":", color="0.3", label="λ_max")]
    axes[0, -1].legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    kernel = {"papyan": "Gaussian kernel scaled to each spectrum's range",
              "ghorbani": "fixed-width Gaussian kernel"}.get(preset, f"{preset} kernel")
    title = (f"Hessian spectral density (SLQ, {c.density_probes} probes × "
             f"{c.density_steps} Lanczos steps, {kernel})")
    fig.suptitle("\n".join(textwrap.wrap(title, int(9 * fig.get_figwidth()))))
    fig.tight_layout()
    return _finish(fig, out)
