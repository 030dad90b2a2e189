"""``landscape demo``: the main job on built-in data (scikit-learn's 8×8 digits).

Trains small MLPs under cross-entropy and mean squared error over two seeds, writes them with their
histories and provenance into ``results/demo.h5``, draws the training curves into
``figures/demo_training.png``, then measures how flat each minimum is: the local energy of the
training error (its increase under multiplicative weight noise of size σ, Pittorino et al. 2021),
which compares minima of different objectives on a common scale, drawn into
``figures/demo_flatness.png``. Rerunning skips finished runs and stored measurements.
"""

from __future__ import annotations

import argparse
from pathlib import Path

DEMO_OBJECTIVES = ("ce", "mse")
DEMO_SEEDS = (0, 1)
DEMO_SIGMAS = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="the main job: train small MLPs on digits under CE and MSE",
                       description=__doc__)
    p.add_argument("--quick", action="store_true", help="few epochs (under a minute)")
    p.add_argument("--epochs", type=int, default=None, help="override the number of epochs")
    p.add_argument("--out", default="results/demo.h5")
    p.add_argument("--figures", default="figures")
    p.add_argument("--overwrite", action="store_true", help="retrain runs that exist")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from landscape.data import load_splits
    from landscape.models import build
    from landscape.objectives import get
    from landscape.plot import training_curves
    from landscape.train import TrainConfig, train

    epochs = args.epochs if args.epochs is not None else (8 if args.quick else 60)
    train_data, test_data = load_splits("digits", seed=0)
    print(f"digits: {len(train_data)} training and {len(test_data)} test samples, "
          f"{train_data.num_classes} classes; {epochs} epochs per run -> {args.out}")
    runs = []
    for objective_name in DEMO_OBJECTIVES:
        for seed in DEMO_SEEDS:
            run = f"mlp-{objective_name}-seed{seed}"
            model = build("mlp", train_data.input_shape, train_data.num_classes, seed=seed,
                          depth=2, width=64)
            config = TrainConfig(epochs=epochs, batch_size=64, lr=0.05, seed=seed,
                                 checkpoint_every=max(1, epochs // 10))
            result = train(model, get(objective_name), train_data, test_data, config,
                           study=args.out, run=run, overwrite=args.overwrite,
                           progress=False if args.quiet else None)
            h = result.history
            print(f"  {run:18s} train loss {h['train_loss'][-1]:.4g}  train acc "
                  f"{h['train_acc'][-1]:.4f}  test acc {h['test_acc'][-1]:.4f}")
            runs.append(run)
    fig_path = Path(args.figures) / "demo_training.png"
    training_curves(args.out, runs, out=fig_path,
                    title="digits, MLP 64-64-64-10: cross-entropy vs MSE, two seeds")
    print(f"training curves: {fig_path}")
    draws = 8 if args.quick else 32
    print(f"flatness: local energy of the training error, multiplicative noise, {draws} draws "
          "per σ")
    curves = {run: _local_energy(args.out, run, draws) for run in runs}
    for run, le in curves.items():
        at = {float(s): float(d) for s, d in zip(le.sigmas, le.error_delta)}
        print(f"  {run:18s} δerror(σ=0.1) {at[0.1]:+.4f}  δerror(σ=0.2) {at[0.2]:+.4f}  "
              f"δerror(σ=0.3) {at[0.3]:+.4f}")
    flat_path = Path(args.figures) / "demo_flatness.png"
    _plot_flatness(curves, flat_path)
    print(f"flatness curves: {flat_path}")
    return 0


def _local_energy(path: str, run: str, draws: int) -> object:
    from landscape._measure import batches, prepare
    from landscape.flatness import local_energy_to_study

    setup = prepare(path, run)
    return local_energy_to_study(path, run, "local_energy-multiplicative", setup.model,
                                 setup.loss_fn, batches(setup.data, setup.model, None),
                                 DEMO_SIGMAS, draws, noise="multiplicative", seed=0)


def _plot_flatness(curves: dict, out: Path) -> None:
    from landscape.plot import save
    from landscape.plot._style import plt

    fig, ax = plt.subplots(figsize=(6, 4.2))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (run, le) in enumerate(curves.items()):
        band = 1.96 * le.error_stderr
        ax.plot(le.sigmas, le.error_delta, "o-", ms=3, color=colors[k], label=run)
        ax.fill_between(le.sigmas, le.error_delta - band, le.error_delta + band,
                        color=colors[k], alpha=0.2)
    ax.axhline(0.0, color="0.6", lw=0.8)
    ax.set(xlabel="σ (multiplicative weight noise)", ylabel="δ training error (local energy)",
           title="flatness of the minima: lower is flatter (95% bands)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save(fig, out)
