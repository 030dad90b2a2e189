"""Training curves of the runs in a study file, with the tracked curvature when there is one."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

from landscape.plot._style import plt, save
from landscape.store import Study
from landscape.store import _schema as S
from landscape.store.reader import read_history, run_attrs
from landscape.train.tracking import STEP_GROUP

ERROR_FLOOR = 1e-3
"""Errors are drawn no lower than this, so that a zero error stays on the log scale."""


def stability_threshold(lr: np.ndarray | float, config: dict[str, Any]) -> np.ndarray | None:
    """The sharpness above which gradient descent on a quadratic diverges, ``2/η`` for plain
    SGD/GD and ``(2 + 2β)/η`` with heavy-ball momentum β (Cohen et al., ICLR 2021, §2 and
    appendix); ``None`` for adaptive optimisers, whose threshold is on the preconditioned
    Hessian.

    Example:
        >>> float(stability_threshold(0.1, {"optimizer": "sgd", "momentum": 0.0}))
        20.0
    """
    if config.get("optimizer", "sgd") != "sgd":
        return None
    beta = float(config.get("momentum", 0.0))
    return (2.0 + 2.0 * beta) / np.asarray(lr, dtype=np.float64)


def _tracked(path: str | os.PathLike[str], run: str, h: dict[str, np.ndarray]
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``(epoch, lambda_max, lr)`` of the measured points of a run, or ``None``."""
    if "lambda_max" in h:
        ok = np.isfinite(h["lambda_max"])
        lr = h["lr"].copy()
        lr[0] = lr[1] if len(lr) > 1 else np.nan  # the initialisation: the first epoch's lr
        return h["epoch"][ok], h["lambda_max"][ok], lr[ok]
    with Study(path) as study:
        group = study.run(run)
        if STEP_GROUP not in group:
            return None
        epoch = group[STEP_GROUP]["epoch"][()]
        lam = group[STEP_GROUP]["lambda_max"][()]
    ok = np.isfinite(lam)
    lr_epoch = h["lr"][np.clip(np.ceil(epoch).astype(int), 1, len(h["lr"]) - 1)] \
        if len(h["lr"]) > 1 else np.full(len(epoch), np.nan)
    return epoch[ok], lam[ok], lr_epoch[ok]


def _draw_sharpness(ax: Axes, path: str | os.PathLike[str], names: Sequence[str],
                    colors: list[str]) -> None:
    lams, lowest = [], np.inf
    for k, run in enumerate(names):
        tracked = _tracked(path, run, read_history(path, run))
        if tracked is None:
            continue
        ep, lam, lr = tracked
        c = colors[k % len(colors)]
        ax.plot(ep, lam, color=c, marker="." if len(ep) < 40 else None, label=f"{run} λ_max")
        lams.append(lam)
        threshold = stability_threshold(lr, run_attrs(path, run).get("config") or {})
        if threshold is not None and np.isfinite(threshold).any():
            beta = (run_attrs(path, run).get("config") or {}).get("momentum", 0.0)
            what = "2/η" if not beta else f"(2+2β)/η, β = {beta:g}"
            ax.plot(ep, threshold, color=c, ls="--", lw=1, label=f"{run} {what}")
            lowest = min(lowest, float(np.nanmin(threshold)))
    positive = all(y > 0 for line in ax.get_lines() for y in line.get_ydata() if np.isfinite(y))
    ax.set(xlabel="epoch", ylabel="λ_max (tracked subset)"
           + (", log scale" if positive else ""), yscale="log" if positive else "linear")
    values = np.concatenate(lams) if lams else np.empty(0)
    if positive and values.size and np.isfinite(lowest):
        # the threshold grows as the schedule decays: show its lowest value, clip the rest
        ax.set_ylim(values.min() / 1.5, max(values.max() * 2.0, lowest * 1.5))
    ax.legend(fontsize=7, loc="best")


def training_curves(path: str | os.PathLike[str], runs: Sequence[str] | None = None, *,
                    out: str | os.PathLike[str] | None = None, title: str | None = None) -> Figure:
    """Plot loss and error (1 − accuracy), both on log scales, against epoch; train solid, test
    dashed, training error on the clean labels dotted when the labels are noisy. Runs that
    tracked their curvature (``TrainConfig.track_curvature``) get a third panel: λ_max against
    epoch with the stability threshold ``2/η`` of SGD/GD (``(2 + 2β)/η`` with momentum β,
    following the learning-rate schedule) dashed in the same colour.

    Args:
        path: study file.
        runs: runs to draw (default: every training run in the file).
        out: save the figure there (PNG/PDF/SVG by extension) when given.
        title: figure title (default: "training curves of" the runs).

    Example:
        >>> # training_curves("results/demo.h5", out="figures/demo_training.png")
    """
    with Study(path) as study:
        names = list(runs) if runs is not None else [
            r for r in study.runs() if S.HISTORY in study.run(r)]
        tracked = any("lambda_max" in study.run(r)[S.HISTORY] or STEP_GROUP in study.run(r)
                      for r in names)
    fig, axes = plt.subplots(1, 3 if tracked else 2, figsize=(16 if tracked else 11, 4.2))
    ax_loss, ax_err = axes[0], axes[1]
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
    ax_loss.set(xlabel="epoch", ylabel="loss (objective, per sample), log scale", yscale="log")
    ax_err.set(xlabel="epoch", yscale="log",
               ylabel=f"error = 1 − accuracy, log scale\n(floored at {ERROR_FLOOR:g})")
    if tracked:
        _draw_sharpness(axes[2], path, names, colors)
    plain = FuncFormatter(lambda v, _: f"{v:.3g}")  # 2.3, not 2.3×10⁰, on short log ranges
    twos_fives = FuncFormatter(lambda v, _: f"{v:.3g}" if v > 0 and round(
        v / 10 ** np.floor(np.log10(v))) in (2, 5) else "")
    for ax in axes:
        ax.grid(alpha=0.3, which="both")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no quarter epochs
        if ax.get_yscale() == "log":
            lo, hi = ax.get_ylim()
            ax.yaxis.set_major_formatter(plain)
            ax.yaxis.set_minor_formatter(plain if hi / lo < 10 else twos_fives if hi / lo < 100
                                         else NullFormatter())
    ax_err.legend(fontsize=7, loc="upper right", ncol=1 if len(names) < 5 else 2)
    default = "training curves of " + (", ".join(names) if len(names) <= 3
                                       else f"{len(names)} runs")
    fig.suptitle(title or default)
    fig.tight_layout()
    if out is not None:
        save(fig, out)
    return fig
