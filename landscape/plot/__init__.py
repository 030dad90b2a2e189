"""Plots of study results, one module per kind of figure."""

from landscape.plot._style import save
from landscape.plot.training import training_curves

__all__ = ["save", "training_curves"]
