"""Plots of landscapes and local-energy curves (matplotlib, Agg backend unless set otherwise).

Every function draws into ``ax`` when given (else a new figure), saves the figure to ``path``
when given (:func:`landscape.plot._style.save`, which closes it), and returns the figure.
2D surfaces are indexed ``[ix, iy]``; they are drawn on ``meshgrid(xs, ys, indexing="ij")``
coordinates, so non-square grids are never transposed.
"""

from __future__ import annotations

import os
from typing import Any, Literal

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from landscape.errors import ConfigError
from landscape.plot._style import plt, save

Quantity = Literal["loss", "error"]
PathLike = str | os.PathLike[str] | None


def _values(result: Any, quantity: str) -> np.ndarray:
    if quantity not in ("loss", "error"):
        raise ConfigError(f"quantity must be 'loss' or 'error', got {quantity!r}")
    return np.asarray(getattr(result, quantity), dtype=np.float64)


def _finish(fig: Figure, path: PathLike) -> Figure:
    if path is not None:
        save(fig, path)
    return fig


def _axis_labels(result: Any) -> tuple[str, str]:
    evr = getattr(result, "explained_variance_ratio", None)
    if evr is not None and len(evr) == 2:
        return (f"PC1 ({100 * float(evr[0]):.1f}% of the variance)",
                f"PC2 ({100 * float(evr[1]):.1f}% of the variance)")
    kind = getattr(result, "kind", "random")
    return (f"α: 1st {kind} direction", f"β: 2nd {kind} direction")


def plot_surface_1d(result: Any, ax: Axes | None = None, *, error: bool = True,
                    log: bool = False, path: PathLike = None) -> Figure:
    """Loss along a line (a :class:`~landscape.flatness.surfaces.Surface1DResult`), with the
    training error on a twin axis when ``error`` and it is defined."""
    new = ax is None
    fig, ax = _fig_ax(ax)
    x = np.asarray(result.alphas)
    order = np.argsort(x)
    ax.plot(x[order], np.asarray(result.loss)[order], "C0-", label="loss")
    ax.set_xlabel("α (interpolation)" if result.kind == "interpolation" else "α")
    ax.set_ylabel("training loss" + (", log scale" if log else ""), color="C0")
    if log:
        ax.set_yscale("log")
    err = np.asarray(result.error)
    if error and np.isfinite(err).any():
        twin = ax.twinx()
        twin.plot(x[order], err[order], "C1--", label="error")
        twin.set_ylabel("training error", color="C1")
    if new:
        fig.tight_layout()
    return _finish(fig, path)


