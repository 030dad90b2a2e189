"""``landscape measure``: every measure of the minima of stored runs.

Runs :func:`landscape.compare.measure_runs` on the runs (by default the measures of
:data:`~landscape.compare.registry.DEFAULT_MEASURES`: local energy, width, sharpness, local
entropy, Hessian top eigenvalues, trace and density, and the gap), storing each result under its
settings in the study; a rerun reads them back, an interrupted one resumes. ``--plugin MODULE``
imports a module that registers measures of its own (``register_measure``), which
``--measures`` can then name. ``landscape correlate`` (:mod:`landscape.cli.correlate`) then
ranks the measures against the gap.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
from typing import TYPE_CHECKING

from landscape.errors import ConfigError

if TYPE_CHECKING:
    from landscape.compare import MeasureConfig


def add_config_args(p: argparse.ArgumentParser) -> None:
    """The study file, the runs and the measurement settings (shared with ``correlate``, which
    must name the settings the runs were measured with)."""
    p.add_argument("file", help="study file")
    p.add_argument("--runs", nargs="+", default=None, metavar="RUN",
                   help="runs to use (default: every finished training run in the file)")
    p.add_argument("--quick", action="store_true",
                   help="MeasureConfig.quick(): rough, CI-sized settings (400 samples)")
    p.add_argument("--samples", type=int, default=None, metavar="N",
                   help="measure on a fixed stratified subset of N training samples (default: "
                        "the whole training set; 400 with --quick)")
    from landscape.compare.registry import DEFAULT_MEASURES

    p.add_argument("--measures", default=None, metavar="NAME,...",
                   help="comma-separated registry names of the measures (default: "
                        f"{', '.join(DEFAULT_MEASURES)})")
    p.add_argument("--set", action="append", default=None, metavar="MEASURE.KEY=VALUE",
                   help="a setting of one measure, e.g. hessian_top.k=10 (repeatable)")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                   help="import MODULE first (a module that registers measures of its own)")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("measure", help="every measure of the minima of stored runs",
                       description="Measure the minimum of each run with "
                                   "landscape.compare.measure_minimum and store the results; a "
                                   "rerun reads them back, an interrupted one resumes.")
    add_config_args(p)
    p.add_argument("--overwrite", action="store_true",
                   help="recompute the asked results and replace them (other settings' results "
                        "are kept either way)")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="measure the runs in N worker processes (default 1: in this one)")
    p.add_argument("--scheduler", default=None, metavar="SPEC",
                   help="measure the runs on Dask: local:N (a local cluster of N worker "
                        "processes) or tcp://HOST:PORT (a running scheduler); needs the "
                        "'cluster' extra")
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel, under torchrun: every rank measures its shard of each "
                        "run's samples and rank 0 writes the study (gloo on the CPU, NCCL with "
                        "--device cuda, one GPU per rank)")
    p.add_argument("--dist-timeout", type=float, default=600.0, metavar="SECONDS",
                   help="with --distributed: how long a rank waits for the others in one "
                        "collective before it gives up (default 600)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--device", default=None,
                   help="where to measure, e.g. cuda (default: the CPU)")
    p.add_argument("--data-dir", default=None,
                   help="where the runs' dataset files are, if they moved since training")
    p.set_defaults(func=main)


def measure_config(args: argparse.Namespace) -> MeasureConfig:
    """The :class:`~landscape.compare.MeasureConfig` of ``--quick`` / ``--samples``."""
    from landscape.compare import MeasureConfig

    cfg = MeasureConfig.quick() if args.quick else MeasureConfig()
    return dataclasses.replace(cfg, num_samples=args.samples) if args.samples else cfg


def study_runs(args: argparse.Namespace) -> list[str]:
    """``--runs`` (each checked to exist), or every finished training run of the file."""
    from landscape.store import Study

    with Study(args.file, "r") as study:
        if args.runs:
            for run in args.runs:
                study.run(run)  # a clear error for a missing run
            return list(args.runs)
        attrs = {r: study.run_attrs(r) for r in study.runs()}
    runs = [r for r, a in attrs.items()
            if a.get("status") == "finished" and isinstance(a.get("config"), dict)]
    if not runs:
        raise ConfigError(f"{args.file} has no finished training runs")
    return runs


def measure_choice(args: argparse.Namespace) -> tuple[list[str] | None,
                                                     dict[str, dict[str, object]]]:
    """The measures of ``--measures`` (after importing ``--plugin`` modules) and the settings
    of ``--set``."""
    import importlib

    from landscape.cli._common import parse_value
    from landscape.compare import registry

    for module in getattr(args, "plugin", []) or []:
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise ConfigError(f"cannot import plugin {module!r}: {err}") from err
    names = None
    if getattr(args, "measures", None):
        names = [n.strip() for n in args.measures.split(",") if n.strip()]
        registry.resolve(names)  # a clear error for an unknown name
    settings: dict[str, dict[str, object]] = {}
    for item in getattr(args, "set", None) or []:
        name, _, value = item.partition("=")
        measure, _, key = name.partition(".")
        if not key or not _:
            raise ConfigError(f"--set wants MEASURE.KEY=VALUE, got {item!r}")
        registry.get(measure).settings({key: None})  # a clear error for an unknown setting
        settings.setdefault(measure, {})[key] = parse_value(value)
    return names, settings


def main(args: argparse.Namespace) -> int:
    from landscape.compare import measure_runs

    cfg, runs = measure_config(args), study_runs(args)
    names, settings = measure_choice(args)
    if names is not None:
        unknown = sorted(set(settings) - set(names))
        if unknown:
            raise ConfigError(f"--set names measures not in --measures: {unknown}")
    with contextlib.ExitStack() as stack:
        executor, rank, device = None, 0, args.device
        if args.distributed:
            if args.workers > 1 or args.scheduler is not None:
                raise ConfigError("--distributed measures one run at a time on every rank; it "
                                  "does not combine with --workers or --scheduler")
            from landscape.cli._torchrun import process_group

            rank, device = stack.enter_context(process_group(args.device, args.dist_timeout))
        if args.scheduler is not None:
            from landscape.cluster import dask_executor

            executor = stack.enter_context(dask_executor(args.scheduler))
        quiet = args.quiet or rank > 0
        results = measure_runs(args.file, runs, measures=names, settings=settings, config=cfg,
                               workers=args.workers, executor=executor, device=device,
                               data_dir=args.data_dir, overwrite=args.overwrite,
                               progress=not quiet, plugins=tuple(args.plugin),
                               log=(print if rank == 0 else _silent) if quiet else None)
    if rank > 0:
        return 0
    for r in results:
        s = r.scalars()
        print(f"{r.run}: " + ", ".join(f"{k} {v:.4g}" for k, v in s.items()))
    return 0


def _silent(line: str) -> None:
    """The per-run lines of ranks other than 0 (rank 0 prints them)."""
