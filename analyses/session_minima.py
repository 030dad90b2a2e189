"""Minima of a session recommender under four objectives: ranking quality against flatness.

Trains ``session_gnn`` (:mod:`landscape.models.session_gnn`) on next-item prediction under
cross-entropy, label smoothing (ε = 0.1), sampled softmax (100 uniform negatives with the log-Q
correction; 50 in ``--quick``) and the noise-robust GCE (q = 0.7), with seeds 0..S−1, on the
built-in ``synthetic-sessions`` (or DIGINETICA with ``--dataset diginetica --data-dir DIR``),
then measures every minimum with :func:`landscape.compare.measure_runs`: local energy (δ training
error and loss at σ* = 0.3 under multiplicative noise), worst-case L2 sharpness, the Hessian's
top eigenvalue and trace, of the whole model and of its item-embedding, GNN and attention blocks
(the diagonal Hessian blocks, other parameters held fixed; ``hessian_top`` / ``hessian_trace``
with ``params`` = ``embedding.*``, ``gnn.*``, ``attention.*``). The error of the error-based
measures is the top-1 error ``1 − Recall@1`` (the error every measure of landscape uses: a
perturbation that moves the target out of first place counts; ``1 − Recall@20`` saturates at 0
near any reasonable minimum and hides the landscape). Loss-based measures are in each
objective's own units; the sampled softmax is measured under the full cross-entropy it
estimates.

Outputs: ``session_minima.png``/``.pdf`` (test Recall@20 against each measure, one colour per
objective) and ``session_minima.md`` (the table), in ``--figures``; the runs and measurements
in ``--out`` (a rerun skips finished work).

Sizes (2 shared CPU cores, one torch thread): ``--quick``: 800 sessions over 200 items
(≈ 3200 training prefixes), hidden 32, 4 epochs, 2 seeds, ``MeasureConfig.quick()``. Full: the
default world (4000 sessions, 500 items, ≈ 16 000 training prefixes), hidden 64, 15 epochs,
3 seeds, the default ``MeasureConfig`` on 1000 training samples: 57 min on one core beside other
jobs (training 19 min, the measures 20 min, the per-block spectra 17 min); ``--quick`` 58 s.

    python analyses/session_minima.py [--quick] [--seeds 3] [--out results/session_minima.h5]
        [--figures figures] [--dataset synthetic-sessions|diginetica] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from landscape.compare import MeasureConfig, measure_runs
from landscape.compare.plots_style import objective_color, objective_label
from landscape.data import load
from landscape.models import build
from landscape.objectives import get
from landscape.store import Study
from landscape.train import TrainConfig, train

OBJECTIVES = {"ce": {}, "label_smoothing": {"epsilon": 0.1},
              "sampled_softmax": {"num_negatives": 100}, "gce": {"q": 0.7}}
MEASURES = ["local_energy", "sharpness", "hessian_top", "hessian_trace"]
#: Parameter blocks (globs over ``session_gnn``'s parameter names) measured on their own.
BLOCKS = {"embedding": "embedding.*", "GNN": "gnn.*", "attention": "attention.*"}
COLUMNS = [("local_energy_error", "δ train error at σ* = 0.3"),
           ("sharpness", "worst-case sharpness (own loss)"),
           ("lambda_max", "Hessian λ_max (own loss)"), ("trace", "Hessian trace (own loss)")]


def _data(args: argparse.Namespace) -> tuple:
    kw = {"data_dir": args.data_dir} if args.data_dir else {}
    if args.dataset == "synthetic-sessions" and args.quick:
        kw.update(num_sessions=800, num_items=200)
    return load(args.dataset, "train", **kw), load(args.dataset, "test", **kw)


def _train_all(args: argparse.Namespace) -> list[tuple[str, str, int]]:
    train_data, test_data = _data(args)
    runs = []
    for name, params in OBJECTIVES.items():
        params = {**params, "num_negatives": 50} if args.quick and "num_negatives" in params \
            else params
        for seed in range(args.seeds):
            run = f"{name}-seed{seed}"
            model = build("session_gnn", train_data.input_shape, train_data.num_classes,
                          seed=seed, hidden=32 if args.quick else 64)
            config = TrainConfig(epochs=4 if args.quick else 15, batch_size=64,
                                 optimizer="adam", lr=3e-3, seed=seed)
            h = train(model, get(name, **params), train_data, test_data, config,
                      study=args.out, run=run, progress=False).history
            print(f"  {run:<24} test Recall@20 {h['test_recall_at_20'][-1]:.3f}  "
                  f"MRR@20 {h['test_mrr_at_20'][-1]:.3f}", flush=True)
            runs.append((run, name, seed))
    return runs


def _block_measures(args: argparse.Namespace, runs: list, glob: str) -> list:
    """λ_max and trace of the Hessian block of the parameters matching ``glob``, per run."""
    config = MeasureConfig.quick() if args.quick else MeasureConfig(num_samples=1000)
    settings = {"hessian_top": {"params": glob}, "hessian_trace": {"params": glob}}
    return measure_runs(args.out, [r for r, _, _ in runs], measures=list(settings),
                        settings=settings, config=config, progress=False, log=lambda _: None)


def _table(args: argparse.Namespace, runs: list, measured: list) -> list[dict]:
    rows = []
    blocks = {b: _block_measures(args, runs, glob) for b, glob in BLOCKS.items()}
    with Study(args.out) as study:
        for k, ((run, name, seed), m) in enumerate(zip(runs, measured)):
            hist = study.run(run)["history"]
            row = {"run": run, "objective": name, "seed": seed,
                   "recall": float(hist["test_recall_at_20"][-1]),
                   "mrr": float(hist["test_mrr_at_20"][-1])}
            row.update({key: float(v) for key, v in m.scalars().items()})
            row.update({f"{key}_ci": (float(lo), float(hi))
                        for key, (lo, hi) in m.intervals().items()})
            for b, ms in blocks.items():
                scalars = ms[k].scalars()
                row[f"lambda_max[{b}]"] = float(scalars["lambda_max"])
                row[f"trace[{b}]"] = float(scalars["trace"])
            rows.append(row)
    cols = COLUMNS + [(f"{m}[{b}]", f"{m} {b}") for b in BLOCKS for m in ("lambda_max", "trace")]
    lines = ["| run | objective | seed | test Recall@20 | test MRR@20 | "
             + " | ".join(label for _, label in cols) + " |",
             "|:--|:--|--:|--:|--:|" + "--:|" * len(cols)]
    for r in rows:
        lines.append(f"| {r['run']} | {r['objective']} | {r['seed']} | {r['recall']:.3f} | "
                     f"{r['mrr']:.3f} | "
                     + " | ".join(f"{r.get(k, np.nan):.4g}" for k, _ in cols) + " |")
    out = Path(args.figures) / "session_minima.md"
    out.write_text("# Session recommender: minima of four objectives\n\n"
                   f"{'quick' if args.quick else 'full'} run of analyses/session_minima.py on "
                   f"{args.dataset}\n\n" + "\n".join(lines) + "\n")
    print("\n".join(lines))
    return rows


def _figure(args: argparse.Namespace, rows: list[dict]) -> Path:
    fig, axes = plt.subplots(1, len(COLUMNS), figsize=(3.3 * len(COLUMNS), 3.6), sharey=True)
    for ax, (key, label) in zip(axes, COLUMNS):
        for name in OBJECTIVES:
            mine = [r for r in rows if r["objective"] == name]
            x = np.array([r.get(key, np.nan) for r in mine])
            ci = np.array([r.get(f"{key}_ci", (np.nan, np.nan)) for r in mine]).reshape(-1, 2)
            xerr = np.abs(np.stack([x - ci[:, 0], ci[:, 1] - x])) \
                if np.isfinite(ci).all() else None  # the 95% interval where the measure has one
            ax.errorbar(x, [r["recall"] for r in mine], xerr=xerr, fmt="o", capsize=2,
                        color=objective_color(name), label=objective_label(name))
        ax.set_xlabel(label, fontsize=8)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
    axes[0].set_ylabel("test Recall@20")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=len(OBJECTIVES),
               fontsize=8, frameon=False)
    fig.suptitle(f"session_gnn on {args.dataset}: ranking quality against flatness "
                 f"(seeds 0–{args.seeds - 1}; one value per run, 95% intervals where the "
                 "measure has one)", fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    Path(args.figures).mkdir(parents=True, exist_ok=True)
    out = Path(args.figures) / "session_minima.png"
    fig.savefig(out, dpi=150)
    fig.savefig(out.with_suffix(".pdf"))
    plt.close(fig)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--seeds", type=int, default=None)
    p.add_argument("--dataset", default="synthetic-sessions")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", default="results/session_minima.h5")
    p.add_argument("--figures", default="figures")
    args = p.parse_args()
    args.seeds = args.seeds or (2 if args.quick else 3)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.figures).mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    runs = _train_all(args)
    t1 = time.perf_counter()
    config = MeasureConfig.quick() if args.quick else MeasureConfig(num_samples=1000)
    measured = measure_runs(args.out, [r for r, _, _ in runs], measures=MEASURES, config=config,
                            progress=True)
    t2 = time.perf_counter()
    rows = _table(args, runs, measured)
    print(f"figure: {_figure(args, rows)}; training {t1 - t0:.0f} s, measuring {t2 - t1:.0f} s")


if __name__ == "__main__":
    main()
