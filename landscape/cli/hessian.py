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
    p.add_argument("--run", required=True)
    p.add_argument("--topk", type=int, default=10, help="largest eigenpairs (default 10; 0 skips)")
    p.add_argument("--bottomk", type=int, default=0, help="smallest eigenpairs")
    p.add_argument("--tol", type=float, default=1e-4, help="relative residual tolerance")
    p.add_argument("--trace", action="store_true", help="Hutch++ trace estimate")
    p.add_argument("--trace-matvecs", type=int, default=99)
    p.add_argument("--density", action="store_true", help="spectral density by SLQ")
    p.add_argument("--probes", type=int, default=10)
    p.add_argument("--steps", type=int, default=80)
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
    p.add_argument("--device", default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--name", default=None, help="measurement name (default hessian or ggn)")
    p.add_argument("--data-dir", default=None, help="where the run's dataset files are now")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--plot", default=None, metavar="PNG", help="figure path (default "
                   "figures/<run>_<name>.png)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from landscape.hessian.plots import plot_density, plot_topk
    from landscape.hessian.study import measure_spectrum
    from landscape.plot import save
    from landscape.plot._style import plt

    name = args.name or ("ggn" if args.ggn else "hessian")
    if args.blocks:
        return _blocks(args, name)
    m = measure_spectrum(
        args.file, args.run, name=name, curvature="ggn" if args.ggn else "hessian",
        params=args.params, topk=args.topk, bottomk=args.bottomk, tol=args.tol,
        trace_matvecs=args.trace_matvecs if args.trace else 0,
        num_probes=args.probes if args.density else 0, num_steps=args.steps,
        num_samples=args.samples, batch_size=args.batch_size, dtype=DTYPES[args.dtype],
        device=args.device, seed=args.seed, overwrite=args.overwrite, data_dir=args.data_dir)
    print(f"{args.run}/{name}: P={m.num_params} parameters, n={m.num_samples} samples; "
          f"computed {', '.join(m.recomputed) or 'nothing (all stored)'}")
    for label, res in (("top", m.top), ("bottom", m.bottom)):
        if res is not None:
            values = " ".join(f"{v:.6g}" for v in res.eigenvalues)
            print(f"  {label}-{res.eigenvalues.size}: {values}  (max residual "
                  f"{res.residuals.max():.2g}, {res.num_matvecs} products, converged "
                  f"{int(res.converged.sum())}/{res.converged.size})")
    if m.trace is not None:
        print(f"  trace: {m.trace.estimate:.6g} ± {m.trace.stderr:.2g} "
              f"({m.trace.num_matvecs} products)")
    panels = [r for r in (m.density, m.top) if r is not None]
    if panels:
        fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
        k = 0
        if m.density is not None:
            plot_density(m.density, axes[0, k])
            axes[0, k].set_title(f"spectral density ({m.density.num_probes} probes × "
                                 f"{m.density.num_steps} steps)")
            k += 1
        if m.top is not None:
            plot_topk(m.top, axes[0, k])
            axes[0, k].set_title(f"top-{m.top.eigenvalues.size} eigenvalues")
        fig.suptitle(f"{args.run}: {name} of the training loss, P={m.num_params}, "
                     f"n={m.num_samples}")
        fig.tight_layout()
        out = args.plot or f"figures/{args.run}_{name}.png"
        print(f"  figure: {save(fig, out)}")
    return 0


def _blocks(args: argparse.Namespace, name: str) -> int:
    """``--blocks``: one stored density per block (``<name>-block-<label>``), JS distances, plot."""
    import math

    import numpy as np

    from landscape.hessian.blocks import js_distances, parameter_blocks
    from landscape.hessian.plots import plot_block_densities
    from landscape.hessian.study import measure_spectrum
    from landscape.plot import save
    from landscape.store import load_model

    model = load_model(args.file, args.run)
    sizes = {n: p.numel() for n, p in model.named_parameters()}
    blocks = parameter_blocks(model, args.blocks)
    densities, counts = {}, {}
    samples = None
    for label, names in blocks.items():
        count = sum(sizes[n] for n in names)
        m = measure_spectrum(
            args.file, args.run, name=f"{name}-block-{label}",
            curvature="ggn" if args.ggn else "hessian", params=names,
            num_probes=args.probes, num_steps=min(args.steps, count), num_samples=args.samples,
            batch_size=args.batch_size, dtype=DTYPES[args.dtype], device=args.device,
            seed=args.seed, overwrite=args.overwrite, data_dir=args.data_dir)
        assert m.density is not None
        densities[label], counts[label], samples = m.density, count, m.num_samples
        top = float(max(v for v in m.density.nodes.ravel() if not math.isnan(v)))
        print(f"  {label}: P={count}, largest Ritz value {top:.4g} "
              f"({'computed' if m.recomputed else 'stored'})")
    labels, dist = js_distances(densities)
    if len(labels) > 1:
        mean = dist[~np.eye(len(labels), dtype=bool)].mean()
        print(f"  heterogeneity: mean pairwise Jensen-Shannon distance {mean:.3f} over "
              f"{len(labels)} blocks")
    fig = plot_block_densities(densities, num_params=counts,
                               title=f"{args.run}: {name} blocks ({args.blocks}), "
                                     f"n={samples}, {args.probes} probes")
    out = args.plot or f"figures/{args.run}_{name}_blocks.png"
    print(f"  figure: {save(fig, out)}")
    return 0
