"""Hessian spectra of the minima reached by different objectives on Fashion-MNIST.

Trains the same network with the same optimiser and budget (SGD + momentum 0.9, cosine
schedule) on a clean stratified subset of Fashion-MNIST under cross-entropy and the alternative
objectives of ``objectives_minima.py`` (MSE, Crammer–Singer hinge, label smoothing, focal, GCE,
SCE, IMAE with ``direction="ce"``, logit-adjusted, SAM), then measures the Hessian of each
run's own training loss at its minimum with :func:`landscape.compare.measure_minimum`:
the top-k eigenvalues (thick-restart Lanczos), the trace (Hutch++) and the spectral density
(stochastic Lanczos quadrature, smoothed with Papyan's kernel). The figures show the densities
on a log scale with the top eigenvalues marked as outliers: with C = 10 classes, a bulk near
zero and about C − 1 outliers (Papyan 2019/2020; Ghorbani et al. 2019) are expected for
cross-entropy, and how the objectives change the outliers is the question. Eigenvalues are in
each objective's own units (MSE's Hessian is on a different scale than CE's), so the overlay
also draws every density against λ/λ_max. Runs and measurements go into one study file, so a
rerun skips finished work and resumes an interrupted one.

Sizes and run times (2 shared CPU cores, one torch thread):

``--quick``: MLP 784-32-32-10, 10 objectives × seed 0 = 10 runs, 1000 training / 1000 test
samples, 12 epochs at batch 32, lr 0.05; Hessian on 300 training samples: top 12 eigenvalues,
trace with 30 products, density with 4 probes × 40 Lanczos steps. Measured: 37 s (training
10 s, Hessian 12 s); a rerun that only redraws: about 17 s.

Full: MLP 784-256-256-10 × 11 objectives (``hinge_ww`` too) × seeds {0, 1} = 22 runs, 10 000
training samples and the full test set, 60 epochs at batch 128, lr 0.05; Hessian on 2000
training samples: top 20 eigenvalues, trace with 200 products, density with 16 probes × 100
steps. Measured (one analysis per core): training 26-40 s and Hessian 160 s per run; seed 0
took 1877 s, seed 1 1944 s. ``--models mlp,lenet`` adds LeNet-5 (conv 6-16, fc 120-84), which a
CPU cannot do in a session: one Hessian-vector product on the 2000 samples takes 2.0 s against
the MLP's 0.22 s (measured, one thread; double backward through the convolutions), so the ~2000
products of a run take about 65 min, 24 h for the 22 LeNet runs. LeNet is left out of the full
default for that reason, not for lack of code: ``--quick --models lenet`` runs in a few minutes.

Outputs (``--figures``, PNG and PDF), per model: ``spectra_objectives_<model>`` (one panel per
objective: density on a log scale, ▲ top eigenvalues, λ_max dotted, the outliers shaded) and
``spectra_objectives_<model>_overlay`` (every density against λ/λ_max; the top eigenvalues by
rank on a log scale); the table goes to ``spectra_objectives.md``.

    python analyses/spectra_objectives.py [--quick] [--models mlp,lenet] [--seeds 2]
        [--out results/spectra_objectives.h5] [--figures figures]
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from _deep_common import (
    MODEL_LABELS,
    RunSpec,
    add_common_args,
    describe_model,
    fashion_mnist,
    save_figure,
    set_threads,
    study_path,
    train_runs,
    write_markdown,
)
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator
from objectives_minima import FULL as MINIMA_FULL
from objectives_minima import OBJECTIVES

from landscape.compare import MeasureConfig, measure_minimum
from landscape.compare import plots as P
from landscape.compare.minimum import Spectrum as SpectrumMeasurement
from landscape.compare.table import markdown
from landscape.plot._style import plt

STEM = "spectra_objectives"
QUICK = {"objectives": OBJECTIVES, "models": ("mlp",), "seeds": 1, "train": 1000, "test": 1000,
         "epochs": 12, "batch_size": 32, "lr": 0.05,
         "hessian": {"topk": 12, "tol": 1e-2, "trace_matvecs": 30, "num_probes": 4,
                     "num_steps": 40, "num_samples": 300}}
FULL = {"objectives": MINIMA_FULL["objectives"], "models": ("mlp",), "seeds": 2,
        "train": 10000, "test": None, "epochs": 60, "batch_size": 128, "lr": 0.05,
        "hessian": {"topk": 20, "tol": 1e-3, "trace_matvecs": 200, "num_probes": 16,
                    "num_steps": 100, "num_samples": 2000}}
FLOOR = 1e-6


@dataclass(frozen=True)
class Spectrum:
    """The Hessian measurement of one run with what the figures need."""

    spec: RunSpec
    measurement: SpectrumMeasurement
    train_error: float
    test_error: float

    @property
    def eigenvalues(self) -> np.ndarray:
        top = self.measurement.top
        return np.sort(np.asarray(top.eigenvalues, dtype=float))[::-1] if top is not None \
            else np.array([])

    @property
    def lambda_max(self) -> float:
        ev = self.eigenvalues
        return float(ev[0]) if ev.size else math.nan

    @property
    def trace(self) -> float:
        tr = self.measurement.trace
        return float(tr.estimate) if tr is not None else math.nan

    def lambda_min(self) -> float:
        """The smallest Ritz value of the SLQ runs (Lanczos finds the extremes first): a
        negative one of size comparable to λ_max means the point is not a smooth minimum."""
        d = self.measurement.density
        return float(np.nanmin(d.nodes)) if d is not None else math.nan


def measure(path: str, specs: Sequence[RunSpec], settings: dict, *, quiet: bool,
            device: str = "cpu") -> tuple[list[Spectrum], float]:
    from tqdm.auto import tqdm

    start = time.perf_counter()
    out = []
    asked = {"hessian_top": {"k": settings["topk"], "tol": settings["tol"]},
             "hessian_trace": {"num_matvecs": settings["trace_matvecs"]},
             "hessian_density": {"num_probes": settings["num_probes"],
                                 "num_steps": settings["num_steps"]}}
    config = MeasureConfig(num_samples=settings["num_samples"], seed=0)
    computed = 0
    for spec in tqdm(specs, desc="Hessian", unit="run", disable=quiet, leave=False):
        m = measure_minimum(path, spec.name, measures=[*asked, "gap"], settings=asked,
                            config=config, device=device)
        computed += bool(m.recomputed)
        out.append(Spectrum(spec, m.spectrum, m.gap.train_error, m.gap.test_error))
    print(f"measured {computed} Hessians, read {len(out) - computed} back from the study")
    return out, time.perf_counter() - start


def _density(s: Spectrum) -> tuple[np.ndarray, np.ndarray] | None:
    """The smoothed density (Papyan's kernel), clipped at zero (no floor yet)."""
    if s.measurement.density is None:
        return None
    d = s.measurement.density.density(preset="papyan")
    return d.grid, np.maximum(d.density, 0.0)


def plot_panels(spectra: Sequence[Spectrum], model: str, settings: dict) -> plt.Figure:
    """One panel per objective: the density (log y), the top eigenvalues marked."""
    objectives = list(dict.fromkeys(s.spec.objective for s in spectra))
    seeds = sorted({s.spec.seed for s in spectra})
    ncols = min(5, len(objectives))
    nrows = math.ceil(len(objectives) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 3.1 * nrows + 0.6),
                             squeeze=False, sharey=True)
    top = FLOOR
    for ax, obj in zip(axes.ravel(), objectives):
        c = P.objective_color(obj)
        for s in (s for s in spectra if s.spec.objective == obj):
            ls = ("-", "--", ":")[seeds.index(s.spec.seed) % 3]
            dens = _density(s)
            if dens is not None:
                ax.plot(dens[0], dens[1] + FLOOR, color=c, ls=ls, lw=1.0)
                top = max(top, float(dens[1].max()))
            ev = s.eigenvalues
            if ev.size:
                ax.plot(ev, np.full(ev.shape, 0.04), ls="none", marker="^", ms=5, mec=c,
                        mfc=c if s.spec.seed == seeds[0] else "white",
                        transform=ax.get_xaxis_transform(), clip_on=False)
                ax.axvline(ev[0], color=c, ls=":", lw=1.0)
                ax.axvspan(ev[-1], ev[0], color=c, alpha=0.08, lw=0)
        ax.set_yscale("log")
        ax.set_title(P.objective_label(obj), color=c, fontsize=10)
        ax.set_xlabel("Hessian eigenvalue λ (objective units)", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(5))
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3, which="major")
    axes[0, 0].set_ylim(FLOOR / 2, top * 3)  # shared: set once all densities are drawn
    for ax in axes.ravel()[len(objectives):]:
        ax.axis("off")
    for row in axes:
        row[0].set_ylabel(f"spectral density (+{FLOOR:g})")
    k = settings["topk"]
    fig.suptitle(f"{MODEL_LABELS[model]}: Hessian spectral density at the minimum of each "
                 f"objective (SLQ, {settings['num_probes']} probes × {settings['num_steps']} "
                 f"steps, Papyan smoothing; {settings['num_samples']} samples)\n▲ top {k} "
                 f"eigenvalues (Lanczos; shaded: their range, where the outliers lie), "
                 "dotted: λ_max"
                 + ("" if len(seeds) == 1 else f"; line style / open ▲: seeds {seeds}"))
    fig.tight_layout()
    return fig


