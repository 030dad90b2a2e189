"""Minima across objectives on Fashion-MNIST: clean labels, label noise and class imbalance.

Trains the same MLP with the same optimiser and budget (SGD + momentum 0.9, cosine schedule)
under cross-entropy and each alternative objective — MSE, the Crammer–Singer hinge, label
smoothing (ε = 0.1), focal (γ = 2), GCE (q = 0.7), SCE, IMAE (``direction="ce"``), the
logit-adjusted loss (τ = 1, the class counts of its training set) and SAM (ρ = 0.05 on CE) —
under three conditions: clean labels; 40% symmetric label noise (exact counts per class); and an
exponential long tail with imbalance 100 (class sizes n_max·100^(−c/9)). Every minimum is
measured with :func:`landscape.compare.measure_minimum` (local energy of training loss and error,
flat-minimum width, worst-case L2 sharpness, local entropy, Hessian top eigenvalue and trace,
generalisation gap; under label noise the gap uses the clean training labels, under the long
tail the test set is balanced), and each measure gets one figure with all objectives side by
side, one panel per condition, in the fixed colour per objective. Loss-based measures are in
each objective's own units (compare conditions within an objective, and objectives only
loosely); δ training error and the width share one scale. Runs and measurements go into one
study file, so a rerun skips finished work and resumes an interrupted one.

Sizes and run times (2 shared CPU cores, one torch thread):

``--quick``: MLP 784-32-32-10, 10 objectives × 3 conditions × seed 0 = 30 runs; 1000 clean or
noisy training samples, a long tail of 492 samples (class sizes 200 … 2) from a stratified
2000-sample source, 1000 test samples; 12 epochs at batch 32, lr 0.05; ``MeasureConfig.quick()``
on 200 training samples. Measured: 103 s (training 25 s, measuring 61 s).

Full: MLP 784-256-256-10, 11 objectives (``hinge_ww`` too) × 3 conditions × seeds {0, 1, 2} =
99 runs; 10 000 clean or noisy training samples, a long tail of about 4900 samples (class sizes
2000 … 20) from a stratified 20 000-sample source, the full test set; 60 epochs at batch 128,
lr 0.05; the default ``MeasureConfig`` on 1000 training samples. Measured with ``--seeds 1``
(33 runs, while another analysis ran on the second core): 2758 s in all, training 18-34 s per
run (934 s) and measuring 55 s per run (1813 s); seeds 1 and 2 took 3041 s and 3786 s (the
second core busier), so the full mode takes 2.7 h on one core. (The extrapolation from the quick
run, 3 + 3 min per run, was 4x too pessimistic.)

Outputs (``--figures``, PNG and PDF): ``objectives_minima_local_energy`` (δE(σ) of training
error and loss, objectives overlaid, one column per condition), ``objectives_minima_<measure>``
for ``width``, ``sharpness``, ``local_entropy``, ``lambda_max``, ``trace`` and ``gap``; the
tables go to ``objectives_minima.md``.

    python analyses/objectives_minima.py [--quick] [--seeds 3] [--objectives ce,mse,...]
        [--out results/objectives_minima.h5] [--figures figures]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from _deep_common import (
    CONDITIONS,
    RunSpec,
    add_common_args,
    condition_data,
    describe_model,
    fashion_mnist,
    save_figure,
    seed_band,
    set_threads,
    study_path,
    train_and_measure,
    write_markdown,
)
from matplotlib.lines import Line2D

from landscape.compare import MeasureConfig, MinimumMeasures, measures_table
from landscape.compare import plots as P
from landscape.plot._style import plt

STEM = "objectives_minima"
OBJECTIVES = ("ce", "mse", "hinge_cs", "label_smoothing", "focal", "gce", "sce", "imae",
              "logit_adjusted", "sam")
QUICK = {"objectives": OBJECTIVES, "seeds": 1, "train": 1000, "long_tail_source": 2000,
         "test": 1000, "epochs": 12, "batch_size": 32, "lr": 0.05}
FULL = {"objectives": (*OBJECTIVES[:3], "hinge_ww", *OBJECTIVES[3:]), "seeds": 3,
        "train": 10000, "long_tail_source": 20000, "test": None, "epochs": 60,
        "batch_size": 128, "lr": 0.05}
#: The scalar figures: measure key → file suffix and y label (with units).
FIGURES = {
    "width": ("width", "flat-minimum width: σ where δ training error reaches the threshold "
                       "(relative weight noise)"),
    "sharpness": ("sharpness", "worst-case loss increase in the L2 ball (objective units)"),
    "local_entropy": ("local_entropy", "local entropy ΔΦ at the smallest γ (nats; 0 = flat)"),
    "lambda_max": ("lambda_max", "largest Hessian eigenvalue λ_max (objective units)"),
    "trace": ("trace", "Hessian trace (objective units)"),
    "error_gap": ("gap", "error gap: test − training error (fraction)"),
}


def measure_config(quick: bool) -> MeasureConfig:
    if quick:
        return dataclasses.replace(MeasureConfig.quick(), num_samples=200)
    return MeasureConfig(num_samples=1000)


def plot_local_energy(groups: Mapping[str, Sequence[MinimumMeasures]]) -> plt.Figure:
    """δE(σ) of the training error (top, one shared scale) and loss (bottom, objective units),
    one column per condition, every objective overlaid (mean over seeds, 95% band)."""
    n = len(groups)
    objectives = list(dict.fromkeys(r.objective for rs in groups.values() for r in rs))
    fig, axes = plt.subplots(2, n, figsize=(4.6 * n + 2.4, 7.4), squeeze=False, sharex=True,
                             sharey="row")
    loss_values = []
    for col, (label, rs) in enumerate(groups.items()):
        for obj in objectives:
            mine = [r for r in rs if r.objective == obj]
            if not mine:
                continue
            sig = np.sort(mine[0].local_energy.sigmas)
            c = P.objective_color(obj)
            for row, (attr, se_attr) in enumerate((("error_delta", "error_stderr"),
                                                   ("delta", "stderr"))):
                curves, ses = [], []
                for r in mine:
                    order = np.argsort(r.local_energy.sigmas)
                    curves.append(getattr(r.local_energy, attr)[order])
                    ses.append(getattr(r.local_energy, se_attr)[order])
                mean, half = seed_band(np.array(curves), np.array(ses))
                keep = sig > 0 if row == 1 else np.ones(sig.shape, bool)  # δ(0) = 0: no log
                if row == 1:
                    loss_values.extend(mean[keep].tolist())
                ax = axes[row, col]
                ax.plot(sig[keep], mean[keep], color=c, lw=1.4, marker=".", ms=4)
                ax.fill_between(sig[keep], (mean - half)[keep], (mean + half)[keep], color=c,
                                alpha=0.15, lw=0)
        axes[0, col].set_title(label)
        axes[1, col].set_xlabel("σ (multiplicative weight noise, relative)")
        for row in range(2):
            axes[row, col].axhline(0.0, color="0.6", lw=0.8)
            axes[row, col].grid(alpha=0.3, which="both")
    P.auto_log_scale(list(axes[1]), loss_values)
    finite = np.array([v for v in loss_values if np.isfinite(v)])
    scale = axes[1, 0].get_yscale()
    if finite.size and scale == "log":  # bands reaching below the axis are cut, not zoomed out
        axes[1, 0].set_ylim(finite.min() / 3, finite.max() * 3)
    elif finite.size and scale == "symlog":  # no empty negative decades below the data
        lin = axes[1, 0].yaxis.get_transform().linthresh
        axes[1, 0].set_ylim(min(finite.min(), 0.0) - lin, finite.max() * 3)
    axes[0, 0].set_ylabel("δ training error (fraction)")
    axes[1, 0].set_ylabel("δ training loss (objective units)")
    handles = [Line2D([], [], color=P.objective_color(o), lw=2, label=P.objective_label(o)
                      + (" (≈ CE on balanced data)" if o == "logit_adjusted" else ""))
               for o in objectives]
    axes[0, -1].legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1))
    seeds = {r.seed for rs in groups.values() for r in rs}
    band = "95% bands over the noise draws" if len(seeds) == 1 else \
        f"mean of {len(seeds)} seeds, 95% bands over the seeds"
    fig.suptitle(f"local energy of the minima: mean increase under weight noise ({band}; "
                 "lower = flatter)")
    fig.tight_layout()
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser, STEM, workers=True)
    parser.add_argument("--seeds", type=int, default=None,
                        help="number of seeds (default 1 quick, 3 full)")
    parser.add_argument("--objectives", default=None,
                        help="comma-separated registry names (default: all of the analysis)")
    args = parser.parse_args()
    set_threads(args.threads)
    start = time.perf_counter()
    size = QUICK if args.quick else FULL
    objectives = [o.strip() for o in args.objectives.split(",")] if args.objectives \
        else list(size["objectives"])
    seeds = range(args.seeds if args.seeds is not None else size["seeds"])
    path = study_path(args, STEM)
    full_train, train_data, test_data = fashion_mnist(size["train"], size["test"])
    data = {c: condition_data(c, train_data, full_train, size["long_tail_source"])
            for c in CONDITIONS}
    print(f"Fashion-MNIST, {describe_model('mlp', args.quick)}, {size['epochs']} epochs, "
          f"batch {size['batch_size']}, lr {size['lr']:g}; {len(test_data)} test samples; "
          f"training sets: " + "; ".join(f"{CONDITIONS[c]}: {len(d)} samples"
                                         for c, d in data.items()))
    print(f"long-tail class counts: {data['longtail100'].class_counts.tolist()}")
    specs = [RunSpec("mlp", o, s, size["batch_size"], size["lr"], condition=c)
             for c in CONDITIONS for o in objectives for s in seeds]
    print(f"{len(specs)} runs ({len(objectives)} objectives × {len(CONDITIONS)} conditions × "
          f"{len(seeds)} seed(s)) -> {path}")
    config = measure_config(args.quick)
    specs, trained, results, measured = train_and_measure(
        path, specs, lambda spec: data[spec.condition], test_data, size["epochs"], config, args)
    groups = {CONDITIONS[c]: [r for r, s in zip(results, specs) if s.condition == c]
              for c in CONDITIONS}

    folder = Path(args.figures)
    figures = [save_figure(plot_local_energy(groups), folder, f"{STEM}_local_energy")]
    for key, (suffix, ylabel) in FIGURES.items():
        title = None if key != "error_gap" else (
            "generalisation gap of the minima by objective (training error on the clean labels "
            "under label noise; balanced test set under the long tail)")
        fig = P.plot_measure_by_condition(groups, key, ylabel=ylabel, title=title)
        figures.append(save_figure(fig, folder, f"{STEM}_{suffix}"))
    settings = (f"σ* = {config.reference_sigma:g}, width at δ training error = "
                f"{config.width_threshold:g} ({100 * config.confidence:.0f}% CI), sharpness at "
                f"ρ = {config.rho:g}, ΔΦ at γ = {min(config.gammas):g}, measured on "
                f"{config.num_samples} training samples")
    sections = [(f"{label} ({settings})", measures_table(rs)) for label, rs in groups.items()
                if rs]
    md = write_markdown(folder / f"{STEM}.md", "Minima across objectives on Fashion-MNIST",
                        sections)
    for heading, table in sections:
        print(f"\n{heading}:")
        print(table)
    print(f"\nfigures (PNG and PDF): {', '.join(map(str, figures))}; tables: {md}")
    end = time.perf_counter()
    print(f"done in {end - start:.0f} s (training {trained:.0f} s, measuring {measured:.0f} s)")


if __name__ == "__main__":
    main()
