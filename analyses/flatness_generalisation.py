"""Flatness and generalisation on Fashion-MNIST: does any measure of a minimum rank the gap?

Trains many networks on a stratified subset of the Fashion-MNIST training set (small enough
that they overfit, so the generalisation gaps spread): an MLP and a LeNet-style CNN, several
objectives, several seeds and a few (batch size, learning rate) pairs, all with SGD + momentum
0.9 and a cosine schedule. Every minimum is then measured with
:func:`landscape.compare.measure_minimum` (local energy of training loss and error, flat-minimum
width, worst-case L2 sharpness, local entropy by SGLD, Hessian top eigenvalues, trace and
spectral density, and the generalisation gap), and each measure is rank-correlated with the
error and loss gaps across runs (Kendall τ-b with 95% bootstrap intervals over runs; Jiang et
al., ICLR 2020), over all runs and per architecture. Runs and measurements go into one study
file, so a rerun skips finished work and resumes an interrupted one.

Sizes and run times (2 shared CPU cores, one torch thread):

``--quick``: MLP 784-32-32-10 and a narrow LeNet (conv 4-8, fc 32-16) × {ce, label_smoothing}
× {(batch 32, lr 0.05), (batch 128, lr 0.1)} × seed 0 = 8 runs, 1000 training / 1000 test
samples, 12 epochs; ``MeasureConfig.quick()`` on 200 training samples. Measured: 87 s (training
16 s, measuring 59 s, most of it the four LeNets).

Full: MLP 784-256-256-10 and LeNet-5 (conv 6-16, fc 120-84) × {ce, mse, label_smoothing,
hinge_cs} × batch {32, 256} × lr {0.01, 0.05} × seeds {0, 1, 2} = 96 runs, 5000 training
samples and the full 10 000 test samples, 60 epochs; the default ``MeasureConfig`` on 1000
training samples. Measured for the MLPs (``--models mlp --seeds 1``, 16 runs, while another
analysis ran on the second core): 1240 s in all, training 14-26 s per run and measuring 57 s per
run; the extrapolation from the quick runs (3 + 3 min per MLP, 15 h in all) was 4-5x too
pessimistic. The LeNets are the expensive half: training 90-250 s per run (median 147 s, 48
runs), and measuring 406-614 s per run per worker with ``--workers 2`` (one MSE LeNet: local
energy and width about 60 s, sharpness 4 s, SGLD local entropy 314 s, Hessian top 9 s, trace
36 s, SLQ density 164 s), about 3.5 h for the 48. On a GPU (``--device cuda``; one H200,
one of these LeNets re-measured) one LeNet measurement takes 11.4 s (local energy 2.6 s, width
0.8 s, sharpness 0.3 s, SGLD 2.1 s, Hessian 5.6 s) and the quick mode 25 s. Runs
whose final training error stays above ``--max-train-error`` (0.5) are reported and left out.

Outputs (``--figures``, PNG and PDF): ``flatness_generalisation_correlations`` (τ of every
measure with both gaps, all runs), ``flatness_generalisation_correlations_by_model`` (τ with
the error gap over all runs, MLPs only, LeNets only), ``flatness_generalisation_granulated``
(Jiang et al.'s granulated Ψ with the error gap: the mean τ within the groups of runs where only
the objective, the batch size, the learning rate or the model varies, so that differences between
objectives cannot make a correlation on their own), ``flatness_generalisation_scatter``
(every measure against the error gap), ``flatness_generalisation_local_energy`` (δ training
error against σ, coloured by the gap), ``flatness_generalisation_spectra`` (Hessian spectral
densities and top eigenvalues per model and objective, coloured by the gap); the tables go to
``flatness_generalisation.md``.

    python analyses/flatness_generalisation.py [--quick] [--models mlp,lenet] [--seeds 3]
        [--out results/flatness_generalisation.h5] [--figures figures] [--workers 2]
        [--device cuda]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from collections.abc import Sequence
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
    train_and_measure,
    write_markdown,
)
from matplotlib.lines import Line2D

from landscape.compare import (
    DEFAULT_MEASURES,
    GranulatedKendall,
    MeasureConfig,
    MinimumMeasures,
    RankCorrelation,
    correlation_table,
    granulated_correlations,
    granulated_table,
    measures_table,
    rank_correlations,
    scalars,
)
from landscape.compare import plots as P
from landscape.plot._style import plt

STEM = "flatness_generalisation"
#: The flatness measures and the gaps of the default measure set, in registry order.
SCALAR_MEASURES = scalars(DEFAULT_MEASURES, flatness=True)
GAPS = scalars(DEFAULT_MEASURES, flatness=False)
QUICK = {"objectives": ("ce", "label_smoothing"), "hypers": ((32, 0.05), (128, 0.1)),
         "seeds": 1, "train": 1000, "test": 1000, "epochs": 12}
FULL = {"objectives": ("ce", "mse", "label_smoothing", "hinge_cs"),
        "hypers": ((32, 0.01), (32, 0.05), (256, 0.01), (256, 0.05)), "seeds": 3,
        "train": 5000, "test": None, "epochs": 60}
MODEL_MARKERS = {"mlp": "o", "lenet": "s"}
GRANULATED_HEADING = ("Granulated Kendall coefficient (Jiang et al. 2020): ψ = mean τ within the "
                      "groups of runs where only one hyper-parameter varies (same seed), Ψ = mean "
                      "of the ψ; 95% bootstrap CI over groups")


def measure_config(quick: bool) -> MeasureConfig:
    """One configuration for every run (so that the measures are comparable across runs)."""
    if quick:
        return dataclasses.replace(MeasureConfig.quick(), num_samples=200)
    return MeasureConfig(num_samples=1000)


def correlations_of(results: Sequence[MinimumMeasures], *, num_bootstrap: int = 2000
                    ) -> list[RankCorrelation]:
    scalars = [r.scalars() for r in results]
    return rank_correlations({m.key: [s[m.key] for s in scalars] for m in SCALAR_MEASURES},
                             {g.key: [s[g.key] for s in scalars] for g in GAPS},
                             num_bootstrap=num_bootstrap, seed=0)


#: Readable names of the hyper-parameter axes of the granulated coefficient.
AXIS_LABELS = {"objective": "objective", "batch_size": "batch size", "lr": "learning rate",
               "model": "model", "hyper": "(batch size, learning rate) pair"}


def granulated_of(results: Sequence[MinimumMeasures], specs: Sequence[RunSpec], *,
                  num_bootstrap: int = 2000) -> list[GranulatedKendall]:
    """Jiang et al.'s granulated Ψ of every measure with both gaps: the hyper-parameter axes are
    the objective, batch size, learning rate and model; each seed is a replicate grid. When the
    (batch size, learning rate) pairs are not a full grid (``--quick``), the pair is one axis."""
    scalars = [r.scalars() for r in results]
    batch, lr = [s.batch_size for s in specs], [s.lr for s in specs]
    if len(set(zip(batch, lr))) == len(set(batch)) * len(set(lr)):
        hypers: dict[str, list] = {"batch_size": batch, "lr": lr}
    else:
        hypers = {"hyper": [s.hyper for s in specs]}
    axes = {"objective": [s.objective for s in specs], **hypers,
            "model": [s.model for s in specs]}
    return granulated_correlations({m.key: [s[m.key] for s in scalars] for m in SCALAR_MEASURES},
                                   {g.key: [s[g.key] for s in scalars] for g in GAPS}, axes,
                                   strata={"seed": [s.seed for s in specs]},
                                   num_bootstrap=num_bootstrap, seed=0)


def by_model_correlations(results: Sequence[MinimumMeasures], specs: Sequence[RunSpec]
                          ) -> list[RankCorrelation]:
    """τ with the error gap over all runs and per model, the group written into ``gap``."""
    groups = {f"all runs (n = {len(results)})": list(results)}
    for model in dict.fromkeys(s.model for s in specs):
        rs = [r for r, s in zip(results, specs) if s.model == model]
        groups[f"{MODEL_LABELS[model]} only (n = {len(rs)})"] = rs
    out = []
    for label, rs in groups.items():
        out += [dataclasses.replace(c, gap=label) for c in correlations_of(rs)
                if c.gap == "error_gap"]
    return out


def plot_scatter(results: Sequence[MinimumMeasures], specs: Sequence[RunSpec],
                 correlations: Sequence[RankCorrelation]) -> plt.Figure:
    """Every scalar measure (y) against the error gap (x), one panel each."""
    taus = {c.measure: c for c in correlations if c.gap == "error_gap"}
    batch_sizes = sorted({s.batch_size for s in specs})
    lrs = sorted({s.lr for s in specs})
    fig, axes = plt.subplots(2, 4, figsize=(17, 8.2))
    flat = axes.ravel()
    for ax, m in zip(flat, SCALAR_MEASURES):
        values = []
        for r, s in zip(results, specs):
            x, y = r.gap.error_gap, r.scalars()[m.key]
            if not (math.isfinite(x) and math.isfinite(y)):
                continue
            values.append(y)
            interval = P.measure_interval(r, m.key)
            yerr = None
            if interval is not None and all(math.isfinite(v) for v in interval):
                yerr = [[max(y - interval[0], 0.0)], [max(interval[1] - y, 0.0)]]
            c = P.objective_color(r.objective)
            filled = s.batch_size == batch_sizes[0]
            ax.errorbar(x, y, yerr=yerr, fmt=MODEL_MARKERS[s.model], color=c, mec=c,
                        mfc=c if filled else "white", ms=5 + 2 * lrs.index(s.lr), capsize=2,
                        lw=0.8, alpha=0.85)
        if m.log and values:
            P.auto_log_scale([ax], values)
        t = taus.get(m.key)
        tau = (f"τ = {t.tau:+.2f} [{t.ci_low:+.2f}, {t.ci_high:+.2f}]"
               if t is not None and math.isfinite(t.tau) else "τ = n/a")
        ax.set_title(f"{m.label} ({m.flatter} = flatter)\n{tau}", fontsize=10)
        ax.set_ylabel(_wrap(m.axis_label, 40), fontsize=8)
        ax.set_xlabel("error gap (test − training error)")
        ax.grid(alpha=0.3, which="both")
    legend = flat[-1]
    legend.axis("off")
    objectives = list(dict.fromkeys(r.objective for r in results))
    handles = [Line2D([], [], ls="none", marker="o", color=P.objective_color(o),
                      label=P.objective_label(o)) for o in objectives]
    handles += [Line2D([], [], ls="none", marker=MODEL_MARKERS[m], color="0.3",
                       label=MODEL_LABELS[m]) for m in dict.fromkeys(s.model for s in specs)]
    handles += [Line2D([], [], ls="none", marker="o", color="0.3",
                       mfc="0.3" if i == 0 else "white", label=f"batch {b}")
                for i, b in enumerate(batch_sizes)]
    handles += [Line2D([], [], ls="none", marker="o", color="0.3", ms=5 + 2 * i,
                       label=f"lr {lr:g}") for i, lr in enumerate(lrs)]
    legend.legend(handles=handles, loc="center", fontsize=9, frameon=False,
                  title="colour: objective; marker: model;\nfill: batch size; size: lr")
    n = len(results)
    fig.suptitle(f"each measure of the minimum against the generalisation gap ({n} runs; "
                 "bars: 95% CIs where the measure has one; τ: Kendall, 95% bootstrap CI)")
    fig.tight_layout()
    return fig


def plot_local_energy_by_gap(results: Sequence[MinimumMeasures], specs: Sequence[RunSpec]
                             ) -> plt.Figure:
    """δ training error against σ, one panel per model, each curve coloured by its error gap."""
    models = list(dict.fromkeys(s.model for s in specs))
    gaps = np.array([r.gap.error_gap for r in results])
    norm = plt.Normalize(float(np.nanmin(gaps)), float(np.nanmax(gaps)))
    cmap = plt.get_cmap("viridis")
    fig, axes = plt.subplots(1, len(models), figsize=(5.2 * len(models) + 1.2, 4.3),
                             squeeze=False, sharey=True, layout="constrained")
    for ax, model in zip(axes[0], models):
        for r, s in zip(results, specs):
            if s.model != model:
                continue
            le = r.local_energy
            order = np.argsort(le.sigmas)
            sig, d = le.sigmas[order], le.error_delta[order]
            band = 1.96 * np.nan_to_num(le.error_stderr[order], nan=0.0)
            c = cmap(norm(r.gap.error_gap))
            ax.plot(sig, d, color=c, lw=1.2, marker=".", ms=3)
            ax.fill_between(sig, d - band, d + band, color=c, alpha=0.12, lw=0)
        ax.axhline(0.0, color="0.6", lw=0.8)
        ax.set_title(MODEL_LABELS[model])
        ax.set_xlabel("σ (multiplicative weight noise, relative)")
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("δ training error (fraction)")
    sm = plt.cm.ScalarMappable(norm=norm, cmap=cmap)
    fig.colorbar(sm, ax=list(axes[0]), label="error gap (test − training error)", pad=0.02)
    fig.suptitle("local energy of the training error: mean increase under weight noise, "
                 "95% bands over the draws")
    return fig


def plot_spectra_by_gap(results: Sequence[MinimumMeasures], specs: Sequence[RunSpec], *,
                       floor: float = 1e-7) -> plt.Figure:
    """Hessian spectral densities (SLQ, log scale), one panel per model (rows) and objective
    (columns, each in its own loss units), every curve and its top eigenvalues (▲) coloured by
    the run's error gap."""
    models = list(dict.fromkeys(s.model for s in specs))
    objectives = list(dict.fromkeys(s.objective for s in specs))
    gaps = np.array([r.gap.error_gap for r in results])
    norm = plt.Normalize(float(np.nanmin(gaps)), float(np.nanmax(gaps)))
    cmap = plt.get_cmap("viridis")
    fig, axes = plt.subplots(len(models), len(objectives), squeeze=False, sharey="row",
                             figsize=(3.3 * len(objectives) + 1.4, 3.2 * len(models) + 0.6),
                             layout="constrained")
    for i, model in enumerate(models):
        for j, objective in enumerate(objectives):
            ax = axes[i, j]
            for r, s in zip(results, specs):
                if s.model != model or s.objective != objective:
                    continue
                c = cmap(norm(r.gap.error_gap))
                if r.spectrum.density is not None:
                    d = r.spectrum.density.density(preset="papyan")
                    ax.plot(d.grid, d.density + floor, color=c, lw=0.9)
                if r.spectrum.top is not None:
                    eig = r.spectrum.top.eigenvalues
                    ax.plot(eig, np.full(eig.shape, 0.04), ls="none", marker="^", ms=4,
                            color=c, transform=ax.get_xaxis_transform())
            ax.set_yscale("log")
            ax.grid(alpha=0.3, which="both")
            ax.set_title(f"{MODEL_LABELS[model]}, {P.objective_label(objective)}", fontsize=9,
                         color=P.objective_color(objective))
            if i == len(models) - 1:
                ax.set_xlabel("Hessian eigenvalue λ (objective units)")
        axes[i, 0].set_ylabel(f"spectral density (+{floor:g}, log)")
    sm = plt.cm.ScalarMappable(norm=norm, cmap=cmap)
    fig.colorbar(sm, ax=list(axes.ravel()), label="error gap (test − training error)",
                 pad=0.01, shrink=0.8)
    c = results[0].config
    fig.suptitle(f"Hessian spectral density (SLQ, {c.density_probes} probes × "
                 f"{c.density_steps} Lanczos steps) and the top {c.topk} eigenvalues (▲),"
                 + ("\n" if len(objectives) < 4 else " ") + "coloured by the error gap")
    return fig


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser, STEM, workers=True)
    parser.add_argument("--models", default="mlp,lenet", help="comma-separated: mlp, lenet")
    parser.add_argument("--seeds", type=int, default=None,
                        help="number of seeds (default 1 quick, 3 full)")
    parser.add_argument("--max-train-error", type=float, default=0.5,
                        help="leave out runs whose final training error is above this (they "
                             "did not reach a minimum; default 0.5, chance is 0.9)")
    args = parser.parse_args()
    set_threads(args.threads)
    start = time.perf_counter()
    size = QUICK if args.quick else FULL
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    seeds = range(args.seeds if args.seeds is not None else size["seeds"])
    path = study_path(args, STEM)
    _, train_data, test_data = fashion_mnist(size["train"], size["test"])
    specs = [RunSpec(model, objective, seed, bs, lr) for model in models
             for objective in size["objectives"] for bs, lr in size["hypers"] for seed in seeds]
    print(f"Fashion-MNIST: {len(train_data)} training / {len(test_data)} test samples; "
          f"{', '.join(describe_model(m, args.quick) for m in models)}; {len(specs)} runs "
          f"({', '.join(size['objectives'])} × {len(size['hypers'])} (batch, lr) × "
          f"{len(seeds)} seed(s)), {size['epochs']} epochs -> {path}")
    config = measure_config(args.quick)
    specs, trained, results, measured = train_and_measure(
        path, specs, lambda spec: train_data, test_data, size["epochs"], config, args)
    kept = [(r, s) for r, s in zip(results, specs) if r.gap.train_error <= args.max_train_error]
    for r in results:
        if r.gap.train_error > args.max_train_error:
            print(f"left out {r.run}: training error {r.gap.train_error:.3f} > "
                  f"{args.max_train_error:g} (not a minimum)")
    results, specs = [r for r, _ in kept], [s for _, s in kept]

    correlations = correlations_of(results)
    by_model = by_model_correlations(results, specs)
    granulated = granulated_of(results, specs)
    folder = Path(args.figures)
    figures = [
        save_figure(P.plot_correlations(correlations), folder, f"{STEM}_correlations"),
        save_figure(_retitle(P.plot_correlations(by_model), "group"), folder,
                    f"{STEM}_correlations_by_model"),
        save_figure(P.plot_granulated([g for g in granulated if g.gap == "error_gap"],
                                      axis_labels=AXIS_LABELS), folder, f"{STEM}_granulated"),
        save_figure(plot_scatter(results, specs, correlations), folder, f"{STEM}_scatter"),
        save_figure(plot_local_energy_by_gap(results, specs), folder, f"{STEM}_local_energy"),
        save_figure(plot_spectra_by_gap(results, specs), folder, f"{STEM}_spectra"),
    ]
    run_table = measures_table(results)
    corr_table = correlation_table(correlations)
    model_table = correlation_table(by_model)
    granulated_md = granulated_table(granulated, AXIS_LABELS)
    settings = (f"σ* = {config.reference_sigma:g}, width at δ training error = "
                f"{config.width_threshold:g} ({100 * config.confidence:.0f}% CI), sharpness at "
                f"ρ = {config.rho:g}, ΔΦ at γ = {min(config.gammas):g}, measured on "
                f"{config.num_samples} training samples")
    md = write_markdown(folder / f"{STEM}.md", "Flatness and generalisation on Fashion-MNIST", [
        (f"Measures per minimum ({settings})", run_table),
        (f"Kendall τ with the generalisation gap ({len(results)} runs, 95% bootstrap CI)",
         corr_table),
        ("Kendall τ with the error gap, by model (the 'gap' column names the group)",
         model_table),
        (GRANULATED_HEADING, granulated_md),
    ])
    print(f"\nmeasures per minimum ({settings}):")
    print(run_table)
    print(f"\nKendall τ with the generalisation gap ({len(results)} runs, 95% bootstrap CI):")
    print(corr_table)
    print("\nKendall τ with the error gap, by model (the 'gap' column names the group):")
    print(model_table)
    print(f"\n{GRANULATED_HEADING}:")
    print(granulated_md)
    print(f"\nfigures (PNG and PDF): {', '.join(map(str, figures))}; tables: {md}")
    end = time.perf_counter()
    print(f"done in {end - start:.0f} s (training {trained:.0f} s, measuring {measured:.0f} s)")


def _retitle(fig: plt.Figure, legend_title: str) -> plt.Figure:
    """Rename the legend of :func:`plots.plot_correlations` drawn with groups as 'gaps'."""
    ax = fig.axes[0]
    leg = ax.get_legend()
    if leg is not None:
        leg.set_title(legend_title)
    ax.set_title("Kendall τ of each measure with the error gap, over all runs and per model")
    return fig


if __name__ == "__main__":
    main()
