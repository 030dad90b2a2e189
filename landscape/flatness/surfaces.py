"""Loss landscapes: 1D and 2D surfaces, linear interpolation, PCA planes of a trajectory.

- :func:`surface_1d`: ``L(w + α d)`` over ``alphas`` along one direction (random and
  filter-normalised by default, Li et al., NeurIPS 2018).
- :func:`surface_2d`: ``L(w + x d_x + y d_y)`` on the grid ``xs × ys``; the arrays are indexed
  ``[ix, iy]`` (``numpy.meshgrid(xs, ys, indexing="ij")``): **x varies along axis 0**, on
  square and non-square grids alike (tomgoldstein/loss-landscape fills a ``(nx, ny)`` array in
  ``meshgrid`` 'xy' order and scrambles non-square grids; this module does not copy that).
- :func:`~landscape.flatness.interpolation.interpolation` (in its own module): the linear path
  between two trained models.
- :func:`~landscape.flatness.pca_plane.pca_plane` (in :mod:`landscape.flatness.pca_plane`,
  importable from here): the plane of the first two principal directions of a training
  trajectory, centred at the final weights, with the trajectory's coordinates in it.

Both surfaces are evaluated one row of x at a time (a 1D surface: one point at a time); with a
``checkpoint`` (:mod:`landscape._checkpoint`) every finished row is kept, and a later call with
the same arguments evaluates only the others, with the same numbers.

Every grid point is a full-data evaluation (size-weighted mean loss over the batches, and the
training error for classification), evaluated ``chunk_size`` points at a time with
``torch.func.functional_call`` under ``torch.vmap``. Points whose coordinates are all exactly 0
are not evaluated: they get the unperturbed values ``base`` / ``base_error`` exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from landscape._checkpoint import Checkpoint
from landscape._progress import progress as progress_bar
from landscape.errors import ConfigError, NonFiniteError
from landscape.flatness._evaluate import AffineStack, Evaluator, LossFn, check_mode
from landscape.flatness.directions import Directions, as_directions
from landscape.flatness.local_energy import DEFAULT_MEMORY_BUDGET, BNPolicy
from landscape.flatness.pca_plane import PCAPlane, pca_plane  # noqa: F401  (re-exported)
from landscape.flatness.perturbations import BiasBN, NoiseModel
from landscape.forward import Forward
from landscape.hessian._checks import check_choice, check_positive
from landscape.hessian._data import ParamSelection
from landscape.hessian._results import ArraysMixin

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
                 batched: bool, forward: Forward | str | None = None) -> None:
        has_norm = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
        check_mode(model, "recalibrate" if bn == "recalibrate" else "stored")
        self.recalibrate = bn == "recalibrate" and has_norm
        if bn_batches is not None:
            bn_batches = check_positive("bn_batches", bn_batches)
        self.bn_batches, self.batched = bn_batches, bool(batched)
        budget = check_positive("memory_budget", memory_budget)
        # the first-layer products of a plane's directions are kept within the memory budget
        self.evaluator = Evaluator(model, loss_fn, data, names, cache_bytes=budget,
                                   forward=forward)
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
                 batched: bool, forward: Forward | str | None = None) -> None:
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
                          chunk_size=chunk_size, memory_budget=memory_budget, batched=batched,
                          forward=forward)
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
           batched: bool, forward: Forward | str | None = None) -> _Plane:
    dirs = as_directions(direction, model, ndim, seed=seed, norm=norm, biasbn=biasbn,
                         params=params)
    return _Plane(model, loss_fn, data, dirs, bn=bn, bn_batches=bn_batches,
                  chunk_size=chunk_size, memory_budget=memory_budget, batched=batched,
                  forward=forward)


def surface_1d(model: nn.Module, loss_fn: LossFn, data: object, *, alphas: Coords,
               direction: Directions | Mapping[str, torch.Tensor] | None = None, seed: int = 0,
               norm: NoiseModel = "filter", biasbn: BiasBN | None = None,
               params: ParamSelection = None, bn: BNPolicy = "stored",
               bn_batches: int | None = None, chunk_size: int | None = None,
               memory_budget: int = DEFAULT_MEMORY_BUDGET, batched: bool = True,
               progress: bool = False, checkpoint: Checkpoint | None = None,
               forward: Forward | str | None = None
               ) -> Surface1DResult:
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
        forward: structured batches, ``forward(model, batch) -> (outputs, targets)``
            (:mod:`landscape.forward`); a batch weighs ``len(targets)``.
        checkpoint: keep each finished row (here: point) and, on a later call with the same
            arguments, evaluate only the others (see the module docstring).

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
                 memory_budget=memory_budget, batched=batched, forward=forward)
    base, base_err = job.base()
    with progress_bar(total=a.size, desc="surface 1d", unit="point", quiet=not progress) as bar:
        loss, err = _rows(job, a.reshape(-1, 1, 1), checkpoint, bar)
    loss, err = loss.ravel(), err.ravel()
    return Surface1DResult(alphas=a, loss=loss, error=err, base=base, base_error=base_err,
                           **job.settings())


def surface_2d(model: nn.Module, loss_fn: LossFn, data: object, *, xs: Coords, ys: Coords,
               directions: Directions | None = None, seed: int = 0,
               norm: NoiseModel = "filter", biasbn: BiasBN | None = None,
               params: ParamSelection = None, bn: BNPolicy = "stored",
               bn_batches: int | None = None, chunk_size: int | None = None,
               memory_budget: int = DEFAULT_MEMORY_BUDGET, batched: bool = True,
               progress: bool = False, checkpoint: Checkpoint | None = None,
               forward: Forward | str | None = None
               ) -> Surface2DResult:
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
                 memory_budget=memory_budget, batched=batched, forward=forward)
    base, base_err = job.base()
    gx, gy = np.meshgrid(x, y, indexing="ij")
    grid = np.stack([gx, gy], axis=-1)                            # [ix, iy, 2]
    with progress_bar(total=gx.size, desc="surface 2d", unit="point", quiet=not progress) as bar:
        loss, err = _rows(job, grid, checkpoint, bar)
    return Surface2DResult(xs=x, ys=y, loss=loss, error=err, base=base, base_error=base_err,
                           explained_variance_ratio=job.dirs.explained_variance_ratio,
                           **job.settings())


def _rows(job: _Plane, grid: np.ndarray, checkpoint: Checkpoint | None, bar: Any
          ) -> tuple[np.ndarray, np.ndarray]:
    """Loss and error ``[nx, ny]`` at the coefficients ``grid`` ``[nx, ny, ndim]``: all at once
    without a checkpoint; with one, row by row, each finished row kept (and rows kept by an
    earlier call not evaluated again)."""
    nx, ny = grid.shape[:2]
    if checkpoint is None:
        loss, err = job.evaluate(grid.reshape(nx * ny, -1), bar)
        return loss.reshape(nx, ny), err.reshape(nx, ny)
    loss, err = np.full((nx, ny), np.nan), np.full((nx, ny), np.nan)
    done = np.zeros(nx, dtype=bool)
    saved = checkpoint.load()
    if saved is not None:
        if saved["loss"].shape != (nx, ny) or not np.array_equal(saved["grid"], grid):
            raise ConfigError("the checkpoint holds a surface of another grid; start it again")
        loss, err, done = saved["loss"], saved["error"], saved["done"].astype(bool)
        if bar is not None:
            bar.update(int(done.sum()) * ny)
    for i in np.flatnonzero(~done):
        loss[i], err[i] = job.evaluate(grid[i], bar)
        done[i] = True
        checkpoint.save({"grid": grid, "loss": loss, "error": err,
                         "done": done.astype(np.uint8)})
    return loss, err
