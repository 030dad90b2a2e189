"""``landscape hessian``: Hessian spectrum of a stored run (top-k, trace, density), plotted."""

from __future__ import annotations

import argparse

from landscape.cli._common import DTYPES


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("hessian", help="Hessian spectrum of a stored run: top-k, trace, density",
                       description="Measure the Hessian (or GGN) spectrum of a trained run on its "
                                   "training data and store it in the study file; a rerun with "
                                   "the same settings loads the stored results.")
    p.add_argument("file", help="study file")
    p.add_argument("--run", required=True, help="run name in the study file")
    p.add_argument("--topk", type=int, default=10, help="largest eigenpairs (default 10; 0 skips)")
    p.add_argument("--bottomk", type=int, default=0, help="smallest eigenpairs")
    p.add_argument("--tol", type=float, default=1e-4, help="relative residual tolerance")
    p.add_argument("--trace", action="store_true", help="Hutch++ trace estimate")
    p.add_argument("--trace-matvecs", type=int, default=99,
                   help="Hessian-vector products of the trace estimate (default 99)")
    p.add_argument("--density", action="store_true", help="spectral density by SLQ")
    p.add_argument("--probes", type=int, default=10,
                   help="random probe vectors of the density (default 10)")
    p.add_argument("--steps", type=int, default=80,
                   help="Lanczos steps per probe of the density (default 80)")
    p.add_argument("--params", default=None, metavar="PATTERN",
                   help="glob over parameter names selecting a block, e.g. 'hidden.0.*'")
    p.add_argument("--blocks", nargs="?", const="auto", default=None,
                   choices=["auto", "layer", "type"],
                   help="the spectral density of every Hessian block, plotted side by side: "
                        "each layer, or each transformer block type (query, key, value, output, "
                        "mlp, embedding, norm, head); 'auto' picks type for transformers")
    p.add_argument("--ggn", action="store_true", help="generalised Gauss-Newton instead")
    p.add_argument("--samples", type=int, default=None, metavar="N",
                   help="measure on a fixed stratified subset of N training samples")
    p.add_argument("--batch-size", type=int, default=None, help="stream the data in batches")
    p.add_argument("--dtype", default="float64", choices=sorted(DTYPES),
                   help="precision of the measurement (default float64)")
    p.add_argument("--device", default=None,
                   help="where to measure, e.g. cuda (default: the CPU)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the random starts and probes (default 0)")
    p.add_argument("--data-dir", default=None, help="where the run's dataset files are now")
    p.add_argument("--overwrite", action="store_true",
                   help="recompute the results asked for with these settings and replace them "
                        "(results of other settings are kept either way)")
    p.add_argument("--plot", default=None, metavar="PNG", help="figure path (default: beside "
                   "the study, <study>-<run>-hessian.png)")
    p.add_argument("--quiet", action="store_true",
                   help="no progress (a bar on a terminal, a line per measure or block in a log)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from landscape._progress import progress
    from landscape.cli._common import figure_path
    from landscape.compare import MeasureConfig, measure_minimum
    from landscape.hessian.plots import plot_density, plot_topk
    from landscape.plot import save
    from landscape.plot._style import plt

    if args.blocks:
        return _blocks(args)
    common = {"curvature": "ggn" if args.ggn else "hessian", "params": args.params,
              "seed": args.seed}
    asked = {}
    if args.topk:
        asked["hessian_top"] = {"k": args.topk, "tol": args.tol, **common}
    if args.bottomk:
        asked["hessian_bottom"] = {"k": args.bottomk, "tol": args.tol, **common}
    if args.trace:
        asked["hessian_trace"] = {"num_matvecs": args.trace_matvecs, **common}
    if args.density:
        asked["hessian_density"] = {"num_probes": args.probes, "num_steps": args.steps,
                                    **common}
    if not asked:
        from landscape.errors import ConfigError

        raise ConfigError("nothing to measure: ask for --topk, --bottomk, --trace or --density")
    with progress(total=len(asked), desc=f"hessian {args.run}", unit="measure",
                  quiet=args.quiet) as bar:
        m = measure_minimum(args.file, args.run, measures=list(asked), settings=asked,
                            config=MeasureConfig(num_samples=args.samples, seed=args.seed),
                            overwrite=args.overwrite, device=args.device,
                            data_dir=args.data_dir, dtype=args.dtype, batch_size=args.batch_size,
                            on_stage=lambda name: (bar.set_postfix_str(name), bar.update(1)))
    curvature = common["curvature"]
    print(f"{args.run}: {curvature} of the training loss; computed "
          f"{', '.join(m.recomputed) or 'nothing (all stored)'}")
    spec = m.spectrum
    for label, res in (("top", spec.top), ("bottom", spec.bottom)):
        if res is not None:
            values = " ".join(f"{v:.6g}" for v in res.eigenvalues)
            print(f"  {label}-{res.eigenvalues.size}: {values}  (max residual "
                  f"{res.residuals.max():.2g}, {res.num_matvecs} products, converged "
                  f"{int(res.converged.sum())}/{res.converged.size})")
    if spec.trace is not None:
        print(f"  trace: {spec.trace.estimate:.6g} ± {spec.trace.stderr:.2g} "
              f"({spec.trace.num_matvecs} products)")
    panels = [r for r in (spec.density, spec.top) if r is not None]
    if panels:
        fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
        k = 0
        if spec.density is not None:
            plot_density(spec.density, axes[0, k], mark_floor=True)
            axes[0, k].set_title(f"spectral density ({spec.density.num_probes} probes × "
                                 f"{spec.density.num_steps} steps)")
            k += 1
        if spec.top is not None:
            plot_topk(spec.top, axes[0, k])
            axes[0, k].set_title(f"top-{spec.top.eigenvalues.size} eigenvalues")
        trace = "" if spec.trace is None else (
            f"\ntrace tr H = {spec.trace.estimate:.4g} ± {1.96 * spec.trace.stderr:.2g} "
            f"(95%, {spec.trace.num_matvecs} products)")
        fig.suptitle(f"{args.run}: {curvature} of the training loss{trace}")
        fig.tight_layout()
        out = args.plot or figure_path(args.file, args.run, curvature)
        print(f"  figure: {save(fig, out)}")
    return 0


def _blocks(args: argparse.Namespace) -> int:
    """``--blocks``: the density of each block's Hessian (one stored ``hessian_density`` per
    block, keyed by its parameter names), their Jensen-Shannon distances, and a plot."""
    import math

    import numpy as np

    from landscape._progress import progress
    from landscape.cli._common import figure_path
    from landscape.compare import MeasureConfig, measure_minimum
    from landscape.hessian.blocks import js_distances, parameter_blocks
    from landscape.hessian.plots import plot_block_densities
    from landscape.plot import save
    from landscape.store import load_model

    model = load_model(args.file, args.run)
    sizes = {n: p.numel() for n, p in model.named_parameters()}
    blocks = parameter_blocks(model, args.blocks)
    curvature = "ggn" if args.ggn else "hessian"
    densities, counts = {}, {}
    for label, names in progress(blocks.items(), total=len(blocks), desc=f"hessian {args.run}",
                                 unit="block", quiet=args.quiet):
        count = sum(sizes[n] for n in names)
        asked = {"hessian_density": {"num_probes": args.probes,
                                     "num_steps": min(args.steps, count),
                                     "curvature": curvature, "params": list(names),
                                     "seed": args.seed}}
        m = measure_minimum(args.file, args.run, measures=list(asked), settings=asked,
                            config=MeasureConfig(num_samples=args.samples, seed=args.seed),
                            overwrite=args.overwrite, device=args.device,
                            data_dir=args.data_dir, dtype=args.dtype,
                            batch_size=args.batch_size)
        density = m.spectrum.density
        densities[label], counts[label] = density, count
        top = float(max(v for v in density.nodes.ravel() if not math.isnan(v)))
        print(f"  {label}: P={count}, largest Ritz value {top:.4g} "
              f"({'computed' if m.recomputed else 'stored'})")
    labels, dist = js_distances(densities)
    if len(labels) > 1:
        mean = dist[~np.eye(len(labels), dtype=bool)].mean()
        print(f"  heterogeneity: mean pairwise Jensen-Shannon distance {mean:.3f} over "
              f"{len(labels)} blocks")
    fig = plot_block_densities(densities, num_params=counts,
                               title=f"{args.run}: {curvature} blocks ({args.blocks}), "
                                     f"{args.probes} probes")
    out = args.plot or figure_path(args.file, args.run, curvature, "blocks")
    print(f"  figure: {save(fig, out)}")
    return 0
