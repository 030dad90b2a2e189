"""What tracking the curvature along training costs, and how accurate it is, in one run.

Trains the digits MLP (64-64-64-10, the training split of scikit-learn's digits, 1348 samples;
SGD, batch 128, 11 steps per epoch, the default ``TrainConfig``) without tracking and with
``track_curvature`` = 1 and 5 (the default tracking settings), interleaved, ``--repeats`` times
each, in memory and writing a study file as ``landscape train`` does. Prints the wall time per
epoch (epochs 1..E: training, evaluation, tracking and storing; epoch 0 with the cold-started
first measurement is a one-off) as median [quartiles] over the repeats, and the overhead: the
median [quartiles] of the per-repeat ratio tracked / untracked (each pair run back to back),
with the Hessian-vector products and block products per measurement.

Accuracy at the defaults: at every measured epoch of one tracked run, the tracked λ_max against
λ_max of the same subset's Hessian by float64 Lanczos converged to 1e-10 and, at
``--dense-epochs``, by ``eigvalsh`` of the dense float64 Hessian (P = 8970: built from P
products, ~1 min per epoch on one thread); the tracked trace against the exact one (the diagonal
from the P unit vectors) in units of its own standard error. Also the subset's statistical error:
λ_max on ``--subsets`` other subsets of the same size against λ_max of the whole training set.

    python benchmarks/tracking.py [--repeats 7] [--epochs 10] [--dense-epochs 1,10]

Timings on a shared machine drift: compare the ratios within one run.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import math
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from landscape._seeding import derive_seed, torch_generator
from landscape.data import load_splits, subset
from landscape.hessian import HessianOperator, trace
from landscape.hessian.lanczos import thick_restart_lanczos
from landscape.models import build
from landscape.objectives import get
from landscape.train import TrainConfig, loop, train
from landscape.train.tracking import TRACKED, CurvatureTracker

#: The tracking settings timed: the defaults every epoch and every 5 epochs, every epoch on half
#: the subset (128 samples), and the former method (``FORMER``) every epoch and every 5 epochs.
VARIANTS = {"every epoch (defaults)": {"track_curvature": 1},
            "every 5 epochs (defaults)": {"track_curvature": 5},
            "every epoch, 128 samples": {"track_curvature": 1, "track_samples": 128},
            "former, every epoch": {"track_curvature": 1, "former": True},
            "former, every 5 epochs": {"track_curvature": 5, "former": True}}

#: The settings of the former method: single-vector thick-restart Lanczos for the top 2 pairs to
#: 1e-3 from the sum of the previous two Ritz vectors, and a separate Hutch++ trace of 6 products.
FORMER = {"track_samples": 256, "track_tol": 1e-3, "track_top_k": 2, "track_trace_matvecs": 6}


class FormerTracker(CurvatureTracker):
    """The tracker as it measured before block Lanczos (kept here to time it side by side)."""

    def _measure(self, model: torch.nn.Module) -> dict[str, float]:
        c = self.config
        H = HessianOperator(model, self.loss_fn, (self.x, self.y), forward=self.forward)
        gen = torch_generator(c.seed, "track", "lanczos")
        start, budget = (torch.randn(H.shape[0], generator=gen, dtype=torch.float64), 300) \
            if self.vector is None else (self.vector, c.track_max_matvecs)
        pairs = thick_restart_lanczos(H, 2, ncv=20, tol=c.track_tol, max_matvecs=budget,
                                      start=start, generator=gen)
        self.vector = pairs.vectors.detach().sum(dim=1).cpu().clone()
        row = dict.fromkeys(TRACKED, math.nan)
        tr = trace(H, c.track_trace_matvecs, method="hutch++",
                   seed=derive_seed(c.seed, "track", "trace"))
        row.update(lambda_max=float(pairs.values[0]), hessian_trace=tr.estimate,
                   hessian_trace_stderr=tr.stderr, hvp_count=float(H.num_matvecs))
        H.release_cache()
        return row


@contextlib.contextmanager
def _tracker(former: bool) -> Iterator[None]:
    """Train with :class:`FormerTracker` inside (the loop looks the tracker class up by name)."""
    saved = loop.CurvatureTracker
    loop.CurvatureTracker = FormerTracker if former else saved  # type: ignore[misc]
    try:
        yield
    finally:
        loop.CurvatureTracker = saved  # type: ignore[misc]


def _model(data: tuple) -> torch.nn.Module:
    return build("mlp", data[0].input_shape, data[0].num_classes, seed=0, depth=2, width=64)


def _time(config: TrainConfig, data: tuple, study: Path | None, keep: list | None = None,
          former: bool = False) -> tuple[float, dict]:
    """Mean wall time of epochs 1..E as the loop runs them (the time between consecutive epoch
    callbacks), and the history; ``keep`` collects a copy of the weights at every epoch."""
    model = _model(data)
    stamps: list[float] = []

    def callback(epoch: int, row: dict) -> None:
        stamps.append(time.perf_counter())
        if keep is not None:
            keep.append(copy.deepcopy(model.state_dict()))

    with _tracker(former):
        result = train(model, get("ce"), *data, config, study=study,
                       run=None if study is None else "r", overwrite=True, progress=False,
                       callback=callback)
    return (stamps[-1] - stamps[0]) / config.epochs, result.history


def _quartiles(x: list[float] | np.ndarray) -> str:
    q1, q2, q3 = np.percentile(x, [25, 50, 75])
    return f"{q2:.3g} [{q1:.3g}, {q3:.3g}]"


def cost(plain: TrainConfig, data: tuple, repeats: int) -> None:
    """The overhead table, in memory and writing a study file."""
    configs, formers = {}, {}
    for name, v in VARIANTS.items():
        v = dict(v)
        formers[name] = bool(v.pop("former", False))
        configs[name] = replace(plain, **v, **(FORMER if formers[name] else {}))
    with tempfile.TemporaryDirectory() as tmp:
        for where in ("in memory", "writing a study file"):
            study = None if where == "in memory" else Path(tmp) / "s.h5"
            _time(configs["every epoch (defaults)"], data, study)  # warm-up
            times: dict[str, list[float]] = {k: [] for k in ["untracked", *configs]}
            ratios: dict[str, list[float]] = {k: [] for k in configs}
            hist: dict[str, dict] = {}
            for _ in range(repeats):
                for name, config in configs.items():  # each tracked run next to an untracked
                    base = _time(plain, data, study)[0]
                    seconds, hist[name] = _time(config, data, study, former=formers[name])
                    times["untracked"].append(base)
                    times[name].append(seconds)
                    ratios[name].append(seconds / base)
            print(f"{where}: untracked {_quartiles(1e3 * np.array(times['untracked']))} "
                  "ms/epoch")
            for name, h in hist.items():
                measured = np.isfinite(h["hvp_count"][1:])
                print(f"  {name:26s} {_quartiles(1e3 * np.array(times[name]))} ms/epoch, "
                      f"ratio {_quartiles(ratios[name])} (overhead median "
                      f"{100 * (np.median(ratios[name]) - 1):+.0f} %), "
                      f"{np.mean(h['hvp_count'][1:][measured]):.1f} HVPs per measurement")


def _exact(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, dense: bool,
           with_trace: bool = True) -> tuple[float, float, float]:
    """λ_max by float64 Lanczos (tol 1e-10), by dense ``eigvalsh`` (NaN unless ``dense``), and
    the exact trace (NaN unless ``with_trace``), of the float64 Hessian of the mean
    cross-entropy on ``(x, y)``."""
    model = copy.deepcopy(model).double().eval()
    H = HessianOperator(model, get("ce"), (x.double(), y))
    gen = torch.Generator().manual_seed(0)
    lam = thick_restart_lanczos(H, 1, ncv=30, tol=1e-10, max_matvecs=3000,
                                start=torch.randn(H.shape[0], generator=gen,
                                                  dtype=torch.float64), generator=gen).values[0]
    if not (dense or with_trace):
        return float(lam), float("nan"), float("nan")
    P, step = H.shape[0], 256
    tr, top = 0.0, float("nan")
    cols = []
    for s in range(0, P, step):
        E = torch.eye(P, dtype=torch.float64)[:, s: s + step]
        HE = H @ E
        tr += float(HE[s: s + step].diagonal().sum())
        if dense:
            cols.append(HE)
    if dense:
        D = torch.cat(cols, dim=1)
        top = float(torch.linalg.eigvalsh(0.5 * (D + D.t()))[-1])
    return float(lam), top, tr


def accuracy(plain: TrainConfig, data: tuple, dense_epochs: set[int]) -> None:
    """Tracked values at the defaults against exact ones, epoch by epoch."""
    config = replace(plain, track_curvature=1)
    weights: list[dict] = []
    _, h = _time(config, data, None, keep=weights)
    sub = subset(data[0], config.track_samples, seed=config.seed)
    model = _model(data)
    print(f"accuracy at the defaults (track_samples={config.track_samples}, "
          f"track_tol={config.track_tol}, track_top_k={config.track_top_k}, "
          f"track_trace_matvecs={config.track_trace_matvecs}), every epoch:")
    errs, dense_errs, z, tr_err, old_err = [], [], [], [], []
    for epoch, state in enumerate(weights):
        model.load_state_dict(state)
        lam, top, tr = _exact(model, sub.x, sub.y, epoch in dense_epochs)
        e = abs(h["lambda_max"][epoch] / lam - 1)
        errs.append(e)
        if np.isfinite(top):
            dense_errs.append(abs(h["lambda_max"][epoch] / top - 1))
        z.append((h["hessian_trace"][epoch] - tr) / h["hessian_trace_stderr"][epoch])
        tr_err.append(abs(h["hessian_trace"][epoch] / tr - 1))
        H = HessianOperator(model.eval(), get("ce"), (sub.x, sub.y))
        old_err.append(abs(trace(H, 6, method="hutch++", seed=derive_seed(
            config.seed, "track", "trace")).estimate / tr - 1))
        print(f"  epoch {epoch:2d}: λ_max {h['lambda_max'][epoch]:.5g} (rel. error {e:.1e}"
              + (f", vs eigvalsh {dense_errs[-1]:.1e}" if np.isfinite(top) else "")
              + f"; {h['lambda_max_matvecs'][epoch]:.0f} products), trace "
              f"{h['hessian_trace'][epoch]:.4g} ± {h['hessian_trace_stderr'][epoch]:.2g} "
              f"against {tr:.4g} (rel. error {tr_err[-1]:.2f}, {z[-1]:+.1f} stderr)")
    print(f"  λ_max rel. error: max {max(errs[1:]):.1e}, median {np.median(errs[1:]):.1e} over "
          f"epochs 1-{len(errs) - 1}" + (f"; against eigvalsh max {max(dense_errs):.1e}"
                                        if dense_errs else "")
          + f". Trace rel. error: median {np.median(tr_err):.2f}, max {max(tr_err):.2f}; "
          f"|error| / stderr: median {np.median(np.abs(z)):.1f}; the former default (Hutch++, 6 "
          f"products, 2 of them a sketch) at the same weights: median {np.median(old_err):.2f}, "
          f"max {max(old_err):.2f}")


def subset_error(plain: TrainConfig, data: tuple, epochs: list[int], num: int) -> None:
    """λ_max on ``num`` subsets (seeds 0..num-1) of ``track_samples`` against the whole set."""
    weights: list[dict] = []
    _time(plain, data, None, keep=weights)
    model = _model(data)
    print(f"statistical error of the {plain.track_samples}-sample subset (λ_max(subset) / "
          f"λ_max(all {len(data[0])}) − 1 over {num} subsets):")
    for epoch in epochs:
        model.load_state_dict(weights[epoch])
        full = _exact(model, data[0].x, data[0].y, False, False)[0]
        r = [(_exact(model, s.x, s.y, False, False)[0] / full - 1) for s in
             (subset(data[0], plain.track_samples, seed=seed) for seed in range(num))]
        print(f"  epoch {epoch:2d}: mean {np.mean(r):+.3f}, std {np.std(r, ddof=1):.3f}, "
              f"max |.| {np.max(np.abs(r)):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dense-epochs", default="1,10",
                        help="epochs checked against eigvalsh of the dense Hessian ('' none)")
    parser.add_argument("--subsets", type=int, default=6)
    parser.add_argument("--skip", default="", help="comma list of cost,accuracy,subset")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_splits("digits", seed=0)
    plain = TrainConfig(epochs=args.epochs)
    skip = set(args.skip.split(","))
    print(f"digits MLP 64-64-64-10, {len(data[0])} training samples, batch {plain.batch_size}, "
          f"{args.epochs} epochs, {args.threads} thread(s); {args.repeats} interleaved repeats: "
          "median [quartiles]")
    if "cost" not in skip:
        cost(plain, data, args.repeats)
    if "accuracy" not in skip:
        accuracy(plain, data, {int(e) for e in args.dense_epochs.split(",") if e})
    if "subset" not in skip:
        subset_error(plain, data, [1, args.epochs // 2, args.epochs], args.subsets)
    print("timings on a shared machine drift: compare the ratios within this run")


if __name__ == "__main__":
    main()
