"""Comparing minima: every measure of a stored run, rank correlations with the gap, figures.

The library behind ``landscape demo``, ``landscape measure`` / ``landscape correlate`` and the
analyses that compare the minima reached under different objectives.

Shape:
    :mod:`~landscape.compare.protocol` — what a measure is (:class:`Measure`: settings with
    defaults, a pure computation, scalar summaries with their "flatter" direction, intervals,
    storage, an optional figure);
    :mod:`~landscape.compare.registry` — every measure by name (:data:`MEASURES`), the built-in
    ones (:mod:`~landscape.compare.builtin_flatness`, :mod:`~landscape.compare.builtin_hessian`)
    and the user's (:func:`register_measure`);
    :mod:`~landscape.compare.minimum` — :func:`measure_minimum` takes measures of one run,
    each stored under its settings (:mod:`landscape.store.measurements`), read back, resumed;
    :func:`load_minimum` only reads; :class:`MeasureConfig` is the preset of the built-ins'
    settings (``MeasureConfig.quick()`` for CI-sized runs);
    :mod:`~landscape.compare.runner` — :func:`measure_runs`, many runs, in worker processes or
    on any executor.
Correlating:
    :func:`kendall_tau` and :func:`rank_correlations` (:mod:`~landscape.compare.correlation`):
    Kendall τ-b of a measure with the gap across runs, with a bootstrap interval;
    :func:`granulated_kendall` (:mod:`~landscape.compare.granulated`): Jiang et al.'s Ψ, the
    mean τ within the groups of runs where a single hyper-parameter varies;
    :func:`~landscape.compare.factors.run_factors`: those hyper-parameters, read from the runs'
    provenance.
Reporting:
    :func:`measures_table`, :func:`correlation_table`, :func:`granulated_table`
    (:mod:`~landscape.compare.table`); figures in :mod:`landscape.compare.plots`.

Adding a measure: write ``fn(model, loss_fn, batches, **settings) -> float | {name: float}``
and call ``register_measure("name", fn, flatter="lower")``; it is then computed, stored, resumed,
tabulated and correlated like the built-ins (``landscape measure --plugin MODULE --measures
name``). See :mod:`~landscape.compare.registry`.
"""

from __future__ import annotations

from landscape.compare.config import MeasureConfig
from landscape.compare.correlation import (
    RankCorrelation,
    StatisticsWarning,
    bootstrap_tau,
    kendall_tau,
    min_runs,
    rank_correlations,
    tau_b,
)
from landscape.compare.gap import Gap, generalisation_gap
from landscape.compare.granulated import (
    MIN_GROUPS,
    AxisCorrelation,
    GranulatedKendall,
    granulated_correlations,
    granulated_kendall,
)
from landscape.compare.minimum import MinimumMeasures, load_minimum, measure_minimum
from landscape.compare.protocol import Context, Measure, Scalar
from landscape.compare.registry import (
    DEFAULT_MEASURES,
    MEASURES,
    register_measure,
    scalars,
)
from landscape.compare.runner import measure_runs
from landscape.compare.table import correlation_table, granulated_table, measures_table

__all__ = [
    "DEFAULT_MEASURES",
    "MEASURES",
    "MIN_GROUPS",
    "AxisCorrelation",
    "Context",
    "Gap",
    "GranulatedKendall",
    "Measure",
    "MeasureConfig",
    "MinimumMeasures",
    "RankCorrelation",
    "Scalar",
    "StatisticsWarning",
    "bootstrap_tau",
    "correlation_table",
    "generalisation_gap",
    "granulated_correlations",
    "granulated_kendall",
    "granulated_table",
    "kendall_tau",
    "load_minimum",
    "measure_minimum",
    "measure_runs",
    "measures_table",
    "min_runs",
    "rank_correlations",
    "register_measure",
    "scalars",
    "tau_b",
]
