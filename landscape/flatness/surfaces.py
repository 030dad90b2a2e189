"""Loss landscapes: 1D and 2D surfaces, linear interpolation, PCA planes of a trajectory.

- :func:`surface_1d`: ``L(w + α d)`` over ``alphas`` along one direction (random and
  filter-normalised by default, Li et al., NeurIPS 2018).
- :func:`surface_2d`: ``L(w + x d_x + y d_y)`` on the grid ``xs × ys``; the arrays are indexed
  ``[ix, iy]`` (``numpy.meshgrid(xs, ys, indexing="ij")``): **x varies along axis 0**, on
  square and non-square grids alike (tomgoldstein/loss-landscape fills a ``(nx, ny)`` array in
  ``meshgrid`` 'xy' order and scrambles non-square grids; this module does not copy that).
- :func:`interpolation`: ``L((1−α) θ_a + α θ_b)``, the linear path between two trained models
  (Goodfellow et al. 2015); BatchNorm running statistics interpolated along with the weights
  (``bn="interpolate"``, Li et al.'s ``dir_type=states``) or re-estimated at every point
  (``bn="recalibrate"``).
- :func:`pca_plane`: the plane of the first two principal directions of a stored training
  trajectory, centred at the final weights, with the trajectory's coordinates in it.
- :func:`surface_to_study` / :func:`read_surface`: a surface written into a study file point by
  point, resumable.

Every grid point is a full-data evaluation (size-weighted mean loss over the batches, and the
training error for classification), evaluated ``chunk_size`` points at a time with
``torch.func.functional_call`` under ``torch.vmap``. Points whose coordinates are all exactly 0
are not evaluated: they get the unperturbed values ``base`` / ``base_error`` exactly.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from landscape.errors import ConfigError, NonFiniteError, StoreError
from landscape.flatness._evaluate import AffineStack, Evaluator, LossFn, check_mode
from landscape.flatness.directions import (
    Directions,
    as_directions,
    read_directions,
    same_directions,
    write_directions,
)
from landscape.flatness.local_energy import DEFAULT_MEMORY_BUDGET, BNPolicy
from landscape.flatness.perturbations import BiasBN, NoiseModel
from landscape.hessian._checks import check_choice, check_positive
from landscape.hessian._data import ParamSelection
from landscape.hessian._results import ArraysMixin
from landscape.store.writer import writes_study

#: BatchNorm policy along an interpolation path.
InterpolationBN = Literal["interpolate", "recalibrate"]

#: The index convention of every 2D array here (also recorded in study files).
INDEX_ORDER = "[ix, iy]: axis 0 follows xs, axis 1 follows ys (numpy.meshgrid indexing='ij')"

Coords = Sequence[float] | np.ndarray | torch.Tensor


@dataclass(frozen=True, eq=False)
class Surface1DResult(ArraysMixin):
    """Loss and training error along a line.

    Attributes:
        alphas: float64 ``[n]``, the coordinates along the line.
        loss, error: float64 ``[n]`` (error NaN when not a classification problem).
        base, base_error: the values at the centre (``α = 0``; for an interpolation, model a).
        kind: ``"random"``, ``"given"`` or ``"pca"`` direction, or ``"interpolation"``.
        norm, biasbn: the direction's normalisation and bias/BatchNorm policy.
        bn: the BatchNorm policy. seed: the direction's seed (−1 when not random).
        num_data: samples in the data.
    """

    alphas: np.ndarray
    loss: np.ndarray
    error: np.ndarray
    base: float
    base_error: float
    kind: str
    norm: str
    biasbn: str
    bn: str
    seed: int
    num_data: int


@dataclass(frozen=True, eq=False)
class Surface2DResult(ArraysMixin):
    """Loss and training error on a plane, indexed ``[ix, iy]``.

    Attributes:
        xs: float64 ``[nx]``; ys: float64 ``[ny]``.
        loss, error: float64 ``[nx, ny]``; ``loss[i, j]`` is at ``(xs[i], ys[j])``.
        base, base_error: the values at the centre ``(0, 0)``.
        kind, norm, biasbn, bn, seed, num_data: as :class:`Surface1DResult`.
        explained_variance_ratio: float64 ``[2]`` for a PCA plane, else ``None``.
        index_order: the index convention, spelled out.
    """

    xs: np.ndarray
    ys: np.ndarray
    loss: np.ndarray
    error: np.ndarray
    base: float
    base_error: float
    kind: str
    norm: str
    biasbn: str
    bn: str
    seed: int
    num_data: int
    explained_variance_ratio: np.ndarray | None = None
    index_order: str = INDEX_ORDER


def check_coords(name: str, values: Coords) -> np.ndarray:
    """``values`` as a finite, non-empty float64 ``[n]`` array, or :class:`ConfigError`."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1 or arr.size == 0 or not np.isfinite(arr).all():
        raise ConfigError(f"{name} must be a non-empty 1-D sequence of finite numbers, got "
                          f"{values!r}")
    return arr


