r"""Perceptrons, committee machines and parity machines: fields, outputs, stabilities, errors.

All functions are vectorised over patterns and over leading batch dimensions of the weights.
Conventions (``N`` inputs, ``K`` hidden units, patterns ``xi[P, N]``, labels ``sigma[P]`` = ±1):

* ``"perceptron"``: weights ``[..., N]``; pre-activation :math:`h^\mu = w\cdot\xi^\mu/\sqrt N`,
  output :math:`\operatorname{sign}(h^\mu)`; stability :math:`x^\mu = \sigma^\mu h^\mu`.
  Binary weights are ±1, spherical weights satisfy :math:`|w|^2 = N` (the normalisation is the
  caller's business; :func:`spherical` projects onto the sphere).
* ``"committee"``: fully connected committee machine, weights ``[..., K, N]``; every hidden unit
  sees the whole input, :math:`h_k = w_k\cdot\xi/\sqrt N`, output
  :math:`\operatorname{sign}\sum_k \operatorname{sign}(h_k)` (majority vote, second layer fixed to
  +1, ``K`` odd) as in ``BinaryCommitteeMachineFBP.jl``.
* ``"tree"``: tree committee machine, weights ``[..., K, N // K]``; hidden unit ``k`` sees the
  block ``xi[:, k*n:(k+1)*n]`` (``n = N // K``), :math:`h_k = w_k\cdot\xi_k/\sqrt n`.
* ``"parity"``: tree parity machine (same wiring as ``"tree"``), output
  :math:`\prod_k \operatorname{sign}(h_k)`; the standard example of a device whose solutions do
  not cluster in wide flat regions.

``sign(0)`` is taken as −1 for hidden units (never happens for ±1 weights and patterns with odd
``N``, resp. odd block size); a perceptron stability of exactly 0 counts as an error.

Example:
    >>> import numpy as np
    >>> from landscape.shallow.data import random_patterns
    >>> from landscape.shallow.models import num_errors
    >>> xi, labels = random_patterns(21, 10, seed=0)
    >>> w = np.ones(21)
    >>> 0 <= num_errors(w, xi, labels) <= 10
    True
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from landscape.errors import ConfigError

Machine = Literal["perceptron", "committee", "tree", "parity"]

__all__ = [
    "Machine",
    "hidden_fields",
    "num_errors",
    "predict",
    "spherical",
    "stabilities",
    "training_error",
]


def _sign(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, 1.0, -1.0)


def _check(weights: np.ndarray, xi: np.ndarray, machine: Machine) -> None:
    if xi.ndim != 2:
        raise ConfigError(f"patterns must be [P, N], got shape {xi.shape}")
    N = xi.shape[1]
    if machine == "perceptron":
        if weights.shape[-1] != N:
            raise ConfigError(f"perceptron weights must be [..., {N}], got {weights.shape}")
    elif machine == "committee":
        if weights.ndim < 2 or weights.shape[-1] != N:
            raise ConfigError(f"committee weights must be [..., K, {N}], got {weights.shape}")
    elif machine in ("tree", "parity"):
        if weights.ndim < 2 or weights.shape[-1] * weights.shape[-2] != N:
            raise ConfigError(f"{machine} weights must be [..., K, N // K] with K * (N // K) = {N}")
    else:
        raise ConfigError(f"unknown machine {machine!r}")


def hidden_fields(weights: np.ndarray, xi: np.ndarray, *, machine: Machine = "perceptron"):
    """Normalised pre-activations: ``[..., P]`` for the perceptron, ``[..., P, K]`` otherwise."""
    weights = np.asarray(weights, dtype=np.float64)
    xi = np.asarray(xi, dtype=np.float64)
    _check(weights, xi, machine)
    P, N = xi.shape
    if machine == "perceptron":
        return weights @ xi.T / np.sqrt(N)
    if machine == "committee":
        return np.einsum("...kn,pn->...pk", weights, xi) / np.sqrt(N)
    K, n = weights.shape[-2:]
    return np.einsum("...kn,pkn->...pk", weights, xi.reshape(P, K, n)) / np.sqrt(n)


def predict(weights: np.ndarray, xi: np.ndarray, *, machine: Machine = "perceptron") -> np.ndarray:
    """Outputs ±1, shape ``[..., P]``."""
    h = hidden_fields(weights, xi, machine=machine)
    if machine == "perceptron":
        return _sign(h)
    tau = _sign(h)
    if machine == "parity":
        return np.prod(tau, axis=-1)
    return _sign(tau.sum(axis=-1))


def stabilities(weights: np.ndarray, xi: np.ndarray, labels: np.ndarray) -> np.ndarray:
    r"""Perceptron stabilities :math:`x^\mu = \sigma^\mu\, w\cdot\xi^\mu/\sqrt N`, ``[..., P]``."""
    return np.asarray(labels, dtype=np.float64) * hidden_fields(weights, xi)


def num_errors(
    weights: np.ndarray,
    xi: np.ndarray,
    labels: np.ndarray,
    *,
    machine: Machine = "perceptron",
    kappa: float = 0.0,
) -> np.ndarray | int:
    """Number of training errors (``[...]`` for batched weights, ``int`` otherwise).

    For the perceptron a pattern is an error when its stability is ``<= kappa``; for the other
    machines when the output differs from the label (``kappa`` must be 0).
    """
    labels = np.asarray(labels, dtype=np.float64)
    if machine == "perceptron":
        wrong = stabilities(weights, xi, labels) <= kappa
    else:
        if kappa != 0.0:
            raise ConfigError("a margin kappa is only defined for the perceptron")
        wrong = predict(weights, xi, machine=machine) != labels
    count = wrong.sum(axis=-1)
    return int(count) if np.ndim(count) == 0 else count


def training_error(
    weights: np.ndarray,
    xi: np.ndarray,
    labels: np.ndarray,
    *,
    machine: Machine = "perceptron",
    kappa: float = 0.0,
) -> np.ndarray | float:
    """Fraction of training errors (see :func:`num_errors`)."""
    P = max(np.shape(labels)[0], 1)
    count = num_errors(weights, xi, labels, machine=machine, kappa=kappa)
    return count / P if np.ndim(count) else float(count) / P


def spherical(weights: np.ndarray) -> np.ndarray:
    """Project continuous weights ``[..., N]`` onto the sphere :math:`|w|^2 = N`."""
    w = np.asarray(weights, dtype=np.float64)
    norm = np.linalg.norm(w, axis=-1, keepdims=True)
    if np.any(norm == 0):
        raise ConfigError("cannot project a zero weight vector onto the sphere")
    return w * np.sqrt(w.shape[-1]) / norm
