"""Plots of study results, one module per kind of figure."""

from landscape.plot._style import save
from landscape.plot.training import read_history, training_curves

__all__ = ["read_history", "save", "training_curves"]
