"""Plots of Hessian spectra: the smoothed spectral density on a log scale, the top-k, and the
densities of Hessian blocks side by side.

Uses matplotlib's object API on a given ``Axes`` (or a new Agg figure), never ``pyplot`` state.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from landscape.hessian.density import SmoothedDensity, SpectralDensityResult
from landscape.hessian.eigen import EigenResult


def _axes(ax: Axes | None) -> Axes:
    if ax is not None:
        return ax
    fig = Figure(figsize=(5, 3.5))
    FigureCanvasAgg(fig)
    return fig.add_subplot()


def plot_density(density: SpectralDensityResult | SmoothedDensity, ax: Axes | None = None, *,
                 log: bool = True, floor: float = 1e-7, label: str | None = None,
                 mark_floor: bool = False) -> Axes:
    """Plot a spectral density; a raw SLQ result is smoothed with the ``"ghorbani"`` preset.

    Args:
        density: raw :class:`SpectralDensityResult` or a :class:`SmoothedDensity`.
        ax: axes to draw on (default: a new Agg figure).
        log: logarithmic density axis, with ``floor`` added as PyHessian's ``get_esd_plot``
            does (``semilogy(grid, density + 1e-7)``) so empty regions stay visible.
        floor: value added before the log scale.
        label: legend label.
        mark_floor: draw the floor as a labelled dotted line (where the curve is flat at
            ``floor`` the density is zero).

    Returns:
        The axes.
    """
    smooth = density.density() if isinstance(density, SpectralDensityResult) else density
    ax = _axes(ax)
    y = smooth.density + floor if log else smooth.density
    ax.plot(smooth.grid, y, label=label)
    if log:
        ax.set_yscale("log")
        if mark_floor:
            ax.axhline(floor, color="0.5", ls=":", lw=1)
            ax.annotate(f"floor {floor:g} (density 0)", (1.0, floor), xycoords=("axes fraction",
                        "data"), xytext=(-3, 3), textcoords="offset points", ha="right",
                        va="bottom", fontsize=7, color="0.4")
    ax.set_xlabel("Hessian eigenvalue λ")
    ax.set_ylabel(f"density + {floor:g}, log scale" if log else "density")
    return ax


def plot_topk(result: EigenResult, ax: Axes | None = None) -> Axes:
    """Plot the eigenvalues of an :class:`EigenResult` against their rank, residuals as error bars.

    Args:
        result: the eigenpairs.
        ax: axes to draw on (default: a new Agg figure).

    Returns:
        The axes.
    """
    ax = _axes(ax)
    ranks = np.arange(1, result.eigenvalues.size + 1)
    ax.errorbar(ranks, result.eigenvalues, yerr=result.residuals, fmt="o", capsize=2)
    ax.set_xlabel(f"rank ({result.which})")
    ax.set_ylabel("Hessian eigenvalue λ (bars: residual)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return ax


def plot_block_densities(densities: Mapping[str, SpectralDensityResult], *,
                         num_params: Mapping[str, int] | None = None, ncols: int = 4,
                         title: str | None = None, floor: float = 1e-7) -> Figure:
    """The spectral densities of Hessian blocks side by side, one panel per block.

    Each panel has its own eigenvalue axis (block spectra differ by orders of magnitude in a
    transformer) and a shared logarithmic density axis; the title gives the block and its size.

    Args:
        densities: ``{label: SpectralDensityResult}``, e.g. :attr:`BlockSpectra.densities`.
        num_params: ``{label: P_block}`` for the panel titles.
        ncols: panels per row.
        title: figure title.
        floor: added to the density before the log scale (as :func:`plot_density`).

    Returns:
        A new Agg :class:`~matplotlib.figure.Figure`.
    """
    labels = list(densities)
    ncols = max(1, min(ncols, len(labels)))
    nrows = -(-len(labels) // ncols)
    fig = Figure(figsize=(3.2 * ncols, 2.6 * nrows + (0.5 if title else 0)))
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False, sharey=True)
    for ax, label in zip(axes.flat, labels):
        plot_density(densities[label], ax, floor=floor)
        size = f" (P={num_params[label]:,})" if num_params and label in num_params else ""
        ax.set_title(f"{label}{size}", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.xaxis.label.set_size(8)
        if ax not in axes[:, 0]:
            ax.set_ylabel("")
        else:
            ax.yaxis.label.set_size(8)
    for ax in list(axes.flat)[len(labels):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
