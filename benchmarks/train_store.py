"""What writing a study costs during training, measured side by side in one run.

For each problem this trains the same model twice per repetition, interleaved: in memory only, and
writing every epoch to a study file (history, resume state, trajectory checkpoints), and prints the
per-epoch times and their ratio. Also prints the time of one evaluation pass over the training set.

    python benchmarks/train_store.py [--repeats 3] [--threads 2] [--fashion]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from landscape.data import load_splits, subset
from landscape.models import build
from landscape.objectives import get
from landscape.train import TrainConfig, evaluate, train


def _problem(name: str) -> tuple[object, object, dict]:
    if name == "digits":
        tr, te = load_splits("digits", seed=0)
        return tr, te, {"depth": 2, "width": 64}
    tr, te = load_splits("fashion-mnist")
    return subset(tr, 5000, seed=0), te, {"depth": 2, "width": 256}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--fashion", action="store_true", help="add Fashion-MNIST (5000 samples)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    problems = ["digits"] + (["fashion-mnist"] if args.fashion else [])
    print(f"torch {torch.__version__}, {args.threads} threads, {args.epochs} epochs, "
          f"median of {args.repeats} interleaved repetitions")
    for name in problems:
        tr, te, kw = _problem(name)
        config = TrainConfig(epochs=args.epochs, batch_size=64, seed=0, checkpoint_every=1)
        times: dict[str, list[float]] = {"memory": [], "study": []}
        with tempfile.TemporaryDirectory() as tmp:
            for rep in range(args.repeats + 1):  # the first repetition warms up
                for mode in ("memory", "study"):
                    model = build("mlp", tr.input_shape, tr.num_classes, seed=0, **kw)
                    t0 = time.perf_counter()
                    if mode == "memory":
                        train(model, get("ce"), tr, te, config, progress=False)
                    else:
                        train(model, get("ce"), tr, te, config, progress=False,
                              study=Path(tmp) / f"{rep}.h5", run="r")
                    if rep:
                        times[mode].append((time.perf_counter() - t0) / args.epochs)
            t0 = time.perf_counter()
            for _ in range(5):
                evaluate(model, tr, get("ce"))
            t_eval = (time.perf_counter() - t0) / 5
        mem, st = statistics.median(times["memory"]), statistics.median(times["study"])
        params = sum(p.numel() for p in model.parameters())
        print(f"{name:14s} n={len(tr):5d} P={params:7d}: epoch in memory {1e3 * mem:7.1f} ms, "
              f"with study file {1e3 * st:7.1f} ms, ratio {st / mem:5.2f}x; "
              f"one evaluation pass {1e3 * t_eval:6.1f} ms")


if __name__ == "__main__":
    main()
