r"""Exact enumeration for tiny binary perceptrons: solutions, local entropy, tilted free entropy.

For ``N <= 21`` all :math:`2^N` weight vectors :math:`w \in \{\pm1\}^N` are scanned in chunks
(vectorised: one ``[chunk, N] @ [N, P]`` product per chunk) and the solutions of
:math:`\sigma^\mu w\cdot\xi^\mu/\sqrt N > \kappa` for all :math:`\mu` are kept. Around a reference
:math:`\tilde w` the **local entropy** is the exact count at Hamming distance :math:`k = dN`,

.. math::  S(d) = \frac1N \log \#\{w \text{ solution} : \operatorname{Hamming}(w, \tilde w) = dN\},

(``-inf`` where there is none), and the **tilted free entropy** at coupling :math:`\lambda` (the
quantity belief propagation computes, see :mod:`landscape.shallow.bp`) is

.. math::
    \phi(\lambda) = \frac1N \log \sum_{w \text{ solution}} e^{\lambda\, w\cdot\tilde w},\qquad
    q(\lambda) = \phi'(\lambda) = \frac{\langle w\cdot\tilde w\rangle_\lambda}{N},

with :math:`d(\lambda) = (1 - q)/2` and the Legendre transform :math:`S = \phi - \lambda q`.
At finite ``N`` the Legendre pair is a smoothed version of the counting curve (it is exact only as
``N → ∞``); compare BP with :meth:`ExactLocalEntropy.tilted`, not with the raw counts.

Example:
    >>> from landscape.shallow.data import teacher_patterns
    >>> from landscape.shallow.enumeration import enumerate_solutions, exact_local_entropy
    >>> xi, labels, teacher = teacher_patterns(11, 5, seed=0)
    >>> sols = enumerate_solutions(xi, labels)
    >>> curve = exact_local_entropy(teacher, sols)
    >>> int(curve.counts.sum()) == len(sols), curve.counts[0]
    (True, np.int64(1))
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from landscape.errors import ConfigError
from landscape.hessian._results import ArraysMixin

__all__ = [
    "MAX_ENUMERATION_N",
    "ExactLocalEntropy",
    "TiltedEntropy",
    "all_binary_weights",
    "enumerate_solutions",
    "exact_local_entropy",
    "exact_marginals",
]

MAX_ENUMERATION_N = 24
"""Largest ``N`` accepted (``2**24`` vectors; the documented target is ``N <= 21``)."""


def all_binary_weights(N: int, *, chunk_size: int = 1 << 16) -> Iterator[np.ndarray]:
    """Yield all :math:`2^N` vectors of ``{-1, +1}^N`` as float64 chunks ``[<= chunk_size, N]``.

    Vector number ``j`` has ``w_i = +1`` where bit ``i`` of ``j`` is set.
    """
    if not 1 <= N <= MAX_ENUMERATION_N:
        raise ConfigError(f"exact enumeration needs 1 <= N <= {MAX_ENUMERATION_N}, got N={N}")
    shifts = np.arange(N, dtype=np.int64)
    for start in range(0, 1 << N, chunk_size):
        idx = np.arange(start, min(start + chunk_size, 1 << N), dtype=np.int64)
        bits = (idx[:, None] >> shifts) & 1
        yield (2 * bits - 1).astype(np.float64)


def enumerate_solutions(
    xi: np.ndarray, labels: np.ndarray, *, kappa: float = 0.0, chunk_bits: int = 16
) -> np.ndarray:
    r"""All binary perceptron solutions, int8 ``[S, N]`` (stabilities :math:`> \kappa`).

    The first ``chunk_bits`` coordinates are enumerated once (their partial sums
    :math:`\sum_{i<n}\sigma\xi_i w_i` precomputed as a ``[2^n, P]`` table); the remaining ones are
    looped over, adding one offset vector ``[P]`` per block, so the cost is
    :math:`O(2^N P)` comparisons. Sums are formed from the raw (integer for ±1 data) products and
    compared with :math:`\kappa\sqrt N`, so ties are classified exactly as in
    :func:`landscape.shallow.models.num_errors`.
    """
    xi = np.asarray(xi, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    if xi.ndim != 2 or labels.shape != (xi.shape[0],):
        raise ConfigError(f"need xi [P, N] and labels [P], got {xi.shape} and {labels.shape}")
    P, N = xi.shape
    if not 1 <= N <= MAX_ENUMERATION_N:
        raise ConfigError(f"exact enumeration needs 1 <= N <= {MAX_ENUMERATION_N}, got N={N}")
    signed = (labels[:, None] * xi).T  # [N, P]
    thr = kappa * np.sqrt(N)
    n_low = min(N, chunk_bits)
    low = next(all_binary_weights(n_low, chunk_size=1 << n_low))  # [2^n_low, n_low]
    base = low @ signed[:n_low]  # [2^n_low, P]
    low8 = low.astype(np.int8)
    found = []
    for high in all_binary_weights(N - n_low, chunk_size=1) if n_low < N else [np.zeros((1, 0))]:
        offset = high[0] @ signed[n_low:]
        ok = np.all(base + offset > thr, axis=1) if P else np.ones(len(base), dtype=bool)
        block = np.empty((int(ok.sum()), N), dtype=np.int8)
        block[:, :n_low] = low8[ok]
        block[:, n_low:] = high[0].astype(np.int8)
        found.append(block)
    return np.concatenate(found, axis=0)


@dataclass(frozen=True)
class TiltedEntropy(ArraysMixin):
    r"""The exact Legendre pair at couplings :math:`\lambda` (same fields as the BP result).

    Attributes:
        couplings: :math:`\lambda`, ``[L]``.
        free_entropy: :math:`\phi(\lambda)`, per weight, ``[L]``.
        overlaps: :math:`q(\lambda)`, ``[L]``.
        distances: :math:`d = (1 - q)/2`, ``[L]``.
        entropy: :math:`S = \phi - \lambda q`, ``[L]``.
    """

    couplings: np.ndarray
    free_entropy: np.ndarray
    overlaps: np.ndarray
    distances: np.ndarray
    entropy: np.ndarray


@dataclass(frozen=True)
class ExactLocalEntropy(ArraysMixin):
    r"""Exact distance histogram of the solutions around a reference.

    Attributes:
        distances: :math:`d = k/N`, ``k = 0..N``, ``[N + 1]``.
        counts: number of solutions at Hamming distance ``k``, int64 ``[N + 1]``.
        entropy: :math:`\log(\text{counts})/N` (``-inf`` where 0), ``[N + 1]``.
        num_solutions: total number of solutions.
        N: number of weights.
    """

    distances: np.ndarray
    counts: np.ndarray
    entropy: np.ndarray
    num_solutions: int
    N: int

    def tilted(self, couplings: np.ndarray | float) -> TiltedEntropy:
        r"""The exact :math:`\phi(\lambda)`, :math:`q`, :math:`d`, :math:`S` at ``couplings``."""
        lam = np.atleast_1d(np.asarray(couplings, dtype=np.float64))
        if self.num_solutions == 0:
            raise ConfigError("the instance has no solution: the tilted free entropy is -inf")
        k = np.arange(self.N + 1)
        ovl = 1.0 - 2.0 * k / self.N  # overlap of a vector at distance k
        with np.errstate(divide="ignore"):
            logc = np.log(self.counts.astype(np.float64))
        expo = logc[None, :] + lam[:, None] * self.N * ovl[None, :]
        log_z = logsumexp(expo, axis=1)
        weights = np.exp(expo - log_z[:, None])
        q = weights @ ovl
        phi = log_z / self.N
        return TiltedEntropy(
            couplings=lam,
            free_entropy=phi,
            overlaps=q,
            distances=(1.0 - q) / 2.0,
            entropy=phi - lam * q,
        )


def exact_local_entropy(reference: np.ndarray, solutions: np.ndarray) -> ExactLocalEntropy:
    """Histogram the Hamming distances of ``solutions [S, N]`` from ``reference [N]``."""
    ref = np.asarray(reference)
    sols = np.asarray(solutions)
    if sols.ndim != 2 or ref.shape != (sols.shape[1],):
        raise ConfigError(f"need solutions [S, N] and reference [N], got {sols.shape}, {ref.shape}")
    N = ref.shape[0]
    ham = np.sum(sols != np.sign(ref)[None, :].astype(sols.dtype), axis=1)
    counts = np.bincount(ham, minlength=N + 1).astype(np.int64)
    with np.errstate(divide="ignore"):
        entropy = np.log(counts.astype(np.float64)) / N
    return ExactLocalEntropy(
        distances=np.arange(N + 1) / N,
        counts=counts,
        entropy=entropy,
        num_solutions=len(sols),
        N=N,
    )


def exact_marginals(
    solutions: np.ndarray, reference: np.ndarray | None = None, coupling: float = 0.0
) -> np.ndarray:
    r"""Exact magnetisations :math:`\langle w_i\rangle` of the (tilted) measure on solutions.

    The weight of a solution is :math:`e^{\lambda w\cdot\tilde w}` (uniform when ``coupling = 0``).
    """
    sols = np.asarray(solutions, dtype=np.float64)
    if len(sols) == 0:
        raise ConfigError("no solutions: the marginals are undefined")
    if reference is None or coupling == 0.0:
        return sols.mean(axis=0)
    expo = coupling * (sols @ np.asarray(reference, dtype=np.float64))
    p = np.exp(expo - expo.max())
    return (p @ sols) / p.sum()
