"""The shared style of the figures comparing objectives (:mod:`landscape.compare.plots`): a fixed
colour and a readable name per objective (:func:`objective_color`, keyed by the objective's registry
name, so "ce" is the same blue in every figure of every study), one marker or line style per seed,
the legend handles, and saving a finished figure (:func:`landscape.plot.save`, which closes it).
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Sequence

from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from landscape.compare.minimum import MinimumMeasures
from landscape.plot._style import plt, save

PathLike = str | os.PathLike[str] | None

#: Fixed colours per objective (Okabe–Ito, then matplotlib's tab10): the same in every figure.
OBJECTIVE_COLORS: dict[str, str] = {
    "ce": "#0072B2", "cross-entropy": "#0072B2", "mse": "#D55E00", "hinge_cs": "#009E73",
    "hinge_ww": "#56B4E9", "label_smoothing": "#CC79A7", "gce": "#E69F00", "sce": "#7f3c8d",
    "gce_truncated": "#8c564b", "imae": "#bcbd22", "focal": "#17becf", "perceptron": "#7f7f7f",
    "mse_rescaled": "#e377c2", "sam": "#1f3b73", "asam": "#2ca02c", "logit_adjusted": "#9467bd",
    "gcl": "#d62728", "hsic": "#000000", "hsic_bottleneck": "#000000", "ldce_approx": "#aec7e8",
    "sampled_softmax": "#3b9a8f",
}
#: Readable names of the objectives (registry name when missing).
OBJECTIVE_LABELS: dict[str, str] = {
    "ce": "cross-entropy", "mse": "MSE", "hinge_cs": "hinge (Crammer–Singer)",
    "hinge_ww": "hinge (Weston–Watkins)", "label_smoothing": "label smoothing",
    "gce": "GCE", "sce": "SCE", "gce_truncated": "truncated GCE", "imae": "IMAE",
    "focal": "focal", "perceptron": "perceptron", "mse_rescaled": "rescaled MSE",
    "sam": "SAM", "asam": "ASAM", "logit_adjusted": "logit-adjusted CE", "gcl": "GCL",
    "sampled_softmax": "sampled softmax",
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


def _legend_handles(objectives: Sequence[str], seeds: dict[int, int], *, lines: bool,
                    markers: bool = False) -> list[Line2D]:
    """Legend entries: a colour per objective, a line style (``lines``) and/or a marker
    (``markers``, implied without ``lines``) per seed."""
    markers = markers or not lines
    handles = [Line2D([], [], color=objective_color(o), lw=2 if lines else 0, marker=None
                      if lines else "o", label=objective_label(o)) for o in objectives]
    handles += [Line2D([], [], color="0.3", ls=_LINES[i % len(_LINES)] if lines else "none",
                       marker=_MARKERS[i % len(_MARKERS)] if markers else None,
                       label=f"seed {s}") for s, i in seeds.items()]
    return handles
