"""``landscape surface``: 1D/2D loss landscape of a stored run (random, PCA or Hessian plane),
plotted."""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING

import numpy as np

from landscape.cli._common import DTYPES
from landscape.errors import ConfigError

if TYPE_CHECKING:
    from landscape.flatness.pca_plane import PCAPlane

if TYPE_CHECKING:
    pass


def _range(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"a range looks like LOW,HIGH, got {text!r}") from None
    if not hi > lo:
        raise ConfigError(f"range {text!r}: HIGH must exceed LOW")
    return lo, hi


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("surface", help="1D/2D loss landscape of a stored run, stored+plotted",
                       description="Loss and training error of a trained run along a random "
                                   "direction (--dim 1), on a random plane (--dim 2, filter-"
                                   "normalised, Li et al. 2018), on the PCA plane of its "
                                   "stored trajectory (--plane pca) or on the plane of the top "
                                   "two Hessian eigenvectors (--plane hessian; Böttcher & "
                                   "Wheeler 2022); [ix, iy] grids written as they are "
                                   "computed, so a rerun resumes.")
    p.add_argument("file", help="study file")
    p.add_argument("--run", required=True, help="run name in the study file")
    p.add_argument("--dim", type=int, default=2, choices=[1, 2],
                   help="a line (1) or a plane (2; default)")
    p.add_argument("--plane", default="random", choices=["random", "pca", "hessian"],
                   help="random directions, the PCA plane of the stored trajectory, or the "
                        "unit eigenvectors of the two largest Hessian eigenvalues of the loss "
                        "on the same data (--dim 1: the top one)")
    p.add_argument("--xrange", default=None,
                   help="LOW,HIGH of x (default -1,1; for the PCA plane the trajectory's "
                        "extent plus 20%%; for the Hessian plane ±√(2/λ₁), where the "
                        "quadratic model rises by 1 along the top eigenvector)")
    p.add_argument("--yrange", default=None, help="LOW,HIGH of y (default: as x)")
    p.add_argument("--points", type=int, default=21, help="points per axis (default 21)")
    p.add_argument("--ypoints", type=int, default=None, help="points along y (default: as x)")
    p.add_argument("--norm", default="filter", choices=["filter", "layer", "additive"],
                   help="normalisation of random directions (default filter)")
    p.add_argument("--samples", type=int, default=None, metavar="N",
                   help="evaluate on a fixed stratified subset of N training samples")
    p.add_argument("--batch-size", type=int, default=1024,
                   help="evaluation batch size (default 1024)")
    p.add_argument("--dtype", default="float32", choices=sorted(DTYPES),
                   help="precision of the evaluation (default float32)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the random directions (default 0)")
    p.add_argument("--data-dir", default=None, help="where the run's dataset files are now")
    p.add_argument("--overwrite", action="store_true",
                   help="recompute this surface and replace it (other surfaces are kept)")
    p.add_argument("--plot", default=None, metavar="PNG",
                   help="figure path (default: beside the study, <study>-<run>-surface-….png)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from landscape.cli._common import figure_path
    from landscape.compare import MeasureConfig, measure_minimum
    from landscape.flatness.plots import plot_contour, plot_surface_1d
    from landscape.plot import save
    from landscape.plot._style import plt

    if args.points < 2:
        raise ConfigError("--points must be at least 2")
    config = MeasureConfig(num_samples=args.samples, seed=args.seed)
    common = {"config": config, "data_dir": args.data_dir, "dtype": args.dtype,
              "batch_size": args.batch_size}
    xr, yr = _range(args.xrange or "-1,1"), _range(args.yrange or args.xrange or "-1,1")
    pca = None
    if args.plane == "pca":
        pca = _pca(args)
        print(f"PCA plane: explained variance ratio "
              f"{', '.join(f'{v:.3f}' for v in pca.explained_variance_ratio)}")
        lo, hi = np.minimum(pca.coords.min(0), 0.0), np.maximum(pca.coords.max(0), 0.0)
        pad = 0.2 * np.maximum(hi - lo, 1e-3)
        auto = [(float(lo[i] - pad[i]), float(hi[i] + pad[i])) for i in range(2)]
        xr = xr if args.xrange else auto[0]
        yr = yr if (args.yrange or args.xrange) else auto[1]
    elif args.plane == "hessian" and not args.xrange:  # ±√(2/λ₁) from the stored top pair
        top = measure_minimum(args.file, args.run, measures=["hessian_top"],
                              settings={"hessian_top": {"k": 2, "seed": args.seed}}, **common)
        lam = top.spectrum.top.eigenvalues
        print("Hessian plane: eigenvalues " + ", ".join(f"{v:.6g}" for v in lam))
        half = math.sqrt(2.0 / max(abs(float(lam[0])), 1e-12))
        xr = (-half, half)
        yr = yr if args.yrange else xr
    xs = np.linspace(*xr, args.points)
    ys = np.linspace(*yr, args.ypoints or args.points) if args.dim == 2 else None
    asked = {"surface": {"dim": args.dim, "xs": xs.tolist(),
                         "ys": None if ys is None else ys.tolist(), "plane": args.plane,
                         "norm": args.norm, "seed": args.seed}}
    m = measure_minimum(args.file, args.run, measures=["surface"], settings=asked,
                        overwrite=args.overwrite, progress=not args.quiet, **common)
    result = m["surface"]
    name = f"surface-{args.plane}-{args.dim}d"
    print(f"{args.run}/{name}: {len(xs)}{'' if ys is None else f'×{len(ys)}'} points on "
          f"n={result.num_data} samples; loss {np.nanmin(result.loss):.4g}..."
          f"{np.nanmax(result.loss):.4g}; "
          f"{'computed' if m.recomputed else 'read back from the study'}")
    if ys is None:
        fig = plot_surface_1d(result)
    else:
        fig, axes = plt.subplots(1, 2, figsize=(12, 5))
        plot_contour(result, axes[0], quantity="loss", trajectory=pca)
        plot_contour(result, axes[1], quantity="error", trajectory=pca)
        axes[0].set_title("training loss", fontsize=10)
        axes[1].set_title("training error", fontsize=10)
    fig.suptitle(f"{args.run}: {name}, n={result.num_data}")
    fig.tight_layout()
    out = args.plot or figure_path(args.file, args.run, name)
    print(f"  figure: {save(fig, out)}")
    return 0


def _pca(args: argparse.Namespace) -> PCAPlane:
    """The PCA plane of the run's stored trajectory (for the ranges and the drawn path)."""
    from landscape.flatness import pca_plane
    from landscape.store import load_model
    from landscape.store.trajectories import read_trajectory

    return pca_plane(read_trajectory(args.file, args.run), model=load_model(args.file, args.run))