def basin_levels(z: np.ndarray, n: int = 12) -> np.ndarray:
    """Contour levels spaced logarithmically above the minimum, ``min + (max − min)·g`` with
    ``g`` from 10⁻³ to 1: a basin, where linear levels leave one contour, gets several.

    Example:
        >>> basin_levels(np.array([[1.0, 2.0], [11.0, 3.0]]), 4).round(3).tolist()
        [1.01, 1.1, 2.0, 11.0]
    """
    finite = z[np.isfinite(z)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if hi <= lo:
        return np.array([lo, lo + 1.0])
    return lo + (hi - lo) * np.geomspace(1e-3, 1.0, max(n, 2))


def plot_contour(result: Any, ax: Axes | None = None, *, quantity: Quantity = "loss",
                 levels: int | np.ndarray = 12, filled: bool = False,
                 trajectory: Any = None, path: PathLike = None) -> Figure:
    """Contours of a :class:`~landscape.flatness.surfaces.Surface2DResult`, with the grid's
    minimum marked (white cross) and the trained weights at the origin (black dot). The levels'
    values are read off the colour bar (inline contour labels pile up where contours crowd).

    Args:
        quantity: ``"loss"`` or ``"error"``.
        levels: number of contour levels, spaced logarithmically above the minimum
            (:func:`basin_levels`, so the basin is resolved), or the levels themselves.
        filled: ``contourf`` instead of ``contour``.
        trajectory: a :class:`~landscape.flatness.surfaces.PCAPlane` (its points labelled with
            their epochs) or an ``[K, 2]`` array of coordinates, drawn as a path with its end
            marked.
    """
    z = _values(result, quantity)
    new = ax is None
    fig, ax = _fig_ax(ax)
    gx, gy = np.meshgrid(result.xs, result.ys, indexing="ij")
    if np.ndim(levels) == 0:
        levels = basin_levels(z, int(levels))
    draw = ax.contourf if filled else ax.contour
    cs = draw(gx, gy, z, levels=levels, cmap="viridis")
    cb = fig.colorbar(cs, ax=ax, pad=0.02, format="%.3g")
    cb.set_label(f"{quantity} (levels log-spaced above the minimum)", fontsize=8)
    cb.ax.tick_params(labelsize=7)
    i, j = np.unravel_index(np.nanargmin(z), z.shape)
    ax.plot(result.xs[i], result.ys[j], "x", color="w", mec="k", ms=9, mew=2,
            label=f"grid minimum ({z[i, j]:.3g})")
    ax.plot(0.0, 0.0, "o", color="k", ms=4, label="trained weights")
    if trajectory is not None:
        _trajectory(ax, trajectory)
    ax.legend(loc="best", fontsize=7, framealpha=0.8)
    xl, yl = _axis_labels(result)
    ax.set_xlabel(xl)
    ax.set_ylabel(yl)
    if new:
        fig.tight_layout()
    return _finish(fig, path)


def _trajectory(ax: Axes, trajectory: Any) -> None:
    pts = np.asarray(getattr(trajectory, "coords", trajectory), dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ConfigError(f"trajectory must be [K, 2] coordinates, got {list(pts.shape)}")
    ax.plot(pts[:, 0], pts[:, 1], "r.-", lw=1, ms=4, label="trajectory (epochs)")
    ax.plot(pts[-1, 0], pts[-1, 1], "r*", ms=10)
    epochs = getattr(trajectory, "epochs", None)
    if epochs is not None:
        for (x, y), e in zip(pts, np.asarray(epochs)):
            ax.annotate(f"{float(e):g}", (x, y), xytext=(4, -9), textcoords="offset points",
                        fontsize=7, color="r")


def plot_surface_3d(result: Any, *, quantity: Quantity = "loss", cmap: str = "coolwarm",
                    path: PathLike = None) -> Figure:
    """A 3D surface of a :class:`~landscape.flatness.surfaces.Surface2DResult` (new figure)."""
    z = _values(result, quantity)
    fig = plt.figure(figsize=(6, 5))
    ax = fig.add_subplot(projection="3d")
    gx, gy = np.meshgrid(result.xs, result.ys, indexing="ij")
    ax.plot_surface(gx, gy, z, cmap=cmap, linewidth=0, antialiased=True)
    xl, yl = _axis_labels(result)
    ax.set_xlabel(xl)
    ax.set_ylabel(yl)
    ax.set_zlabel(quantity)
    return _finish(fig, path)


def plot_local_energy(result: Any, ax: Axes | None = None, *,
                      quantity: Literal["loss", "error", "both"] | None = None,
                      z: float = 1.96, log_sigma: bool = False, path: PathLike = None
                      ) -> Figure:
    """δE(σ) of a :class:`~landscape.flatness.LocalEnergyResult` with a confidence band
    (``mean ± z·stderr``, 95% for the default ``z``).

    ``quantity``: ``"loss"``, ``"error"`` or ``"both"`` (two panels); default ``"both"`` on a
    new figure when the error is defined, ``"loss"`` when drawing into ``ax``.
    """
    has_error = bool(np.isfinite(np.asarray(result.error_mean)).any())
    if quantity is None:
        quantity = "both" if ax is None and has_error else "loss"
    if quantity not in ("loss", "error", "both"):
        raise ConfigError(f"quantity must be 'loss', 'error' or 'both', got {quantity!r}")
    if quantity == "both" and ax is not None:
        raise ConfigError("quantity='both' draws two panels; pass ax=None or one quantity")
    which = ["loss", "error"] if quantity == "both" else [quantity]
    if ax is None:
        fig, axes = plt.subplots(1, len(which), figsize=(4.5 * len(which), 3.5), squeeze=False)
        axs = list(axes[0])
    else:
        fig, axs = ax.figure, [ax]
    sig = np.asarray(result.sigmas)
    order = np.argsort(sig)
    for a, q in zip(axs, which):
        delta = np.asarray(result.delta if q == "loss" else result.error_delta)[order]
        se = np.asarray(result.stderr if q == "loss" else result.error_stderr)[order]
        a.plot(sig[order], delta, "o-", ms=3, label=f"δE ({q})")
        band = np.nan_to_num(se, nan=0.0) * z
        a.fill_between(sig[order], delta - band, delta + band, alpha=0.3, label=f"±{z:g}·stderr")
        a.axhline(0.0, color="0.6", lw=0.8)
        a.set_xlabel(f"σ ({result.noise} weight noise)" + (", log scale" if log_sigma else ""))
        a.set_ylabel("δ training loss (objective units)" if q == "loss"
                     else "δ training error (fraction)")
        if log_sigma:
            a.set_xscale("log")
        a.legend(fontsize=8)
    if ax is None:  # on a caller's axes the caller titles the figure
        axs[0].set_title(f"local energy ({result.noise} noise)", fontsize=9)
        fig.tight_layout()
    return _finish(fig, path)


def _fig_ax(ax: Axes | None) -> tuple[Figure, Axes]:
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 4))
        return fig, ax
    return ax.figure, ax


__all__ = ["basin_levels", "plot_contour", "plot_local_energy", "plot_surface_1d",
           "plot_surface_3d"]
