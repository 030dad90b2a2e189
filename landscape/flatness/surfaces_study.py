"""Loss surfaces stored in a study file: :func:`surface_to_study` writes a 1D or 2D surface
point by point, resumable; :func:`read_surface` and :func:`read_surface_directions` read it and
its directions back.

The functions import :mod:`landscape.flatness.surfaces` when called, since that module
re-exports them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from landscape.errors import StoreError
from landscape.flatness._evaluate import LossFn
from landscape.flatness.directions import (
    Directions,
    read_directions,
    same_directions,
    write_directions,
)
from landscape.flatness.local_energy import DEFAULT_MEMORY_BUDGET, BNPolicy
from landscape.flatness.perturbations import BiasBN, NoiseModel
from landscape.hessian._data import ParamSelection
from landscape.store.writer import writes_study

if TYPE_CHECKING:
    from landscape.flatness.surfaces import Coords, Surface1DResult, Surface2DResult


@writes_study("path")
def surface_to_study(path: str | os.PathLike[str], run: str, name: str, model: nn.Module,
                     loss_fn: LossFn, data: object, *, xs: Coords, ys: Coords | None = None,
                     directions: Directions | Mapping[str, torch.Tensor] | None = None,
                     seed: int = 0, norm: NoiseModel = "filter", biasbn: BiasBN | None = None,
                     params: ParamSelection = None, bn: BNPolicy = "stored",
                     bn_batches: int | None = None, chunk_size: int | None = None,
                     memory_budget: int = DEFAULT_MEMORY_BUDGET, batched: bool = True,
                     overwrite: bool = False, progress: bool = False
                     ) -> Surface1DResult | Surface2DResult:
    """:func:`~landscape.flatness.surface_1d` (``ys=None``) or
    :func:`~landscape.flatness.surface_2d`, written into a study file as the
    points are computed, and resumable.

    Layout under ``runs/<run>/measurements/<name>/``:

    - ``directions/x/<param name>``, ``directions/y/<param name>``: the directions (settings as
      attributes); :func:`read_surface_directions` reads them, so other surfaces can reuse them;
    - ``x`` (and ``y``): the coordinates, HDF5 dimension scales;
    - ``loss``, ``error``: ``[ix]`` or ``[ix, iy]`` (x along axis 0), NaN until computed, with
      ``loss.computed`` / ``error.computed`` masks and the index convention as attributes;
    - the group's attributes: the settings, ``param_hash`` of the model, ``base``,
      ``base_error``, ``index_order``.

    Every chunk of points is written (and the file closed) as soon as it is evaluated; a rerun
    with the same arguments evaluates only the points not written yet. A measurement of that name
    with other settings, coordinates, model weights or directions raises :class:`StoreError`
    unless ``overwrite=True`` (which replaces it).

    Returns:
        The complete result (as :func:`read_surface` gives it).
    """
    from landscape.flatness.surfaces import INDEX_ORDER, _plane, check_coords
    from landscape.store import Study, param_hash, resumable_array
    from landscape.store._schema import MEASUREMENTS
    from landscape.store.study import read_attrs, write_attrs

    ndim = 1 if ys is None else 2
    axes = {"x": check_coords("xs", xs)}
    if ys is not None:
        axes["y"] = check_coords("ys", ys)
    job = _plane(model, loss_fn, data, ndim, directions, seed=seed, norm=norm, biasbn=biasbn,
                 params=params, bn=bn, bn_batches=bn_batches, chunk_size=chunk_size,
                 memory_budget=memory_budget, batched=batched)
    settings = {**job.settings(), **job.dirs.settings(),
                "kind": f"surface_{ndim}d", "param_hash": param_hash(model)}
    with Study(path, "a") as study:
        group = study.run(run).require_group(MEASUREMENTS)
        if name in group:
            meas = group[name]
            old = {k: v for k, v in read_attrs(meas).items() if k in settings}
            same_axes = all(a in meas and np.array_equal(meas[a][()], v)
                            for a, v in axes.items()) and ("y" in meas) == (ndim == 2)
            same_dirs = "directions" in meas and "x" in meas["directions"] and \
                same_directions(read_directions(meas["directions"]), job.dirs)
            if old != settings or not same_axes or not same_dirs:
                if not overwrite:
                    diff = sorted(k for k in settings if old.get(k) != settings[k])
                    what = diff or ("coordinates" if not same_axes else "directions")
                    raise StoreError(f"{group.name}/{name} holds a surface with other "
                                     f"{what}; use another name or overwrite=True")
                del group[name]
        meas = group.require_group(name)
        write_attrs(meas, {**settings, "index_order": INDEX_ORDER})
        write_directions(meas.require_group("directions"), job.dirs)
        for key in ("loss", "error"):
            resumable_array(meas, key, axes)
        pending = [tuple(int(i) for i in ix) for ix in np.argwhere(~meas["loss.computed"][()])]
    if pending:
        base, base_err = job.base()
        with Study(path, "a") as study:
            write_attrs(study.run(run)[MEASUREMENTS][name], {"base": base,
                                                             "base_error": base_err})
    coords_of = [axes[a] for a in axes]
    with tqdm(total=len(pending), desc=f"surface {name}", disable=not progress,
              leave=False) as bar:
        for start in range(0, len(pending), job.grid.chunk):
            idx = pending[start: start + job.grid.chunk]
            coeffs = np.array([[coords_of[k][i[k]] for k in range(ndim)] for i in idx])
            loss, err = job.evaluate(coeffs, bar)
            with Study(path, "a") as study:
                meas = study.run(run)[MEASUREMENTS][name]
                la = resumable_array(meas, "loss", axes, flush=False)
                ea = resumable_array(meas, "error", axes, flush=False)
                for j, i in enumerate(idx):
                    ea[i] = err[j]
                    la[i] = loss[j]
    return read_surface(path, run, name)


def read_surface(path: str | os.PathLike[str], run: str, name: str
                 ) -> Surface1DResult | Surface2DResult:
    """Read a surface written by :func:`surface_to_study` (NaN where not computed yet)."""
    from landscape._measure import stored_measurement
    from landscape.flatness.surfaces import Surface1DResult, Surface2DResult
    from landscape.store import Study
    from landscape.store.study import read_attrs

    with Study(path, "r") as study:
        meas = stored_measurement(study, run, name)
        attrs = read_attrs(meas)
        kind = attrs.get("kind")
        if kind not in ("surface_1d", "surface_2d"):
            raise StoreError(f"{meas.name} is not a surface")
        arrays = {k: meas[k][()] for k in ("x", "y", "loss", "error") if k in meas}
        evr = read_directions(meas["directions"]).explained_variance_ratio
    common = {"loss": arrays["loss"], "error": arrays["error"],
              "base": float(attrs.get("base", math.nan)),
              "base_error": float(attrs.get("base_error", math.nan)),
              "kind": str(attrs["direction_kind"]), "norm": str(attrs["norm"]),
              "biasbn": str(attrs["biasbn"]), "bn": str(attrs["bn"]),
              "seed": int(attrs["direction_seed"]), "num_data": int(attrs["num_data"])}
    if kind == "surface_1d":
        return Surface1DResult(alphas=arrays["x"], **common)
    return Surface2DResult(xs=arrays["x"], ys=arrays["y"], explained_variance_ratio=evr,
                           **common)


def read_surface_directions(path: str | os.PathLike[str], run: str, name: str) -> Directions:
    """The directions of surface ``name`` (to compute more surfaces with the same ones)."""
    from landscape.store import Study
    from landscape.store._schema import MEASUREMENTS

    with Study(path, "r") as study:
        runs = study.run(run)
        if MEASUREMENTS not in runs or name not in runs[MEASUREMENTS] \
                or "directions" not in runs[MEASUREMENTS][name]:
            raise StoreError(f"run {run!r} of {path} has no surface {name!r} with directions")
        return read_directions(runs[MEASUREMENTS][name]["directions"])
