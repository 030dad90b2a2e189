"""The loss surface as a measure: 1D or 2D, on a random, PCA or Hessian plane.

``surface`` evaluates the training loss and error of a stored minimum on a grid ``xs × ys``
around it (:func:`~landscape.flatness.surface_2d`, or :func:`~landscape.flatness.surface_1d`
with ``dim=1``), resumable row by row. The plane is drawn again from the settings, never stored:
``"random"`` from ``seed`` and ``norm`` (filter-normalised by default, Li et al. 2018),
``"pca"`` from the run's stored trajectory (:func:`~landscape.flatness.pca_plane`),
``"hessian"`` from the top eigenvectors of the Hessian at the minimum
(:func:`~landscape.flatness.directions.hessian_plane`; Böttcher & Wheeler 2022). The surface
has no scalar summary: it is a picture (``landscape surface`` draws it).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from landscape.compare.protocol import Context, Measure
from landscape.compare.registry import add
from landscape.errors import ConfigError
from landscape.flatness import Surface1DResult, Surface2DResult, surface_1d, surface_2d
from landscape.flatness.directions import Directions, hessian_plane
from landscape.flatness.pca_plane import pca_plane


def plane(ctx: Context, s: dict[str, Any]) -> Directions | None:
    """The directions named by the settings (``None``: the random plane of ``seed``)."""
    if s["plane"] == "random":
        return None
    if s["plane"] == "pca":
        if ctx.trajectory is None:
            raise ConfigError("the PCA plane needs the run's stored trajectory")
        return pca_plane(ctx.trajectory(), model=ctx.model).directions
    if s["plane"] == "hessian":
        dirs = hessian_plane(ctx.model, ctx.loss_fn, ctx.data, seed=s["seed"],
                             forward=ctx.forward)
        if s["dim"] == 1:
            return dataclasses.replace(dirs, y=None, eigenvalues=dirs.eigenvalues[:1])
        return dirs
    raise ConfigError(f"plane must be 'random', 'pca' or 'hessian', got {s['plane']!r}")


def _surface(ctx: Context, s: dict[str, Any]) -> Surface1DResult | Surface2DResult:
    if s["dim"] not in (1, 2):
        raise ConfigError(f"dim must be 1 or 2, got {s['dim']!r}")
    if (s["dim"] == 2) != (s["ys"] is not None):
        raise ConfigError("a 2D surface needs ys, a 1D one none")
    dirs = plane(ctx, s)
    common = {"seed": s["seed"], "norm": s["norm"], "bn": s["bn"], "progress": ctx.progress,
              "checkpoint": ctx.checkpoint, "forward": ctx.forward}
    if s["dim"] == 1:
        direction = None if dirs is None else (dirs if dirs.y is None else
                                               dataclasses.replace(dirs, y=None))
        return surface_1d(ctx.model, ctx.loss_fn, ctx.data, alphas=s["xs"],
                          direction=direction, **common)
    return surface_2d(ctx.model, ctx.loss_fn, ctx.data, xs=s["xs"], ys=s["ys"],
                      directions=dirs, **common)


def _unpack(arrays: dict[str, Any], attrs: dict[str, Any]) -> Surface1DResult | Surface2DResult:
    cls = Surface1DResult if "alphas" in arrays else Surface2DResult
    return cls.from_arrays(arrays, attrs)


add(Measure(
    name="surface", compute=_surface,
    defaults={"dim": 2, "xs": [-1.0, -0.5, 0.0, 0.5, 1.0], "ys": [-1.0, -0.5, 0.0, 0.5, 1.0],
              "plane": "random", "norm": "filter", "seed": 0, "bn": "stored"},
    summarise=lambda r, s: {}, from_arrays=_unpack,
    description="the training loss and error on a 1D or 2D grid around the minimum",
    resumable=True))
