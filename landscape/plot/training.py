"""Training curves of the runs in a study file."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from landscape.plot._style import plt, save
from landscape.store import Study
from landscape.store import _schema as S
from landscape.store.reader import read_history

ERROR_FLOOR = 1e-3
"""Errors are drawn no lower than this, so that a zero error stays on the log scale."""


def training_curves(path: str | os.PathLike[str], runs: Sequence[str] | None = None, *,
                    out: str | os.PathLike[str] | None = None, title: str | None = None) -> Figure:
    """Plot loss and error (1 − accuracy), both on log scales, against epoch; train solid, test
    dashed, training error on the clean labels dotted when the labels are noisy.

    Args:
        path: study file.
        runs: runs to draw (default: every training run in the file).
        out: save the figure there (PNG/PDF/SVG by extension) when given.
        title: figure title (default: the file name).

    Example:
        >>> # training_curves("results/demo.h5", out="figures/demo_training.png")
    """
    with Study(path) as study:
        names = list(runs) if runs is not None else [
            r for r in study.runs() if S.HISTORY in study.run(r)]
    fig, (ax_loss, ax_err) = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]

    def err(acc: np.ndarray) -> np.ndarray:
        return np.maximum(1.0 - acc, ERROR_FLOOR)

    for k, run in enumerate(names):
        h = read_history(path, run)
        c = colors[k % len(colors)]
        ep = h["epoch"]
        ax_loss.plot(ep, h["train_loss"], color=c, label=f"{run} train")
        ax_err.plot(ep, err(h["train_acc"]), color=c, label=f"{run} train")
        if np.isfinite(h["test_loss"]).any():
            ax_loss.plot(ep, h["test_loss"], color=c, ls="--", label=f"{run} test")
            ax_err.plot(ep, err(h["test_acc"]), color=c, ls="--", label=f"{run} test")
        if not np.allclose(h["train_acc"], h["train_acc_clean"], equal_nan=True):
            ax_err.plot(ep, err(h["train_acc_clean"]), color=c, ls=":",
                        label=f"{run} train (clean labels)")
    ax_loss.set(xlabel="epoch", ylabel="loss (objective, per sample)", yscale="log")
    ax_err.set(xlabel="epoch", ylabel=f"error = 1 − accuracy (floored at {ERROR_FLOOR:g})",
               yscale="log")
    for ax in (ax_loss, ax_err):
        ax.grid(alpha=0.3, which="both")
    ax_err.legend(fontsize=7, loc="upper right", ncol=1 if len(names) < 5 else 2)
    fig.suptitle(title or os.path.basename(str(path)))
    fig.tight_layout()
    if out is not None:
        save(fig, out)
    return fig
