"""The PCA plane of a training trajectory: :func:`pca_plane` → :class:`PCAPlane`, the plane of
the first two principal directions of the checkpoints around the final weights (Li et al.,
NeurIPS 2018), with the trajectory's coordinates in it, for :func:`~landscape.flatness.surface_2d`.
The trajectory is any object with ``epochs``, ``states`` and ``final``, e.g. a stored run's
(:func:`landscape.store.trajectories.read_trajectory`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import nn

from landscape.errors import ConfigError
from landscape.flatness.directions import Directions
from landscape.flatness.perturbations import BiasBN
from landscape.hessian._checks import check_choice


class TrajectoryLike(Protocol):
    """What :func:`pca_plane` reads: the checkpoints' epochs and parameters, the final ones."""

    epochs: np.ndarray
    states: Mapping[str, np.ndarray]
    final: Mapping[str, np.ndarray] | None


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


def pca_plane(trajectory: TrajectoryLike, *, model: nn.Module | None = None,
              epochs: Sequence[int] | None = None, biasbn: BiasBN = "perturb") -> PCAPlane:
    """The plane of the first two principal directions of a training trajectory.

    The rows of the matrix ``M = [θ_k − θ_final]_k`` (one per checkpoint ``k``, all selected
    parameters flattened, float64) are decomposed by an SVD ``M = U S Vᵀ``; the directions are
    the first two rows of ``Vᵀ`` (unit vectors), the explained variance ratio is
    ``S_i² / Σ_j S_j²`` and the trajectory's coordinates are ``M V[:, :2]``. The matrix is not
    mean-centred: the plane passes through ``θ_final``, where the surface is centred (Li et al.
    2018 call sklearn's centred PCA and project by least squares; the two agree when the
    checkpoints lie in a plane through ``θ_final``).

    Args:
        trajectory: ``epochs`` ``[K]``, ``states`` ``{name: [K, *shape]}`` and ``final``
            ``{name: array}`` or ``None`` (e.g. ``read_trajectory(path, run)``).
        model: gives the parameter names when the trajectory has no final weights.
        epochs: the checkpoints to use (default: all).
        biasbn: ``"ignore"`` leaves parameters with ``ndim <= 1`` out of the plane.

    ``θ_final`` is the final weights when given, else the last checkpoint. Use the result's
    ``directions`` with :func:`~landscape.flatness.surface_2d` on the final model.

    Raises:
        ConfigError: no parameter names, missing parameters, unknown epochs, or fewer than two
            independent directions in the trajectory.
    """
    check_choice("biasbn", biasbn, ("perturb", "ignore"))
    all_epochs = np.asarray(trajectory.epochs)
    final = trajectory.final
    if model is not None:
        names = [n for n, _ in model.named_parameters()]
    elif final is not None:
        names = list(final)
    else:
        raise ConfigError("the trajectory has no final weights to name its parameters; pass "
                          "model=")
    missing = [n for n in names if n not in trajectory.states]
    if missing:
        raise ConfigError(f"the trajectory lacks parameters {missing}")
    rows = np.arange(all_epochs.size)
    if epochs is not None:
        wanted = [int(e) for e in epochs]
        rows = np.array([int(np.flatnonzero(all_epochs == e)[0]) for e in wanted
                         if (all_epochs == e).any()])
        if rows.size != len(wanted):
            raise ConfigError(f"epochs {wanted} not all stored; stored: {all_epochs.tolist()}")
    states = {n: np.asarray(trajectory.states[n], dtype=np.float64)[rows] for n in names}
    names = [n for n in names if biasbn == "perturb" or states[n].ndim > 2]
    if final is not None:
        center = {n: np.asarray(final[n], dtype=np.float64) for n in names}
    else:
        last = int(np.argmax(all_epochs))
        center = {n: np.asarray(trajectory.states[n][last], dtype=np.float64) for n in names}
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