def plot_overlay(spectra: Sequence[Spectrum], model: str) -> plt.Figure:
    """Left: every density against λ/λ_max (log y). Right: the top eigenvalues by rank."""
    objectives = list(dict.fromkeys(s.spec.objective for s in spectra))
    fig, (ax_d, ax_k) = plt.subplots(1, 2, figsize=(13, 4.8))
    for s in spectra:
        c = P.objective_color(s.spec.objective)
        dens = _density(s)
        lam = s.lambda_max
        if dens is not None and math.isfinite(lam) and lam > 0:
            ax_d.plot(dens[0] / lam, dens[1] * lam + FLOOR, color=c, lw=1.0)
        ev = s.eigenvalues
        if ev.size:
            ax_k.plot(np.arange(1, ev.size + 1), np.where(ev > 0, ev, np.nan), color=c,
                      marker="o", ms=3.5, lw=1.0)
    ax_d.set(yscale="log", xlabel="λ / λ_max (each minimum's own scale)",
             ylabel="spectral density in units of λ_max (+ floor)",
             title="shapes of the spectra (bulk near 0, outliers towards 1)")
    ax_d.set_ylim(bottom=FLOOR / 2)
    ax_d.set_xlim(-0.3, 1.1)
    num_classes = 10
    ax_k.axvline(num_classes - 0.5, color="0.5", ls="--", lw=0.8)
    ax_k.text(num_classes - 0.6, 0.97, "C − 1 = 9 outliers\nexpected (Papyan)", fontsize=8,
              transform=ax_k.get_xaxis_transform(), va="top", ha="right")
    ax_k.set(yscale="log", xlabel="rank i", ylabel="eigenvalue λ_i (objective units, log scale)",
             title="top Hessian eigenvalues (Lanczos)")
    ax_k.set_xticks(range(1, max(s.eigenvalues.size for s in spectra) + 1))
    for ax in (ax_d, ax_k):
        ax.grid(alpha=0.3, which="both")
    handles = [Line2D([], [], color=P.objective_color(o), lw=2, label=P.objective_label(o)
                      + (" (= CE on balanced data)" if o == "logit_adjusted" else ""))
               for o in objectives]
    ax_k.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.suptitle(f"{MODEL_LABELS[model]}: Hessian spectra of the minima of each objective")
    fig.tight_layout()
    return fig


