"""Comparing minima: every measurement of a stored run, rank correlations with the gap, figures.

The library behind ``landscape demo``, ``landscape measure`` / ``landscape correlate`` and the
analyses that compare the minima reached under different objectives (analyses 3–5):

Measuring:
    :func:`measure_minimum` (:mod:`~landscape.compare.measures`) → :class:`MinimumMeasures`:
    local energy, flat-minimum width, worst-case sharpness, local entropy, Hessian top
    eigenvalues, trace and spectral density, and the generalisation gap of one run, each stored
    in the study file with its settings (a rerun reads them back). :class:`MeasureConfig` holds
    the settings (``MeasureConfig.quick()`` for CI-sized runs). :func:`load_minimum` reads them
    back without computing, writing or waiting for the study's writer.
Correlating:
    :func:`kendall_tau` and :func:`rank_correlations` (:mod:`~landscape.compare.correlation`):
    Kendall τ-b of a measure with the gap across runs, with a seeded bootstrap interval;
    :func:`granulated_kendall` (:mod:`~landscape.compare.granulated`): Jiang et al.'s Ψ, the
    mean τ within the groups of runs where a single hyper-parameter varies;
    :func:`~landscape.compare.factors.run_factors`: those hyper-parameters, read from the runs'
    provenance (``landscape correlate`` puts the three together).
Reporting:
    :func:`measures_table`, :func:`correlation_table`, :func:`granulated_table`
    (:mod:`~landscape.compare.table`);
    figures in :mod:`landscape.compare.plots` (one per measure, a fixed colour per objective).
"""

from __future__ import annotations

from landscape.compare.correlation import (
    RankCorrelation,
    bootstrap_tau,
    kendall_tau,
    rank_correlations,
    tau_b,
)
from landscape.compare.granulated import (
    AxisCorrelation,
    GranulatedKendall,
    granulated_correlations,
    granulated_kendall,
)
from landscape.compare.measures import (
    GAPS,
    SCALAR_MEASURES,
    STAGES,
    Gap,
    MeasureConfig,
    MinimumMeasures,
    ScalarMeasure,
    generalisation_gap,
    has_long_stages,
    load_minimum,
    measure_minimum,
)
from landscape.compare.table import correlation_table, granulated_table, measures_table

__all__ = [
    "GAPS",
    "SCALAR_MEASURES",
    "STAGES",
    "AxisCorrelation",
    "Gap",
    "GranulatedKendall",
    "MeasureConfig",
    "MinimumMeasures",
    "RankCorrelation",
    "ScalarMeasure",
    "bootstrap_tau",
    "correlation_table",
    "generalisation_gap",
    "granulated_correlations",
    "granulated_kendall",
    "granulated_table",
    "has_long_stages",
    "kendall_tau",
    "load_minimum",
    "measure_minimum",
    "measures_table",
    "rank_correlations",
    "tau_b",
]
