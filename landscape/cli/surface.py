"""``landscape surface``: 1D/2D loss landscape of a stored run (random, PCA or Hessian plane),
plotted."""

from __future__ import annotations

import argparse
import dataclasses
import math
from typing import TYPE_CHECKING

import numpy as np

from landscape.cli._common import DTYPES
from landscape.errors import ConfigError

if TYPE_CHECKING:
    from landscape._measure import Setup
    from landscape.flatness.directions import Directions


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
    p.add_argument("--run", required=True)
    p.add_argument("--dim", type=int, default=2, choices=[1, 2])
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
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--dtype", default="float32", choices=sorted(DTYPES))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--name", default=None, help="measurement name (default surface-PLANE-DIMd)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--plot", default=None, metavar="PNG")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from landscape._measure import batches, prepare
    from landscape.flatness import pca_plane, surface_to_study
    from landscape.flatness.plots import plot_contour, plot_surface_1d
    from landscape.plot import save
    from landscape.plot._style import plt

    if args.points < 2:
        raise ConfigError("--points must be at least 2")
    setup = prepare(args.file, args.run, num_samples=args.samples, seed=args.seed,
                    dtype=DTYPES[args.dtype], data_dir=args.data_dir)
    data = batches(setup.data, setup.model, args.batch_size)
    plane = None
    directions = None
    if args.plane == "pca":
        plane = pca_plane(args.file, args.run, model=setup.model)
        directions = plane.directions
        print(f"PCA plane: explained variance ratio "
              f"{', '.join(f'{v:.3f}' for v in plane.explained_variance_ratio)}")
    elif args.plane == "hessian":
        directions = _hessian_directions(setup, data, args)
    xr, yr = _range(args.xrange or "-1,1"), _range(args.yrange or args.xrange or "-1,1")
    if args.plane == "hessian" and not args.xrange:
        assert directions is not None and directions.eigenvalues is not None
        half = math.sqrt(2.0 / max(abs(float(directions.eigenvalues[0])), 1e-12))
        xr = (-half, half)
        yr = yr if args.yrange else xr
    if plane is not None:
        lo, hi = np.minimum(plane.coords.min(0), 0.0), np.maximum(plane.coords.max(0), 0.0)
        pad = 0.2 * np.maximum(hi - lo, 1e-3)
        auto = [(float(lo[i] - pad[i]), float(hi[i] + pad[i])) for i in range(2)]
        xr = xr if args.xrange else auto[0]
        yr = yr if (args.yrange or args.xrange) else auto[1]
    xs = np.linspace(*xr, args.points)
    ys = np.linspace(*yr, args.ypoints or args.points) if args.dim == 2 else None
    name = args.name or f"surface-{args.plane}-{args.dim}d"
    result = surface_to_study(args.file, args.run, name, setup.model, setup.loss_fn, data,
                              xs=xs, ys=ys, directions=directions, seed=args.seed,
                              norm=args.norm, overwrite=args.overwrite,
                              progress=not args.quiet)
    print(f"{args.run}/{name}: {len(xs)}{'' if ys is None else f'×{len(ys)}'} points on "
          f"n={len(setup.data)} samples; loss {np.nanmin(result.loss):.4g}..."
          f"{np.nanmax(result.loss):.4g}")
    out = args.plot or f"figures/{args.run}_{name}.png"
    if ys is None:
        fig = plot_surface_1d(result)
    else:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
        plot_contour(result, axes[0], quantity="loss", trajectory=plane)
        plot_contour(result, axes[1], quantity="error", trajectory=plane)
    curv = "" if directions is None or directions.eigenvalues is None else \
        ", λ = " + ", ".join(f"{v:.4g}" for v in directions.eigenvalues)
    fig.suptitle(f"{args.run}: {name}, n={len(setup.data)}{curv}")
    print(f"  figure: {save(fig, out)}")
    return 0


def _hessian_directions(setup: Setup, data: object, args: argparse.Namespace) -> Directions:
    """The Hessian plane of the loss on the surface's data (its x direction for ``--dim 1``)."""
    from landscape.flatness.directions import hessian_plane

    plane = hessian_plane(setup.model, setup.loss_fn, data, seed=args.seed)
    assert plane.eigenvalues is not None
    print("Hessian plane: eigenvalues " + ", ".join(f"{v:.6g}" for v in plane.eigenvalues))
    if args.dim == 1:
        return dataclasses.replace(plane, y=None, eigenvalues=plane.eigenvalues[:1])
    return plane