def table(spectra: Sequence[Spectrum]) -> str:
    header = ["run", "objective", "seed", "train err", "test err", "λ_max", "λ_k (k-th top)",
              "λ_min (SLQ)", "tr H", "Σ top-k / tr H"]
    rows = []
    for s in spectra:
        ev = s.eigenvalues
        top_share = float(ev[ev > 0].sum()) / s.trace if ev.size and s.trace > 0 else math.nan
        rows.append([s.spec.name, s.spec.objective, str(s.spec.seed), f"{s.train_error:.4f}",
                     f"{s.test_error:.4f}", _num(s.lambda_max), _num(ev[-1] if ev.size else
                                                                     math.nan),
                     _num(s.lambda_min()), _num(s.trace), _num(top_share)])
    return markdown(header, rows, ["l", "l"] + ["r"] * (len(header) - 2))


def _num(v: float) -> str:
    if not math.isfinite(v):
        return "n/a"
    return f"{v:.3g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.2e}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser, STEM)
    parser.add_argument("--models", default=None,
                        help="comma-separated: mlp, lenet (default mlp; LeNet full needs "
                             "about 24 h of CPU)")
    parser.add_argument("--seeds", type=int, default=None,
                        help="number of seeds (default 1 quick, 2 full)")
    args = parser.parse_args()
    set_threads(args.threads)
    start = time.perf_counter()
    size = QUICK if args.quick else FULL
    models = [m.strip() for m in args.models.split(",")] if args.models else list(size["models"])
    seeds = range(args.seeds if args.seeds is not None else size["seeds"])
    path = study_path(args, STEM)
    _, train_data, test_data = fashion_mnist(size["train"], size["test"])
    specs = [RunSpec(m, o, s, size["batch_size"], size["lr"]) for m in models
             for o in size["objectives"] for s in seeds]
    hess = size["hessian"]
    print(f"Fashion-MNIST: {len(train_data)} training / {len(test_data)} test samples, "
          f"{', '.join(describe_model(m, args.quick) for m in models)}; {len(specs)} runs "
          f"({len(size['objectives'])} objectives × {len(seeds)} seed(s)), {size['epochs']} "
          f"epochs -> {path}")
    specs, trained = train_runs(path, specs, lambda spec: train_data, test_data,
                                size["epochs"], args.quick, quiet=args.quiet,
                                device=args.device)
    print(f"Hessian of each run's training loss on {hess['num_samples']} samples: top "
          f"{hess['topk']}, trace ({hess['trace_matvecs']} products), density "
          f"({hess['num_probes']} probes × {hess['num_steps']} steps)")
    spectra, measured = measure(path, specs, hess, quiet=args.quiet, device=args.device)
    folder = Path(args.figures)
    figures, sections = [], []
    for model in models:
        mine = [s for s in spectra if s.spec.model == model]
        if not mine:
            continue
        figures.append(save_figure(plot_panels(mine, model, hess), folder, f"{STEM}_{model}"))
        figures.append(save_figure(plot_overlay(mine, model), folder,
                                   f"{STEM}_{model}_overlay"))
        sections.append((f"{describe_model(model, args.quick)}: Hessian at the minimum "
                         f"(top {hess['topk']}, {hess['num_samples']} samples)", table(mine)))
    md = write_markdown(folder / f"{STEM}.md", "Hessian spectra across objectives", sections)
    for heading, body in sections:
        print(f"\n{heading}:")
        print(body)
    print(f"\nfigures (PNG and PDF): {', '.join(map(str, figures))}; tables: {md}")
    end = time.perf_counter()
    print(f"done in {end - start:.0f} s (training {trained:.0f} s, Hessian {measured:.0f} s)")


if __name__ == "__main__":
    main()