# ---------------------------------------------------------------------------------- evaluation
class _Grid:
    """Evaluates stacks of weight sets in chunks under one BatchNorm policy (private)."""

    def __init__(self, model: nn.Module, loss_fn: LossFn, data: object, names: list[str], *,
                 bn: str, bn_batches: int | None, chunk_size: int | None, memory_budget: int,
                 batched: bool) -> None:
        has_norm = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
        check_mode(model, "recalibrate" if bn == "recalibrate" else "stored")
        self.recalibrate = bn == "recalibrate" and has_norm
        if bn_batches is not None:
            bn_batches = check_positive("bn_batches", bn_batches)
        self.bn_batches, self.batched = bn_batches, bool(batched)
        budget = check_positive("memory_budget", memory_budget)
        # the first-layer products of a plane's directions are kept within the memory budget
        self.evaluator = Evaluator(model, loss_fn, data, names, cache_bytes=budget)
        state = dict(model.named_parameters()) | dict(model.named_buffers())
        weights = {n: state[n].detach() for n in names}
        if chunk_size is not None:
            self.chunk = check_positive("chunk_size", chunk_size)
        else:
            per_copy = (2 * sum(w.numel() * w.element_size() for w in weights.values())
                        if self.recalibrate else self.evaluator.bytes_per_copy(weights))
            self.chunk = max(1, budget // max(per_copy, 1))

    def __call__(self, stack: Mapping[str, torch.Tensor] | AffineStack
                 ) -> tuple[np.ndarray, np.ndarray]:
        if self.recalibrate:
            if isinstance(stack, AffineStack):
                stack = stack.materialise()
            loss, err = self.evaluator.recalibrated(stack, bn_batches=self.bn_batches)
        else:
            loss, err = self.evaluator.stacked(stack, batched=self.batched)
        return loss.numpy().astype(np.float64), err.numpy().astype(np.float64)


class _Plane:
    """The weights ``w + Σ_k c_k d_k`` of a line or plane through the model (private)."""

    def __init__(self, model: nn.Module, loss_fn: LossFn, data: object, dirs: Directions, *,
                 bn: str, bn_batches: int | None, chunk_size: int | None, memory_budget: int,
                 batched: bool) -> None:
        check_choice("bn", bn, ("stored", "recalibrate"))
        params = dict(model.named_parameters())
        self.dirs, self.bn = dirs, bn
        self.center = {n: params[n].detach() for n in dirs.names}
        parts = [dirs.x] if dirs.y is None else [dirs.x, dirs.y]
        self.parts = [{n: d[n].to(device=w.device, dtype=w.dtype) for n, w in self.center.items()}
                      for d in parts]
        #: ``{name: [ndim, *shape]}``: the directions stacked
        self.directions = {n: torch.stack([p[n] for p in self.parts]) for n in self.center}
        self.grid = _Grid(model, loss_fn, data, dirs.names, bn=bn, bn_batches=bn_batches,
                          chunk_size=chunk_size, memory_budget=memory_budget, batched=batched)
        self._base: tuple[float, float] | None = None

    def stack(self, coeffs: np.ndarray) -> AffineStack:
        """The weights ``w + Σ_k c_k d_k`` for coefficient rows ``coeffs`` ``[m, ndim]``."""
        w = next(iter(self.center.values()))
        return AffineStack(self.center, self.directions,
                           coeffs=torch.as_tensor(coeffs, dtype=w.dtype, device=w.device),
                           key="plane")

    def base(self) -> tuple[float, float]:
        if self._base is None:
            loss, err = self.grid({n: w.unsqueeze(0) for n, w in self.center.items()})
            if not math.isfinite(loss[0]):
                raise NonFiniteError(f"the loss at the centre is {loss[0]}")
            self._base = (float(loss[0]), float(err[0]))
        return self._base

    def evaluate(self, coeffs: np.ndarray, bar: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Loss and error at coefficient rows ``[m, ndim]``, in chunks (origin: base exactly)."""
        coeffs = np.asarray(coeffs, dtype=np.float64).reshape(len(coeffs), -1)
        loss = np.empty(len(coeffs))
        err = np.empty(len(coeffs))
        origin = (coeffs == 0).all(axis=1)
        if origin.any():
            loss[origin], err[origin] = self.base()
        rest = np.flatnonzero(~origin)
        for start in range(0, rest.size, self.grid.chunk):
            idx = rest[start: start + self.grid.chunk]
            loss[idx], err[idx] = self.grid(self.stack(coeffs[idx]))
            if bar is not None:
                bar.update(idx.size)
        if bar is not None:
            bar.update(int(origin.sum()))
        return loss, err

    def settings(self) -> dict[str, Any]:
        return {"kind": self.dirs.kind, "norm": self.dirs.norm, "biasbn": self.dirs.biasbn,
                "bn": self.bn, "seed": self.dirs.seed,
                "num_data": self.grid.evaluator.num_data}


def _plane(model: nn.Module, loss_fn: LossFn, data: object, ndim: int,
           direction: Directions | Mapping[str, torch.Tensor] | None, *, seed: int,
           norm: NoiseModel, biasbn: BiasBN | None, params: ParamSelection, bn: str,
           bn_batches: int | None, chunk_size: int | None, memory_budget: int,
           batched: bool) -> _Plane:
    dirs = as_directions(direction, model, ndim, seed=seed, norm=norm, biasbn=biasbn,
                         params=params)
    return _Plane(model, loss_fn, data, dirs, bn=bn, bn_batches=bn_batches,
                  chunk_size=chunk_size, memory_budget=memory_budget, batched=batched)


def surface_1d(model: nn.Module, loss_fn: LossFn, data: object, *, alphas: Coords,
               direction: Directions | Mapping[str, torch.Tensor] | None = None, seed: int = 0,
               norm: NoiseModel = "filter", biasbn: BiasBN | None = None,
               params: ParamSelection = None, bn: BNPolicy = "stored",
               bn_batches: int | None = None, chunk_size: int | None = None,
               memory_budget: int = DEFAULT_MEMORY_BUDGET, batched: bool = True,
               progress: bool = False) -> Surface1DResult:
    """The loss and training error along ``w + α d`` for every ``α`` in ``alphas``.

    Args:
        model: the network at the centre ``w``; never modified; eval mode (BatchNorm may be in
            train mode with ``bn="recalibrate"``).
        loss_fn: ``loss_fn(model(x), y)`` → batch-mean scalar loss.
        data: one batch ``(x, y)`` or a re-iterable of batches (weighted by size).
        alphas: the coordinates along the direction (any order, may be negative).
        direction: ``None`` (a random direction from ``seed``, ``norm``, ``biasbn``, ``params``;
            see :func:`~landscape.flatness.directions.random_direction`), a 1D
            :class:`~landscape.flatness.directions.Directions`, or a mapping ``{name: tensor}``.
        bn: ``"stored"`` running statistics or ``"recalibrate"`` them at every point.
        chunk_size: points per vmapped evaluation (``None``: from ``memory_budget``).
        batched: ``False`` evaluates the points of a chunk one by one (same numbers).

    Example:
        >>> m = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double().eval()
        >>> x, y = torch.randn(16, 3, dtype=torch.float64), torch.randint(0, 2, (16,))
        >>> r = surface_1d(m, nn.CrossEntropyLoss(), (x, y), alphas=[-1.0, 0.0, 1.0])
        >>> r.loss.shape, bool(r.loss[1] == r.base)
        ((3,), True)
    """
    a = check_coords("alphas", alphas)
    job = _plane(model, loss_fn, data, 1, direction, seed=seed, norm=norm, biasbn=biasbn,
                 params=params, bn=bn, bn_batches=bn_batches, chunk_size=chunk_size,
                 memory_budget=memory_budget, batched=batched)
    base, base_err = job.base()
    with tqdm(total=a.size, desc="surface 1d", disable=not progress, leave=False) as bar:
        loss, err = job.evaluate(a.reshape(-1, 1), bar)
    return Surface1DResult(alphas=a, loss=loss, error=err, base=base, base_error=base_err,
                           **job.settings())


def surface_2d(model: nn.Module, loss_fn: LossFn, data: object, *, xs: Coords, ys: Coords,
               directions: Directions | None = None, seed: int = 0,
               norm: NoiseModel = "filter", biasbn: BiasBN | None = None,
               params: ParamSelection = None, bn: BNPolicy = "stored",
               bn_batches: int | None = None, chunk_size: int | None = None,
               memory_budget: int = DEFAULT_MEMORY_BUDGET, batched: bool = True,
               progress: bool = False) -> Surface2DResult:
    """The loss and training error on the grid ``w + x d_x + y d_y``, ``x ∈ xs``, ``y ∈ ys``.

    ``directions``: ``None`` (a random plane, see
    :func:`~landscape.flatness.directions.random_plane`), or a 2D ``Directions`` (e.g.
    ``pca_plane(...).directions``, whose centre must then be ``model``'s weights). Other
    arguments as :func:`surface_1d`.

    Returns:
        :class:`Surface2DResult` with ``loss[ix, iy]`` at ``(xs[ix], ys[iy])``.

    Example:
        >>> m = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double().eval()
        >>> x, y = torch.randn(16, 3, dtype=torch.float64), torch.randint(0, 2, (16,))
        >>> r = surface_2d(m, nn.CrossEntropyLoss(), (x, y), xs=[-1, 0, 1], ys=[0, 1])
        >>> r.loss.shape, bool(r.loss[1, 0] == r.base)
        ((3, 2), True)
    """
    x = check_coords("xs", xs)
    y = check_coords("ys", ys)
    job = _plane(model, loss_fn, data, 2, directions, seed=seed, norm=norm, biasbn=biasbn,
                 params=params, bn=bn, bn_batches=bn_batches, chunk_size=chunk_size,
                 memory_budget=memory_budget, batched=batched)
    base, base_err = job.base()
    gx, gy = np.meshgrid(x, y, indexing="ij")
    coeffs = np.stack([gx.ravel(), gy.ravel()], axis=1)          # C order over [ix, iy]
    with tqdm(total=len(coeffs), desc="surface 2d", disable=not progress, leave=False) as bar:
        loss, err = job.evaluate(coeffs, bar)
    return Surface2DResult(xs=x, ys=y, loss=loss.reshape(x.size, y.size),
                           error=err.reshape(x.size, y.size), base=base, base_error=base_err,
                           explained_variance_ratio=job.dirs.explained_variance_ratio,
                           **job.settings())


# ---------------------------------------------------------------------------------- interpolation
def interpolation(model_a: nn.Module, model_b: nn.Module, loss_fn: LossFn, data: object, *,
                  alphas: Coords, bn: InterpolationBN = "interpolate",
                  bn_batches: int | None = None, chunk_size: int | None = None,
                  memory_budget: int = DEFAULT_MEMORY_BUDGET, batched: bool = True,
                  progress: bool = False) -> Surface1DResult:
    """The loss along the straight line ``θ(α) = (1−α) θ_a + α θ_b`` between two models.

    ``α = 0`` is model a and ``α = 1`` model b exactly; other ``alphas`` extrapolate.

    Args:
        model_a, model_b: the same architecture (same parameter and buffer names and shapes),
            in eval mode; never modified.
        bn: ``"interpolate"`` (default) moves every floating-point buffer (BatchNorm running
            mean and variance) along the same line as the weights (Li et al.'s
            ``dir_type=states``); ``"recalibrate"`` re-estimates the BatchNorm statistics at
            every point from ``bn_batches`` batches of ``data`` (SWA's ``update_bn``). Integer
            buffers (``num_batches_tracked``) are model a's. Without BatchNorm both agree.
        Other arguments as :func:`surface_1d`.

    Returns:
        :class:`Surface1DResult` with ``kind="interpolation"`` and ``base`` the value at ``α=0``.
    """
    check_choice("bn", bn, ("interpolate", "recalibrate"))
    a = check_coords("alphas", alphas)
    sa = dict(model_a.named_parameters()) | dict(model_a.named_buffers())
    sb = dict(model_b.named_parameters()) | dict(model_b.named_buffers())
    if set(sa) != set(sb) or any(sa[n].shape != sb[n].shape for n in sa):
        raise ConfigError("model_a and model_b must have the same parameter and buffer names "
                          "and shapes")
    names = [n for n, _ in model_a.named_parameters()]
    if bn == "interpolate":
        names += [n for n, b in model_a.named_buffers() if b.is_floating_point()]
    grid = _Grid(model_a, loss_fn, data, names, bn=bn, bn_batches=bn_batches,
                 chunk_size=chunk_size, memory_budget=memory_budget, batched=batched)
    ta = {n: sa[n].detach() for n in names}
    tb = {n: sb[n].detach().to(device=ta[n].device, dtype=ta[n].dtype) for n in names}

    def stack(al: np.ndarray) -> dict[str, torch.Tensor]:
        out = {}
        for n, wa in ta.items():
            c = torch.as_tensor(al, dtype=wa.dtype, device=wa.device).reshape(-1, *[1] * wa.ndim)
            out[n] = (1 - c) * wa.unsqueeze(0) + c * tb[n].unsqueeze(0)
        return out

    loss, err = np.empty(a.size), np.empty(a.size)
    with tqdm(total=a.size, desc="interpolation", disable=not progress, leave=False) as bar:
        for start in range(0, a.size, grid.chunk):
            sl = slice(start, start + grid.chunk)
            loss[sl], err[sl] = grid(stack(a[sl]))
            bar.update(a[sl].size)
    base, base_err = grid(stack(np.zeros(1)))
    return Surface1DResult(alphas=a, loss=loss, error=err, base=float(base[0]),
                           base_error=float(base_err[0]), kind="interpolation", norm="none",
                           biasbn="perturb", bn=bn, seed=-1, num_data=grid.evaluator.num_data)


# ---------------------------------------------------------------------------------- PCA planes
@dataclass(frozen=True, eq=False)
class PCAPlane:
    """The PCA plane of a training trajectory (see :func:`pca_plane`).

    Attributes:
        directions: the two unit principal directions (``kind="pca"``), by parameter name.
        center: the final weights ``θ_final`` by name (the plane's origin).
        coords: float64 ``[K, 2]``, the checkpoints' coordinates ``(θ_k − θ_final)·d``.
        epochs: ``[K]``, the checkpoints' epochs.
        explained_variance_ratio: float64 ``[2]``.
        singular_values: float64 ``[2]``.
    """

    directions: Directions
    center: dict[str, torch.Tensor]
    coords: np.ndarray
    epochs: np.ndarray
    explained_variance_ratio: np.ndarray
    singular_values: np.ndarray


def pca_plane(path: str | os.PathLike[str], run: str, *, model: nn.Module | None = None,
              epochs: Sequence[int] | None = None, biasbn: BiasBN = "perturb") -> PCAPlane:
    """The plane of the first two principal directions of ``run``'s stored trajectory.

    The rows of the matrix ``M = [θ_k − θ_final]_k`` (one per checkpoint ``k``, all selected
    parameters flattened, float64) are decomposed by an SVD ``M = U S Vᵀ``; the directions are
    the first two rows of ``Vᵀ`` (unit vectors), the explained variance ratio is
    ``S_i² / Σ_j S_j²`` and the trajectory's coordinates are ``M V[:, :2]``. The matrix is not
    mean-centred: the plane passes through ``θ_final``, where the surface is centred (Li et al.
    2018 call sklearn's centred PCA and project by least squares; the two agree when the
    checkpoints lie in a plane through ``θ_final``).

    Args:
        path: the study file. run: the run, with ``trajectory/state`` checkpoints.
        model: gives the parameter names when the run has no final ``model/parameters`` yet.
        epochs: the checkpoints to use (default: all).
        biasbn: ``"ignore"`` leaves parameters with ``ndim <= 1`` out of the plane.

    ``θ_final`` is the run's final model when stored, else its last checkpoint. Use the
    result's ``directions`` with :func:`surface_2d` on the final model.

    Raises:
        StoreError: no trajectory, or no parameter names.
        ConfigError: fewer than two independent directions in the trajectory.
    """
    from landscape.store import Study
    from landscape.store import _schema as S

    check_choice("biasbn", biasbn, ("perturb", "ignore"))
    with Study(path, "r") as study:
        group = study.run(run)
        if S.TRAJECTORY not in group or "state" not in group[S.TRAJECTORY]:
            raise StoreError(f"run {run!r} in {path} has no trajectory checkpoints")
        traj = group[S.TRAJECTORY]
        all_epochs = traj["epoch"][()]
        final = group.get(f"{S.MODEL}/{S.PARAMETERS}")
        if model is not None:
            names = [n for n, _ in model.named_parameters()]
        elif final is not None:
            names = list(final)
        else:
            raise StoreError(f"run {run!r} has no final model to name its parameters; pass "
                             "model=")
        missing = [n for n in names if n not in traj["state"]]
        if missing:
            raise StoreError(f"the trajectory of {run!r} lacks parameters {missing}")
        rows = np.arange(all_epochs.size)
        if epochs is not None:
            wanted = [int(e) for e in epochs]
            rows = np.array([int(np.flatnonzero(all_epochs == e)[0]) for e in wanted
                             if (all_epochs == e).any()])
            if rows.size != len(wanted):
                raise StoreError(f"epochs {wanted} not all stored; stored: {all_epochs.tolist()}")
        states = {n: np.asarray(traj["state"][n][()], dtype=np.float64)[rows] for n in names}
        names = [n for n in names if biasbn == "perturb" or states[n].ndim > 2]
        if final is not None:
            center = {n: np.asarray(final[n][()], dtype=np.float64) for n in names}
        else:
            last = int(np.argmax(all_epochs))
            center = {n: np.asarray(traj["state"][n][last], dtype=np.float64) for n in names}
    if not names:
        raise ConfigError("no parameter left for the PCA plane (all have ndim <= 1 and "
                          "biasbn='ignore')")
    m = np.concatenate([(states[n] - center[n]).reshape(rows.size, -1) for n in names], axis=1)
    _, s, vt = np.linalg.svd(m, full_matrices=False)
    total = float((s ** 2).sum())
    if s.size < 2 or s[1] <= 1e-12 * max(s[0], 1e-300):
        raise ConfigError("the trajectory spans fewer than two directions around the final "
                          "weights; store more checkpoints")
    comps = vt[:2]
    for k in range(2):  # deterministic sign: the largest entry positive
        if comps[k][np.argmax(np.abs(comps[k]))] < 0:
            comps[k] = -comps[k]
    evr = (s[:2] ** 2) / total
    coords = m @ comps.T
    split: list[dict[str, torch.Tensor]] = [{}, {}]
    i = 0
    for n in names:
        size, shape = center[n].size, center[n].shape
        for k in range(2):
            split[k][n] = torch.from_numpy(comps[k, i: i + size].reshape(shape).copy())
        i += size
    dirs = Directions(x=split[0], y=split[1], kind="pca", norm="none", biasbn=biasbn, seed=-1,
                      explained_variance_ratio=evr)
    return PCAPlane(directions=dirs, center={n: torch.from_numpy(c) for n, c in center.items()},
                    coords=coords, epochs=all_epochs[rows], explained_variance_ratio=evr,
                    singular_values=s[:2].copy())


# ---------------------------------------------------------------------------------- study files
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
    """:func:`surface_1d` (``ys=None``) or :func:`surface_2d`, written into a study file as the
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
