"""What tracking the curvature along training costs, measured side by side in one run.

Trains the digits MLP (64-64-64-10, the training split of scikit-learn's digits, 1348 samples;
SGD, batch 128, the default ``TrainConfig``) without tracking and with
``track_curvature=1`` (every epoch, the default tracking settings: λ_max by warm-started Lanczos
and a 6-product Hutch++ trace on a 256-sample subset), interleaved, ``--repeats`` times each, in
memory and writing a study file as ``landscape train`` does. Prints the wall time per
epoch of each (epochs 1..E: training, evaluation, tracking and storing; epoch 0 with the
cold-started first measurement is a one-off), their ratio (the overhead), the Hessian-vector
products per epoch and the error of the tracked λ_max against a converged one.

    python benchmarks/tracking.py [--repeats 5] [--epochs 10] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from landscape.data import load_splits
from landscape.models import build
from landscape.objectives import get
from landscape.train import TrainConfig, train

#: Tracking settings compared: the defaults every epoch and every 5 epochs, λ_max alone, and a
#: budget of 3 products per warm-started λ_max measurement on 128 samples (each continues from
#: the last one's vector).
VARIANTS = {
    "default (λ_max tol 1e-3, trace 6)": {},
    "default, every 5 epochs": {"track_curvature": 5},
    "λ_max only, tol 1e-3": {"track_trace_matvecs": 0},
    "λ_max only, tol 1e-2": {"track_trace_matvecs": 0, "track_tol": 1e-2},
    "λ_max only, ≤ 3 products, 128 samples": {"track_trace_matvecs": 0, "track_max_matvecs": 3,
                                              "track_samples": 128},
}


def _time(config: TrainConfig, data: tuple, study: Path | None) -> tuple[float, dict]:
    """Mean wall time of epochs 1..E as the loop runs them (training, evaluation, tracking,
    storing: the time between consecutive epoch callbacks), and the history. Epoch 0 (the
    initial evaluation and the cold-started first measurement) is a one-off left out."""
    model = build("mlp", data[0].input_shape, data[0].num_classes, seed=0, depth=2, width=64)
    stamps: list[float] = []
    result = train(model, get("ce"), *data, config, study=study,
                   run=None if study is None else "r", overwrite=True, progress=False,
                   callback=lambda epoch, row: stamps.append(time.perf_counter()))
    return (stamps[-1] - stamps[0]) / config.epochs, result.history


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_splits("digits", seed=0)
    plain = TrainConfig(epochs=args.epochs)
    configs = {k: replace(plain, **{"track_curvature": 1, **v}) for k, v in VARIANTS.items()}
    exact = {c.track_samples: _time(replace(c, track_tol=1e-9, track_max_matvecs=300), data,
                                    None)[1]["lambda_max"] for c in configs.values()}
    print(f"digits MLP 64-64-64-10, {len(data[0])} training samples, batch {plain.batch_size}, "
          f"{args.epochs} epochs, {args.threads} thread(s), median of {args.repeats} "
          "interleaved repeats; tracking every epoch (track_curvature=1)")
    with tempfile.TemporaryDirectory() as tmp:
        for where in ("in memory", "writing a study file"):
            study = None if where == "in memory" else Path(tmp) / "s.h5"
            _time(configs[next(iter(configs))], data, study)  # warm-up
            times: dict[str, list[float]] = {k: [] for k in ["untracked", *configs]}
            histories: dict[str, dict] = {}
            for _ in range(args.repeats):
                times["untracked"].append(_time(plain, data, study)[0])
                for name, config in configs.items():
                    seconds, histories[name] = _time(config, data, study)
                    times[name].append(seconds)
            base = statistics.median(times["untracked"])
            print(f"{where}: untracked {1e3 * base:.1f} ms/epoch")
            for name, h in histories.items():
                t = statistics.median(times[name])
                err = np.abs(h["lambda_max"] / exact[configs[name].track_samples] - 1)
                every = configs[name].track_curvature
                print(f"  {name:38s} {1e3 * t:6.1f} ms/epoch  ratio {t / base:.2f} (overhead "
                      f"{100 * (t / base - 1):+4.0f} %)  HVPs/epoch "
                      f"{np.nansum(h['hvp_count'][1:]) / args.epochs:4.1f}  λ_max rel. error "
                      f"{np.nanmax(err[every::every]):.1e} (max over epochs {every}-"
                      f"{args.epochs}, against tol 1e-9)")
    print("timings on a shared machine drift: compare the ratios within this run")


if __name__ == "__main__":
    main()
