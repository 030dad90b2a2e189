r"""Random patterns and teacher–student labels for perceptrons and committee machines.

Sizes follow the reference code (``BinaryCommitteeMachineFBP.jl`` and
``BinaryCommitteeMachineRSGD.jl``): a pattern matrix is ``xi[P, N]`` (one pattern per row), the
labels are ``labels[P]`` in ``{-1, +1}``, and the load is counted **per synapse**,

.. math::  \alpha = \frac{P}{N K}, \qquad P = \operatorname{round}(\alpha N K),

so that ``K = 1`` (the perceptron) gives the familiar :math:`\alpha = P/N`; use
:func:`num_patterns` for the conversion. Binary patterns are i.i.d. uniform in ``{-1, +1}``;
Gaussian patterns (option ``kind="gaussian"``) are i.i.d. :math:`\mathcal N(0, 1)`. Random labels
are i.i.d. uniform ±1 (the fBP code instead sets all labels to +1, which is equivalent through the
gauge :math:`\xi^\mu \to \sigma^\mu \xi^\mu`). With ±1 patterns use an **odd** ``N`` (the
reference code requires it): then :math:`w\cdot\xi` is never zero for ±1 weights and no
stability is ambiguous.

Example:
    >>> from landscape.shallow.data import num_patterns, random_patterns
    >>> P = num_patterns(0.5, 201)
    >>> xi, labels = random_patterns(201, P, seed=0)
    >>> xi.shape, labels.shape, P
    ((100, 201), (100,), 100)
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from landscape._seeding import numpy_rng
from landscape.errors import ConfigError

PatternKind = Literal["binary", "gaussian"]

__all__ = ["PatternKind", "num_patterns", "random_patterns", "teacher_patterns"]


def num_patterns(alpha: float, N: int, K: int = 1) -> int:
    """The number of patterns ``P = round(alpha * N * K)`` at load ``alpha`` per synapse."""
    if alpha < 0 or N < 1 or K < 1:
        raise ConfigError(f"need alpha >= 0, N >= 1, K >= 1 (got {alpha}, {N}, {K})")
    return round(alpha * N * K)


def _draw_patterns(N: int, P: int, kind: PatternKind, rng: np.random.Generator) -> np.ndarray:
    if N < 1 or P < 0:
        raise ConfigError(f"need N >= 1 and P >= 0 (got N={N}, P={P})")
    if kind == "binary":
        return (2.0 * rng.integers(0, 2, size=(P, N)) - 1.0).astype(np.float64)
    if kind == "gaussian":
        return rng.standard_normal((P, N))
    raise ConfigError(f"unknown pattern kind {kind!r}; use 'binary' or 'gaussian'")


def random_patterns(
    N: int, P: int, *, seed: int, kind: PatternKind = "binary"
) -> tuple[np.ndarray, np.ndarray]:
    """Random patterns with random labels (the storage problem).

    Args:
        N: Input dimension (number of weights of a perceptron). Odd for ``kind="binary"``.
        P: Number of patterns; see :func:`num_patterns` for the ``alpha`` convention.
        seed: Seed of the draw (streams ``"patterns"`` and ``"labels"``).
        kind: ``"binary"`` (±1 entries) or ``"gaussian"`` (standard normal entries).

    Returns:
        ``(xi, labels)``: ``xi`` float64 ``[P, N]``, ``labels`` float64 ``[P]`` with entries ±1.
    """
    xi = _draw_patterns(N, P, kind, numpy_rng(seed, "patterns", kind))
    labels = 2.0 * numpy_rng(seed, "labels").integers(0, 2, size=P) - 1.0
    return xi, labels.astype(np.float64)


def teacher_patterns(
    N: int,
    P: int,
    *,
    seed: int,
    K: int = 1,
    kind: PatternKind = "binary",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Random patterns labelled by a random binary teacher (perceptron or committee machine).

    The teacher has i.i.d. uniform ±1 weights; for ``K = 1`` it is a perceptron,
    :math:`\sigma^\mu = \operatorname{sign}(w^*\cdot\xi^\mu)`, for odd ``K > 1`` a fully connected
    committee machine,
    :math:`\sigma^\mu = \operatorname{sign}\sum_k \operatorname{sign}(w^*_k\cdot\xi^\mu)`
    (as the ``teacher`` option of the fBP reference code).

    Returns:
        ``(xi, labels, teacher)`` with ``teacher`` float64 ``[N]`` (``K = 1``) or ``[K, N]``.

    Raises:
        ConfigError: for an even ``K``, or an even ``N`` with binary patterns (ties).
    """
    if K < 1 or K % 2 == 0:
        raise ConfigError(f"the teacher needs an odd number of hidden units (got K={K})")
    if kind == "binary" and N % 2 == 0:
        raise ConfigError(f"binary patterns need an odd N so that w·xi is never 0 (got N={N})")
    xi = _draw_patterns(N, P, kind, numpy_rng(seed, "patterns", kind))
    shape = (N,) if K == 1 else (K, N)
    teacher = 2.0 * numpy_rng(seed, "teacher").integers(0, 2, size=shape) - 1.0
    fields = xi @ teacher.reshape(-1, N).T  # [P, K]
    labels = np.sign(np.sign(fields).sum(axis=1))
    return xi, labels.astype(np.float64), teacher.astype(np.float64)
