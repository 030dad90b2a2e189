"""``landscape demo``: the main job on built-in data (scikit-learn's 8×8 digits).

Trains small MLPs (64-64-64-10) under five objectives — cross-entropy, MSE, the Crammer–Singer
multiclass hinge, label smoothing and the noise-robust generalised cross-entropy (GCE) — with two
seeds each, into ``results/demo.h5``; then measures every minimum with
:func:`landscape.compare.measure_minimum`: the local energy of training loss and error under
multiplicative weight noise, the flat-minimum width, the worst-case (L2) sharpness, the local
entropy by SGLD, the Hessian's top eigenvalues, trace and spectral density, and the generalisation
gap; prints a table of the measures and of their Kendall rank correlations with the gap, and draws
``results/figures/demo_*.png`` (one figure per measure, from the measure registry). Rerunning
skips finished runs and stored measurements. Measurements of
such small models run fastest on one thread, which is the default here (``landscape --threads N
demo`` to change it).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

DEMO_OBJECTIVES = ("ce", "mse", "hinge_cs", "label_smoothing", "gce")
DEMO_SEEDS = (0, 1)

def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="the main job: compare the minima of five objectives on "
                                    "digits", description=__doc__)
    p.add_argument("--quick", action="store_true",
                   help="few epochs and rough measurements (well under a minute)")
    p.add_argument("--epochs", type=int, default=None, help="override the number of epochs")
    p.add_argument("--out", default="results/demo.h5", help="study file (results/demo.h5)")
    p.add_argument("--figures", default="results/figures",
                   help="folder of the figures (results/figures)")
    p.add_argument("--overwrite", action="store_true",
                   help="retrain runs that exist and recompute their measurements")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    import torch

    from landscape._progress import progress
    from landscape.compare import (
        MeasureConfig,
        correlation_table,
        measure_runs,
        measures_table,
        rank_correlations,
        registry,
    )
    from landscape.data import load_splits
    from landscape.models import build
    from landscape.objectives import get
    from landscape.train import TrainConfig, train

    start = time.perf_counter()
    if getattr(args, "threads", None) is None:
        torch.set_num_threads(1)
    epochs = args.epochs if args.epochs is not None else (8 if args.quick else 60)
    train_data, test_data = load_splits("digits", seed=0)
    runs = [(f"mlp-{name}-seed{seed}", name, seed) for name in DEMO_OBJECTIVES
            for seed in DEMO_SEEDS]
    print(f"digits: {len(train_data)} training and {len(test_data)} test samples, "
          f"{train_data.num_classes} classes; {len(runs)} runs ({', '.join(DEMO_OBJECTIVES)} × "
          f"seeds {', '.join(map(str, DEMO_SEEDS))}), {epochs} epochs each, "
          f"{torch.get_num_threads()} thread(s) -> {args.out}")
    bar = progress(runs, desc="training", unit="run", quiet=args.quiet)
    for run, name, seed in bar:
        bar.set_postfix_str(run)
        model = build("mlp", train_data.input_shape, train_data.num_classes, seed=seed,
                      depth=2, width=64)
        config = TrainConfig(epochs=epochs, batch_size=64, lr=0.05, seed=seed,
                             checkpoint_every=max(1, epochs // 10))
        h = train(model, get(name), train_data, test_data, config, study=args.out, run=run,
                  overwrite=args.overwrite, progress=False).history
        bar.write(f"  {run:26s} train loss {h['train_loss'][-1]:.3e}  train acc "
                   f"{h['train_acc'][-1]:.4f}  test acc {h['test_acc'][-1]:.4f}")
    bar.close()
    trained = time.perf_counter()

    measure_config = MeasureConfig.quick() if args.quick else MeasureConfig()
    print(f"measuring {len(runs)} minima: local energy (σ ≤ {max(measure_config.sigmas):g}, "
          f"{measure_config.num_draws} draws), width, sharpness (ρ = {measure_config.rho:g}), "
          f"local entropy (γ = {', '.join(f'{g:g}' for g in measure_config.gammas)}), Hessian "
          f"(top {measure_config.topk}, trace, density)")
    results = measure_runs(args.out, [run for run, _, _ in runs], config=measure_config,
                           overwrite=args.overwrite, progress=not args.quiet,
                           log=lambda line: None)
    fresh = sum(bool(r.recomputed) for r in results)
    print(f"measured {fresh} minima, read {len(results) - fresh} back from the study")
    measured = time.perf_counter()

    scalars = [r.scalars() for r in results]
    correlations = rank_correlations(
        {m.key: [s[m.key] for s in scalars] for m in registry.scalars(flatness=True)
         if m.key in scalars[0]},
        {g.key: [s[g.key] for s in scalars] for g in registry.scalars(flatness=False)
         if g.key in scalars[0]}, seed=0)
    figures = _figures(args.out, results, correlations, Path(args.figures), quiet=args.quiet)
    print()
    print("measures per minimum (σ* = "
          f"{measure_config.reference_sigma:g}, width at δ training error = "
          f"{measure_config.width_threshold:g} with its {100 * measure_config.confidence:.0f}% "
          f"CI, sharpness at ρ = {measure_config.rho:g}, ΔΦ at γ = "
          f"{min(measure_config.gammas):g}):")
    print(measures_table(results))
    print()
    print(f"Kendall rank correlation with the generalisation gap ({len(results)} runs, "
          "bootstrap CI):")
    print(correlation_table(correlations))
    print()
    print(f"figures: {', '.join(str(f) for f in figures)}")
    end = time.perf_counter()
    print(f"done in {end - start:.0f} s (training {trained - start:.0f} s, measuring "
          f"{measured - trained:.0f} s, figures and tables {end - measured:.0f} s)")
    return 0


def _figures(path: str, results: list, correlations: list, folder: Path, *,
             quiet: bool) -> list[Path]:
    """Draw every figure of the demo into ``folder``: the training curves, one figure per
    measure (:func:`landscape.compare.report.measure_figures`) and the correlations."""
    from landscape.compare import plots
    from landscape.compare.report import measure_figures

    drawn = [folder / "demo_training.png"]
    plots.plot_training(path, [r.run for r in results], out=drawn[0],
                        title="digits, MLP 64-64-64-10: five objectives, two seeds")
    drawn += measure_figures(results, folder, "demo_", progress=not quiet)
    drawn.append(folder / "demo_correlations.png")
    plots.plot_correlations(correlations, out=drawn[-1])
    return drawn
