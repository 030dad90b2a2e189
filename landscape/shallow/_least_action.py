r"""Private helpers shared by the least-action learners (:mod:`~landscape.shallow.replicated`,
:mod:`~landscape.shallow.greedy`): committee wiring, the least-action hidden-unit rule and the
result builder.

Conventions (as in :mod:`landscape.shallow.learners`): labels are absorbed into the patterns,
:math:`a^\mu = \sigma^\mu\xi^\mu` (a gauge for odd ``K``), so every target is +1; binary weights
are :math:`J = \operatorname{sign}(H)` of continuous hidden variables ``H`` with
``sign(0) = -1`` (the reference code's ``H > 0``); fields are the raw sums
:math:`h_k = J_k\cdot a` (integers for ±1 patterns, as in ``BinaryCommitteeMachineRSGD.jl``).
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np

from landscape.errors import ConfigError, NonFiniteError
from landscape.shallow.models import num_errors
from landscape.shallow.results import LearnerResult


def check_K(K: int) -> None:
    """``K`` must be 1 (perceptron) or odd ``>= 3`` (majority output)."""
    if K != 1 and (K < 3 or K % 2 == 0):
        raise ConfigError(f"K must be 1 (perceptron) or odd >= 3 (committee machine), got K={K}")


def sign(x: np.ndarray) -> np.ndarray:
    """±1 with ``sign(0) = -1`` (the reference code's ``H > 0``)."""
    return np.where(x > 0, 1.0, -1.0)


class Wiring:
    """How the ``K`` hidden units see the (label-absorbed) patterns ``a[P, N]``.

    Fully connected (``tree=False``): weights ``[..., K, N]``, :math:`h_k = J_k\\cdot a`.
    Tree (``tree=True``): weights ``[..., K, N // K]``, unit ``k`` sees block ``k`` of ``a``.
    ``K = 1`` is the perceptron (handled as a committee of one unit; weights ``[..., 1, N]``).
    """

    def __init__(self, a: np.ndarray, K: int, tree: bool) -> None:
        P, N = a.shape
        if tree and (K == 1 or N % K != 0):
            raise ConfigError(f"a tree committee needs K >= 3 dividing N (got K={K}, N={N})")
        self.K, self.N, self.P, self.tree = K, N, P, tree
        self.n = N // K if tree else N
        self.a = a.reshape(P, K, self.n) if tree else a

    @property
    def shape(self) -> tuple[int, int]:
        """Shape of one machine's weights, ``(K, n)``."""
        return (self.K, self.n)

    def fields(self, J: np.ndarray, idx: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Fields ``[..., B, K]`` of weights ``J[..., K, n]`` on the patterns ``idx``."""
        A = self.a[idx]
        if self.tree:
            return np.einsum("...kn,bkn->...bk", J, A)
        return np.einsum("...kn,bn->...bk", J, A)

    def accumulate(self, coef: np.ndarray, idx: np.ndarray | slice) -> np.ndarray:
        """:math:`\\Delta_k = \\sum_b c_{bk}\\, a^b` (restricted to unit ``k``'s inputs): ``[K, n]``
        from ``coef[B, K]``."""
        A = self.a[idx]
        if self.tree:
            return np.einsum("bk,bkn->kn", coef, A)
        return coef.T @ A

    def errors(self, J: np.ndarray) -> np.ndarray:
        """Training errors of weights ``J[..., K, n]`` (majority vote), ``[...]``."""
        votes = np.where(self.fields(J) > 0, 1, -1).sum(axis=-1)
        return (votes <= 0).sum(axis=-1)

    def machine(self) -> str:
        """The :mod:`~landscape.shallow.models` machine name of the returned weights."""
        return "perceptron" if self.K == 1 else ("tree" if self.tree else "committee")


def least_action_mask(h: np.ndarray, threshold: float = 0.0) -> np.ndarray:
    r"""Which hidden units the least-action rule moves, for fields ``h[..., B, K]`` (targets +1).

    A unit is *satisfied* if :math:`h_k > \theta` (``threshold``). A pattern needs
    :math:`n = (K+1)/2 - \#\{\text{satisfied}\}` more satisfied units to be classified correctly
    with that margin; if :math:`n > 0`, the :math:`n` unsatisfied units with the **largest**
    field (the least action: smallest :math:`\theta - h_k`) are selected. At :math:`\theta = 0`
    this is the reference rule (``BinaryCommitteeMachineRSGD.jl``, ``compute_gd!``): for a
    misclassified pattern with output field :math:`h_\mathrm{out} = \sum_k \tau_k`, move the
    :math:`(1 - h_\mathrm{out})/2` wrong units of smallest :math:`|h_k|` (ties: lowest index, as
    the reference's ``findmin``); for ``K = 1`` it is the perceptron rule.

    Returns:
        A float mask ``[..., B, K]`` in {0, 1}.
    """
    K = h.shape[-1]
    sat = h > threshold
    need = (K + 1) // 2 - sat.sum(axis=-1)  # [..., B]
    key = np.where(sat, np.inf, -h)
    order = np.argsort(key, axis=-1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.broadcast_to(np.arange(K), order.shape), axis=-1)
    return (rank < need[..., None]).astype(np.float64)


def finish(
    weights: np.ndarray,
    xi: np.ndarray,
    labels: np.ndarray,
    *,
    machine: str,
    start: float,
    algorithm: str,
    protocol: str,
    iterations: int,
    steps: int,
    K: int,
    seed: int,
    settings: dict[str, Any],
) -> LearnerResult:
    """Build the :class:`LearnerResult`, **recounting** the errors of the returned weights."""
    if not np.all(np.isfinite(weights)):
        raise NonFiniteError(f"{algorithm}: the weights became non-finite")
    errors = int(num_errors(weights, xi, labels, machine=machine))  # never assumed
    P, N = xi.shape
    return LearnerResult(
        weights=weights, solved=errors == 0, errors=errors, iterations=int(iterations),
        seconds=time.perf_counter() - start, algorithm=algorithm, protocol=protocol,
        steps=int(steps), K=int(K), N=int(N), P=int(P), seed=int(seed),
        settings=json.dumps(settings, sort_keys=True))


def squeeze(J: np.ndarray, K: int) -> np.ndarray:
    """``[1, N] -> [N]`` for the perceptron; committee weights unchanged (a copy)."""
    return J[0].copy() if K == 1 else J.copy()
