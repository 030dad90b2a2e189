"""The figures that belong to one measure (drawn by :mod:`landscape.compare.plots`).

A :class:`~landscape.compare.protocol.Measure` with a ``figure`` draws it from a list of
:class:`~landscape.compare.MinimumMeasures`; these thin entries keep the registry's modules free
of matplotlib until a figure is drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def local_energy(results: Sequence[Any], out: Any) -> None:
    """δE(σ) of the training error and loss of every run (:func:`plots.plot_local_energy`)."""
    from landscape.compare import plots

    plots.plot_local_energy(results, out=out)


def local_entropy(results: Sequence[Any], out: Any) -> None:
    """ΔΦ(γ) of every run (:func:`plots.plot_local_entropy`)."""
    from landscape.compare import plots

    plots.plot_local_entropy(results, out=out)


def spectra(results: Sequence[Any], out: Any) -> None:
    """The Hessian spectral densities of every run (:func:`plots.plot_spectra`)."""
    from landscape.compare import plots

    plots.plot_spectra(results, out=out)
