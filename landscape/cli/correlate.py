"""``landscape correlate``: rank correlations of the measures of stored minima with the gap.

Reads what ``landscape measure`` (or :func:`landscape.compare.measure_minimum`) stored, with
:func:`landscape.compare.load_minimum`: no writer lock, so it works while a measurement or an
analysis still writes the file. Ranks each measure against the gaps (Kendall τ with bootstrap
intervals) and computes Jiang et al.'s granulated Ψ over the hyper-parameters that vary across
the runs, read from their provenance (:mod:`landscape.compare.factors`; factors that always
change together are one axis, seeds are replicates). Prints both tables and draws
``<stem>_correlations.png`` and ``<stem>_granulated.png``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from landscape.cli.measure import add_config_args, measure_choice, measure_config, study_runs
from landscape.errors import ConfigError


def add_parser(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("correlate", help="rank correlations of the measures with the gap",
                       description="Kendall τ of every measure with the generalisation gaps "
                                   "and the granulated Ψ over the hyper-parameters that vary "
                                   "across the measured runs; reads the study without locking "
                                   "it.")
    add_config_args(c)
    c.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples (2000)")
    c.add_argument("--figures", default=None,
                   help="folder of the figures (default: the study's folder)")
    c.add_argument("--stem", default=None,
                   help="file name stem of the figures (default: the study's name)")
    c.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from landscape.compare import (
        correlation_table,
        granulated_correlations,
        granulated_table,
        load_minimum,
        rank_correlations,
        registry,
    )
    from landscape.compare import plots as P
    from landscape.compare.factors import merge_confounded, run_factors
    from landscape.errors import StoreError
    from landscape.plot import save

    cfg, runs = measure_config(args), study_runs(args)
    names, settings = measure_choice(args)
    results, missing = [], []
    for run in runs:
        try:
            results.append(load_minimum(args.file, run, config=cfg, measures=names,
                                        settings=settings))
        except StoreError as err:
            missing.append(f"  {run}: {err}")
    if missing:
        print(f"left out {len(missing)} run(s) not (fully) measured with these settings:")
        print("\n".join(missing))
    if len(results) < 3:
        raise ConfigError(f"{len(results)} run(s) of {args.file} measured with these settings "
                          f"({len(missing)} left out); a rank correlation needs at least 3: "
                          "`landscape measure FILE` with the same --quick/--samples measures "
                          "them")
    used = [r.run for r in results]
    factors, seeds = run_factors(args.file, used)
    axes = merge_confounded(factors)
    scalars = [r.scalars() for r in results]
    measures = {m.key: [s[m.key] for s in scalars] for m in registry.scalars(flatness=True)
                if m.key in scalars[0]}
    gaps = {g.key: [s[g.key] for s in scalars] for g in registry.scalars(flatness=False)
            if g.key in scalars[0]}
    if not gaps:
        raise ConfigError("no gap among the measures: add gap to --measures")
    taus = rank_correlations(measures, gaps, num_bootstrap=args.bootstrap, seed=0)
    print(f"\nKendall τ with the generalisation gap ({len(results)} runs, 95% bootstrap CI):")
    print(correlation_table(taus))
    stem = args.stem or Path(args.file).stem
    folder = Path(args.figures) if args.figures else Path(args.file).parent
    figures = [folder / f"{stem}_correlations.png"]
    save(P.plot_correlations(taus), figures[0])
    if axes:
        granulated = granulated_correlations(measures, gaps, axes, strata={"seed": seeds},
                                             num_bootstrap=args.bootstrap, seed=0)
        print(f"\ngranulated Kendall coefficient over {', '.join(axes)} (seeds as replicates):")
        print(granulated_table(granulated))
        figures.append(folder / f"{stem}_granulated.png")
        save(P.plot_granulated([g for g in granulated if g.gap == "error_gap"]), figures[1])
    else:
        print("\nno hyper-parameter varies across these runs: no granulated coefficient")
    print(f"\nfigures: {', '.join(map(str, figures))}")
    return 0
