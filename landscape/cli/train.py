"""``landscape train``: train one network under an objective into a study file."""

from __future__ import annotations

import argparse
import re
from typing import Any

from landscape.cli._common import (
    add_data_arguments,
    add_model_arguments,
    build_model,
    key_values,
    load_data,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a network under an objective into a study file",
                       description="Train a network and store it, its history and provenance "
                                   "in an HDF5 study file. Rerunning resumes an interrupted run "
                                   "and skips a finished one.")
    add_data_arguments(p)
    add_model_arguments(p)
    g = p.add_argument_group("training")
    g.add_argument("--objective", default="ce", help="objective name (landscape objectives)")
    g.add_argument("--objective-param", action="append", metavar="KEY=VALUE",
                   help="objective parameter, repeatable (e.g. temperature=2)")
    g.add_argument("--epochs", type=int, default=20, help="training epochs (default 20)")
    g.add_argument("--batch-size", type=int, default=128, help="mini-batch size (default 128)")
    g.add_argument("--optimizer", default="sgd", choices=["sgd", "adam", "adamw"],
                   help="optimiser (default sgd)")
    g.add_argument("--lr", type=float, default=0.05, help="initial learning rate (default 0.05)")
    g.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default 0.9)")
    g.add_argument("--weight-decay", type=float, default=0.0,
                   help="L2 weight decay (default 0)")
    g.add_argument("--schedule", default="cosine", choices=["constant", "cosine", "step"],
                   help="learning-rate schedule over the epochs (default cosine)")
    g.add_argument("--seed", type=int, default=0, help="seed of initialisation and training")
    g.add_argument("--checkpoint-every", type=int, default=0, metavar="EPOCHS",
                   help="store the weights on the trajectory every EPOCHS epochs")
    t = p.add_argument_group("curvature along training")
    t.add_argument("--track-curvature", type=track_every, default=(0, "epoch"),
                   metavar="EVERY",
                   help="measure lambda_max (warm-started block Lanczos) and the Hessian "
                        "trace (Hutch++ on its basis) every EVERY epochs, or every N optimiser "
                        "steps as 'Nsteps' (e.g. 5, 5epochs, 10steps); stored in the run's "
                        "history")
    t.add_argument("--track-samples", type=int, default=256, metavar="N",
                   help="fixed training subset the curvature is measured on (0: all; default "
                        "%(default)s)")
    t.add_argument("--track-trace-matvecs", type=int, default=4,
                   metavar="M",
                   help="trace probes per measurement (0: no trace; default "
                        "%(default)s)")
    t.add_argument("--track-local-energy", type=float, default=0.0, metavar="SIGMA",
                   help="also track the local energy of the training loss at this sigma "
                        "(multiplicative noise; default 0: off)")
    o = p.add_argument_group("output")
    o.add_argument("--out", default="results/study.h5", help="study file (default %(default)s)")
    o.add_argument("--run", default=None, help="run name (default MODEL-OBJECTIVE-seedSEED)")
    o.add_argument("--overwrite", action="store_true", help="retrain a run that exists")
    o.add_argument("--plot", default=None, metavar="PNG", help="draw the training curves there")
    o.add_argument("--quiet", action="store_true",
                   help="no progress (a bar on a terminal, a line per epoch in a log)")
    p.set_defaults(func=main)


def track_every(text: str) -> tuple[int, str]:
    """Parse ``--track-curvature``: ``N``, ``Nepochs`` or ``Nsteps`` → ``(N, unit)``."""
    match = re.fullmatch(r"\s*(\d+)\s*(epochs?|steps?)?\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"expected N, Nepochs or Nsteps, got {text!r}")
    return int(match.group(1)), "step" if (match.group(2) or "").startswith("step") else "epoch"


def parameters_of(name: str, parameters: Any) -> dict[str, Any]:
    """The objective's parameters, or none for an unknown name (``get`` then says what exists)."""
    try:
        return parameters(name)
    except KeyError:
        return {}


def main(args: argparse.Namespace) -> int:
    import numpy as np

    from landscape.objectives import get, parameters
    from landscape.plot import training_curves
    from landscape.train import TrainConfig, train

    train_data, test_data = load_data(args)
    params = key_values(args.objective_param, "--objective-param")
    if "class_counts" in parameters_of(args.objective, parameters) and "class_counts" not in params:
        params["class_counts"] = train_data.class_counts.tolist()  # the observed training prior
    objective = get(args.objective, **params)
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, optimizer=args.optimizer,
                         lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay,
                         schedule=args.schedule, seed=args.seed,
                         checkpoint_every=args.checkpoint_every,
                         track_curvature=args.track_curvature[0],
                         track_unit=args.track_curvature[1], track_samples=args.track_samples,
                         track_trace_matvecs=args.track_trace_matvecs,
                         track_local_energy=args.track_local_energy)
    model = build_model(args, train_data, args.seed)
    run = args.run or f"{args.model}-{args.objective}-seed{args.seed}"
    result = train(model, objective, train_data, test_data, config, study=args.out, run=run,
                   overwrite=args.overwrite, progress=not args.quiet)
    h = result.history
    if config.epochs == 0:
        state = "nothing trained (--epochs 0), the initialisation evaluated"
    else:
        state = ("already finished" if result.resumed_from == config.epochs else
                 f"resumed after epoch {result.resumed_from}"
                 if result.resumed_from is not None else f"trained {config.epochs} epochs")
    print(f"{run}: {state}; train loss {h['train_loss'][-1]:.4g}, train acc "
          f"{h['train_acc'][-1]:.4f}, test acc {h['test_acc'][-1]:.4f} -> {args.out}")
    lam = result.tracking.get("lambda_max", h.get("lambda_max"))
    if lam is not None and np.isfinite(lam).any():
        hvps = result.tracking.get("hvp_count", h.get("hvp_count"))
        print(f"lambda_max {lam[np.isfinite(lam)][-1]:.4g} at the end (2/lr = "
              f"{2 / config.lr:.4g} at the initial lr); {int(np.nansum(hvps))} Hessian-vector "
              "products in all")
    if args.plot:
        training_curves(args.out, [run], out=args.plot)
        print(f"curves: {args.plot}")
    return 0
