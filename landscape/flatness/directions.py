"""Directions in weight space for loss landscapes: random lines and planes, PCA and Hessian
planes.

A landscape is the loss along ``w + α·d_x`` (1D) or ``w + α·d_x + β·d_y`` (2D). The directions
are dictionaries ``{parameter name: tensor of the parameter's shape}`` and are kept apart from
the surfaces computed with them, so several surfaces (train and test data, loss and error,
other grids) reuse exactly the same directions (the layout of tomgoldstein/loss-landscape's
direction files, but keyed by parameter *name* rather than by enumeration index).

Random directions: a standard normal draw per parameter, turned into a direction by one of the
noise models of :mod:`landscape.flatness.perturbations`; the default ``norm="filter"`` is Li et
al. (NeurIPS 2018)'s filter normalisation, every slice along dim 0 rescaled to the norm of the
same slice of the weights, with biases and BatchNorm parameters (``ndim <= 1``) left out
(``biasbn="ignore"``, their ``--xignore biasbn``). The x direction is draw 0 and the y
direction draw 1 of the stream ``(seed, "flatness.noise", "surface", j)``, so the x direction of
a plane is the direction of the 1D line with the same seed.

Hessian planes (:func:`hessian_plane`): the top two unit eigenvectors of the Hessian of the
loss at the centre (Böttcher & Wheeler 2022: along random directions the curvature is an
average over the spectrum, ``dᵀHd ≈ tr(H)/P·‖d‖²``, so a saddle with a few negative eigenvalues
can look like a minimum; along eigenvectors the surface shows the curvature itself).

Directions are not stored: random ones are drawn again from their seed, a PCA plane from the
stored trajectory, a Hessian plane from the minimum; the measure layer keys surfaces by them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from landscape.errors import ConfigError
from landscape.flatness._evaluate import LossFn
from landscape.flatness.perturbations import (
    BiasBN,
    NoiseModel,
    directions_from_normal,
    perturbed_parameters,
    resolve_biasbn,
    standard_normal,
)
from landscape.forward import Forward
from landscape.hessian._data import ParamSelection
from landscape.hessian.lanczos import Which

Direction = dict[str, torch.Tensor]


@dataclass(frozen=True, eq=False)
class Directions:
    """One direction (``y is None``) or a plane of two, by parameter name.

    Attributes:
        x: ``{name: tensor}``, the first direction (parameter shapes, detached).
        y: the second direction over the same names, or ``None`` for a line.
        kind: ``"random"``, ``"pca"``, ``"hessian"`` or ``"given"``.
        norm: the normalisation of random directions (a noise model name; ``"none"`` else).
        biasbn: whether biases/BatchNorm parameters are in the directions (``"perturb"``) or
            left out (``"ignore"``).
        seed: the seed of random directions (``-1`` else).
        explained_variance_ratio: float64 ``[2]`` for PCA planes, else ``None``.
        eigenvalues: float64 ``[2]``, the Hessian eigenvalues along ``x`` and ``y`` for Hessian
            planes (the surface's curvature at the centre along them), else ``None``.
    """

    x: Direction
    y: Direction | None = None
    kind: str = "given"
    norm: str = "none"
    biasbn: str = "perturb"
    seed: int = -1
    explained_variance_ratio: np.ndarray | None = None
    eigenvalues: np.ndarray | None = None

    @property
    def names(self) -> list[str]:
        """The parameter names the directions move."""
        return list(self.x)

    @property
    def ndim(self) -> int:
        """1 for a line, 2 for a plane."""
        return 1 if self.y is None else 2

    def check_fits(self, model: nn.Module) -> None:
        """:class:`ConfigError` unless every direction tensor matches a parameter of ``model``."""
        params = dict(model.named_parameters())
        for part in (self.x, self.y) if self.y is not None else (self.x,):
            if set(part) != set(self.x):
                raise ConfigError("the x and y directions move different parameters")
            for n, t in part.items():
                if n not in params:
                    raise ConfigError(f"direction names a parameter {n!r} the model lacks; "
                                      f"the model has {sorted(params)}")
                if tuple(t.shape) != tuple(params[n].shape):
                    raise ConfigError(f"direction {n!r} has shape {list(t.shape)}, the "
                                      f"parameter {list(params[n].shape)}")

    def settings(self) -> dict[str, object]:
        """The scalar settings (what a study file records and compares)."""
        return {"direction_kind": self.kind, "norm": self.norm, "biasbn": self.biasbn,
                "direction_seed": self.seed, "direction_ndim": self.ndim}


def _random(model: nn.Module, indices: range, seed: int, norm: NoiseModel,
            biasbn: BiasBN | None, params: ParamSelection) -> tuple[list[Direction], str]:
    policy = resolve_biasbn(norm, "ignore" if biasbn is None else biasbn)
    weights = perturbed_parameters(model, norm, params=params, biasbn=policy)
    z = standard_normal(weights, int(seed), indices, "surface")
    d = directions_from_normal(weights, z, norm)
    return [{n: t[k].clone() for n, t in d.items()} for k in range(len(indices))], policy


def random_direction(model: nn.Module, *, seed: int = 0, norm: NoiseModel = "filter",
                     biasbn: BiasBN | None = None, params: ParamSelection = None) -> Directions:
    """A seeded random direction for a 1D landscape (Li et al. 2018).

    Args:
        model: the network at the centre ``w``; never modified.
        seed: draw 0 of the stream ``(seed, "surface")``.
        norm: ``"filter"`` (default, Li et al.), ``"layer"``, ``"additive"`` (the raw normal
            draw) or ``"multiplicative"`` (``z ⊙ w``; Li et al.'s ``weight``).
        biasbn: ``"ignore"`` (default for every ``norm`` here) leaves biases and BatchNorm
            parameters out; ``"perturb"`` includes them under the same normalisation.
        params: which parameters may move (as for the Hessian operator).

    Example:
        >>> m = nn.Linear(3, 2)
        >>> d = random_direction(m, seed=1)
        >>> d.names, torch.allclose(d.x["weight"].norm(dim=1), m.weight.detach().norm(dim=1))
        (['weight'], True)
    """
    (x,), policy = _random(model, range(0, 1), seed, norm, biasbn, params)
    return Directions(x=x, kind="random", norm=norm, biasbn=policy, seed=int(seed))


def random_plane(model: nn.Module, *, seed: int = 0, norm: NoiseModel = "filter",
                 biasbn: BiasBN | None = None, params: ParamSelection = None) -> Directions:
    """Two seeded random directions spanning a plane (draws 0 and 1); options as
    :func:`random_direction`, whose direction is this plane's ``x``."""
    (x, y), policy = _random(model, range(0, 2), seed, norm, biasbn, params)
    return Directions(x=x, y=y, kind="random", norm=norm, biasbn=policy, seed=int(seed))


def hessian_plane(model: nn.Module, loss_fn: LossFn, data: object, *,
                  which: Which = "largest", params: ParamSelection = None,
                  tol: float | None = None,
                  seed: int = 0, forward: Forward | str | None = None) -> Directions:
    """The plane of the top two Hessian eigenvectors at the model's weights.

    ``H`` is the Hessian of the mean loss over ``data`` (:class:`~landscape.hessian.
    HessianOperator`); its two extreme eigenpairs come from thick-restart Lanczos
    (:func:`~landscape.hessian.eigenvalues`). The directions are unit vectors (``norm="none"``,
    as the PCA plane's), so along ``x`` the surface of :func:`~landscape.flatness.surface_2d`
    is ``L(w) + ½λ₁α² + O(α³)`` (``λ₁ = eigenvalues[0]``), and the plane's coordinates are
    distances in weight space. Each direction's sign makes its largest entry positive.

    Args:
        model: the network at the centre ``w`` (eval mode); never modified.
        loss_fn: ``loss_fn(outputs, targets)`` → batch-mean scalar loss.
        data: one batch or a re-iterable of batches; use the surface's data, so the plane's
            curvature is the surface's.
        which: ``"largest"`` (default: the two largest eigenvalues), ``"smallest"`` (the two
            most negative: the descent directions out of a saddle) or ``"magnitude"``.
        params: which parameters the plane moves (as for the Hessian operator); default all.
        tol: relative residual tolerance of the eigenpairs. Default ``1e-6`` for float64
            models (tight: the directions, not just the eigenvalues, must converge), ``1e-3``
            for lower precision (where float32 products cannot reach ``1e-6``).
        seed: seed of the Lanczos start vector.
        forward: how a batch is fed to the model (see :mod:`landscape.forward`).

    Returns:
        :class:`Directions` with ``kind="hessian"`` and the two ``eigenvalues``.

    Raises:
        ConfigError: fewer than two parameters, or the eigenpairs did not converge.

    Example:
        >>> m = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double().eval()
        >>> x, y = torch.randn(32, 3, dtype=torch.float64), torch.randint(0, 2, (32,))
        >>> d = hessian_plane(m, nn.CrossEntropyLoss(), (x, y))
        >>> d.kind, d.eigenvalues.shape, bool(d.eigenvalues[0] >= d.eigenvalues[1])
        ('hessian', (2,), True)
    """
    from landscape.hessian import HessianOperator, eigenvalues

    H = HessianOperator(model, loss_fn, data, params=params, forward=forward)
    if H.num_params < 2:
        raise ConfigError(f"a Hessian plane needs at least 2 parameters, got {H.num_params}")
    if tol is None:
        tol = 1e-6 if H.dtype == torch.float64 else 1e-3
    result = eigenvalues(H, k=2, which=which, tol=tol, seed=seed)
    if not result.all_converged:
        raise ConfigError(f"the top Hessian eigenpairs did not converge to tol={tol} "
                          f"(residuals {result.residuals.tolist()}); raise tol or max_iter")
    parts = []
    for j in range(2):
        v = result.eigenvectors[:, j].detach()
        if v[v.abs().argmax()] < 0:
            v = -v
        parts.append({n: t.detach().cpu().clone() for n, t in H.unflatten(v).items()})
    return Directions(x=parts[0], y=parts[1], kind="hessian", norm="none", biasbn="perturb",
                      seed=int(seed), eigenvalues=np.asarray(result.eigenvalues[:2],
                                                             dtype=np.float64))


def as_directions(direction: Directions | Mapping[str, torch.Tensor] | None, model: nn.Module,
                  ndim: int, **random_kwargs: object) -> Directions:
    """``direction`` as :class:`Directions` of ``ndim`` directions (random when ``None``; a plain
    mapping is one given direction), checked against ``model``."""
    if direction is None:
        make = random_direction if ndim == 1 else random_plane
        out = make(model, **random_kwargs)  # type: ignore[arg-type]
    elif isinstance(direction, Directions):
        out = direction
    elif isinstance(direction, Mapping) and ndim == 1:
        out = Directions(x={n: torch.as_tensor(t).detach() for n, t in direction.items()})
    else:
        raise ConfigError("direction must be None, a Directions object or (for a 1D surface) a "
                          "mapping {parameter name: tensor}")
    if out.ndim != ndim:
        raise ConfigError(f"a {ndim}D surface needs {ndim} direction(s), got {out.ndim}")
    if not out.x:
        raise ConfigError("the direction moves no parameter")
    out.check_fits(model)
    return out


def same_directions(a: Directions, b: Directions) -> bool:
    """Whether two :class:`Directions` hold the same names and values (compared in float64)."""
    def eq(p: Direction | None, q: Direction | None) -> bool:
        if p is None or q is None:
            return p is q
        return set(p) == set(q) and all(
            torch.equal(p[n].detach().cpu().double(), q[n].detach().cpu().double()) for n in p)
    return eq(a.x, b.x) and eq(a.y, b.y)
