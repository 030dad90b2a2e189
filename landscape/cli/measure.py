"""``landscape measure``: every measure of the minima of stored runs.

Runs :func:`landscape.compare.measure_minimum` on each run (local energy, width, sharpness, local
entropy, Hessian top eigenvalues, trace and density, and the gap), storing everything in the
study; a rerun reads it back, an interrupted one resumes. ``landscape correlate``
(:mod:`landscape.cli.correlate`) then ranks the measures against the gap.
"""

from __future__ import annotations

import argparse
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


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("measure", help="every measure of the minima of stored runs",
                       description="Measure the minimum of each run with "
                                   "landscape.compare.measure_minimum and store the results; a "
                                   "rerun reads them back, an interrupted one resumes.")
    add_config_args(p)
    p.add_argument("--overwrite", action="store_true",
                   help="recompute results stored with other settings")
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


def main(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from landscape.compare import STAGES, measure_minimum

    cfg, runs = measure_config(args), study_runs(args)
    with tqdm(total=len(runs) * len(STAGES), desc="measuring", unit="stage",
              disable=args.quiet) as bar:
        for run in runs:
            def advance(stage: str, run: str = run) -> None:
                bar.set_postfix_str(f"{run}: {stage}")
                bar.update(1)

            r = measure_minimum(args.file, run, config=cfg, overwrite=args.overwrite,
                                on_stage=advance, device=args.device,
                                data_dir=args.data_dir)
            s = r.scalars()
            what = f"computed {', '.join(r.recomputed)}" if r.recomputed else "stored"
            tqdm.write(f"{run}: {what}; error gap {s['error_gap']:.4f}, δerror(σ*) "
                       f"{s['local_energy_error']:.4f}, width {s['width']:.3g}, λ_max "
                       f"{s['lambda_max']:.4g}, tr H {s['trace']:.4g}, ΔΦ "
                       f"{s['local_entropy']:.4g}")
    return 0
