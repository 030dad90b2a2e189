r"""Figures: local-entropy curves :math:`S(d)` with the bound :math:`H_2(d)`, local-energy curves.

Both functions draw on a given matplotlib axis (or a new figure) and return the axis; save with
:func:`landscape.plot.save`.

Example:
    >>> import numpy as np
    >>> from landscape.shallow import focusing_bp, local_energy, random_patterns
    >>> from landscape.shallow.plots import plot_local_energy
    >>> xi, labels = random_patterns(101, 30, seed=0)
    >>> w = focusing_bp(xi, labels).weights
    >>> ax = plot_local_energy({"fBP": local_energy(w, xi, labels, [0, 0.1], num_samples=5)})
    >>> ax.get_xlabel()
    'flip fraction p'
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import NullFormatter
from scipy.stats import norm

from landscape.errors import ConfigError
from landscape.plot._style import plt
from landscape.shallow.bp import LocalEntropyResult, binary_entropy
from landscape.shallow.local_energy import GaussianLocalEnergyResult, LocalEnergyResult

__all__ = ["plot_local_energy", "plot_local_entropy"]


def _axis(ax: Axes | None) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 4))
    return ax


def plot_local_entropy(curves: Mapping[str, LocalEntropyResult], ax: Axes | None = None, *,
                       only_converged: bool = True, d_max: float | None = None) -> Axes:
    r""":math:`S(d)` of several solutions on one axis, with :math:`H_2(d)` (the
    :math:`\alpha = 0` bound) dashed. Points where BP did not converge are left out
    (``only_converged``) or drawn hollow."""
    if not curves:
        raise ConfigError("plot_local_entropy needs at least one curve")
    new = ax is None
    ax = _axis(ax)
    top, bottom = 0.0, np.inf
    for label, c in curves.items():
        order = np.argsort(c.distances)
        d, s, ok = c.distances[order], c.entropy[order], c.converged[order] & np.isfinite(
            c.entropy[order])
        (line,) = ax.plot(d[ok], s[ok], "o-", ms=3, label=label)
        if not only_converged and np.any(~ok):
            ax.plot(d[~ok], s[~ok], "o", mfc="none", color=line.get_color())
        if np.any(ok & (d > 0)):
            top = max(top, float(np.max(d[ok])))
            bottom = min(bottom, float(np.min(d[ok & (d > 0)])))
    top = d_max or max(top, 1e-3)
    bottom = min(bottom, top / 10) if np.isfinite(bottom) else top / 1e3
    # a log distance axis: the couplings put most points at small d, crowded on a linear one
    grid = np.geomspace(bottom, top, 200)
    ax.plot(grid, binary_entropy(grid), "k--", lw=1, label=r"$H_2(d)$ ($\alpha=0$)")
    ax.set_xscale("log")
    ax.set_xlim(bottom / 1.3, top * 1.1)
    ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels crowd a short log range
    ax.set_xlabel("distance d (log scale)")
    ax.set_ylabel("local entropy S(d)")
    ax.legend(fontsize="small")
    if new:
        ax.figure.tight_layout()
    return ax


def plot_local_energy(curves: Mapping[str, LocalEnergyResult | GaussianLocalEnergyResult],
                      ax: Axes | None = None, *, confidence: float = 0.95) -> Axes:
    r""":math:`\delta E(p)` = mean training error after flipping a fraction ``p`` minus the
    unperturbed error (or :math:`\delta E(\sigma)` after multiplicative Gaussian noise of size
    σ, for :class:`GaussianLocalEnergyResult` curves), with a normal-approximation confidence
    band (``confidence``, from the standard error over the samples)."""
    if not curves:
        raise ConfigError("plot_local_energy needs at least one curve")
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must be in (0, 1), got {confidence}")
    z = float(norm.ppf(0.5 + confidence / 2))
    ax = _axis(ax)
    gaussian = False
    for label, c in curves.items():
        x = c.sigmas if isinstance(c, GaussianLocalEnergyResult) else c.flip_fractions
        gaussian = gaussian or isinstance(c, GaussianLocalEnergyResult)
        (line,) = ax.plot(x, c.increase, "o-", ms=3, label=label)
        ax.fill_between(x, c.increase - z * c.stderr, c.increase + z * c.stderr,
                        color=line.get_color(), alpha=0.25, lw=0)
    ax.set_xlabel("multiplicative noise σ" if gaussian else "flip fraction p")
    ax.set_ylabel(r"local energy $\delta E(p)$")
    ax.set_title(f"{round(100 * confidence)}% CI bands", fontsize="small")
    ax.legend(fontsize="small")
    ax.figure.tight_layout()
    return ax
