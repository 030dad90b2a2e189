r"""Belief propagation for the binary perceptron and the local entropy of a solution.

BP runs on the factor graph of the storage problem (one hard constraint
:math:`\sigma^\mu w\cdot\xi^\mu > \kappa\sqrt N` per pattern) with the Gaussian ("accurate")
approximation of the cavity sums of ``BinaryCommitteeMachineFBP.jl``; the kernel and the Bethe
free entropy are documented in :mod:`landscape.shallow._bp_core`. One sweep costs O(N P) and is
fully vectorised (all messages updated in parallel, damped).

**Local entropy** (Franz–Parisi construction, ``research/baldassi.md`` §3.1): an external field
:math:`\lambda\tilde w_i` couples every weight to a reference solution :math:`\tilde w`; BP gives
the tilted free entropy

.. math::
    \phi(\lambda) = \frac1N \log \sum_{w:\,E(w)=0} e^{\lambda\, w\cdot\tilde w}
    \quad\text{and}\quad q(\lambda) = \frac1N\sum_i \tilde w_i \tanh H_i = \phi'(\lambda),

and the Legendre transform gives the curve

.. math::  d(\lambda) = \frac{1 - q(\lambda)}2, \qquad S(d) = \phi(\lambda) - \lambda\, q(\lambda),

the log-number of solutions per weight at normalised Hamming distance :math:`d` from
:math:`\tilde w`. Without patterns :math:`S(d) = H_2(d) = -d\log d - (1-d)\log(1-d)`
(:func:`binary_entropy`), the upper bound of every curve; a wide flat minimum has
:math:`S(d)\approx H_2(d)` at small :math:`d`, an isolated solution has :math:`S(d)` well below.
BP is exact for :math:`N\to\infty` (replica-symmetric, Gaussian cavity sums); on tiny instances it
agrees with exact enumeration (:mod:`landscape.shallow.enumeration`) to about 0.01-0.03 in
:math:`S` at ``N = 21`` (tested). The same construction runs on the fully connected committee
machine (``K`` odd, :mod:`landscape.shallow._bp_committee`, exact majority node), where it agrees
with enumeration at ``N = 7, K = 3`` to 0.02 in :math:`S` (tested).

Example:
    >>> import numpy as np
    >>> from landscape.shallow import binary_entropy, focusing_bp, local_entropy, random_patterns
    >>> xi, labels = random_patterns(201, 60, seed=0)
    >>> sol = focusing_bp(xi, labels, seed=0)
    >>> curve = local_entropy(sol.weights, xi, labels, couplings=np.array([2.0, 1.0]))
    >>> bool(np.all(curve.entropy <= binary_entropy(curve.distances) + 1e-2))
    True
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from landscape._progress import progress as progress_bar
from landscape.errors import ConfigError
from landscape.hessian._results import ArraysMixin
from landscape.shallow._backend import DEFAULT_BACKEND, Backend
from landscape.shallow._bp_committee import CommitteeGraph
from landscape.shallow._bp_core import PerceptronGraph, check_instance

__all__ = [
    "BPResult",
    "LocalEntropyResult",
    "binary_entropy",
    "default_couplings",
    "local_entropy",
    "perceptron_bp",
]


def binary_entropy(d: np.ndarray | float) -> np.ndarray:
    r""":math:`H_2(d) = -d\log d - (1-d)\log(1-d)` (natural log, 0 at ``d`` = 0 or 1)."""
    d = np.asarray(d, dtype=np.float64)
    if np.any((d < 0) | (d > 1)):
        raise ConfigError("binary entropy needs 0 <= d <= 1")
    with np.errstate(divide="ignore", invalid="ignore"):
        out = -d * np.log(d) - (1 - d) * np.log1p(-d)
    return np.where((d == 0) | (d == 1), 0.0, out)


def default_couplings(num: int = 20, d_min: float = 1e-3, d_max: float = 0.3) -> np.ndarray:
    r"""Couplings :math:`\lambda = \operatorname{atanh}(1-2d)` for ``d`` log-spaced in
    ``[d_min, d_max]`` (the :math:`\alpha = 0` relation), in decreasing order."""
    if not 0 < d_min < d_max < 0.5:
        raise ConfigError("need 0 < d_min < d_max < 0.5")
    return np.arctanh(1.0 - 2.0 * np.geomspace(d_min, d_max, num))


@dataclass(frozen=True)
class BPResult(ArraysMixin):
    """Fixed point of BP on one instance.

    Attributes:
        magnetizations: :math:`\\langle w_i\\rangle`, ``[N]``.
        fields: total fields :math:`H_i` (``magnetizations = tanh(fields)``), ``[N]``.
        free_entropy: Bethe free entropy per weight (including the external field).
        iterations: sweeps run.
        converged: whether the max message change fell below ``tol``.
        seconds: wall time.
    """

    magnetizations: np.ndarray
    fields: np.ndarray
    free_entropy: float
    iterations: int
    converged: bool
    seconds: float


def _check_bp_settings(damping: float, tol: float, max_iters: int) -> None:
    if not 0 <= damping < 1:
        raise ConfigError(f"damping must be in [0, 1), got {damping}")
    if not tol > 0 or max_iters < 1:
        raise ConfigError(f"need tol > 0 and max_iters >= 1 (got {tol}, {max_iters})")


def perceptron_bp(
    xi: np.ndarray,
    labels: np.ndarray,
    *,
    external_field: np.ndarray | None = None,
    kappa: float = 0.0,
    damping: float = 0.5,
    tol: float = 1e-8,
    max_iters: int = 1000,
    backend: Backend = DEFAULT_BACKEND,
    device: str | torch.device | None = None,
) -> BPResult:
    """Run BP to a fixed point for the uniform measure on the solutions (times ``e^{b·w}``).

    Args:
        xi: Patterns ``[P, N]``.
        labels: Labels ±1 ``[P]``.
        external_field: Optional unary fields ``b`` ``[N]`` (weight ``exp(b_i w_i)``).
        kappa: Margin of the constraint (stabilities must exceed it).
        damping: Fraction of the old message kept at each sweep, in ``[0, 1)``.
        tol: Stop when the largest change of a message magnetisation is below this.
        max_iters: Maximum number of sweeps.
        backend: ``"torch"`` (default, float64 on ``device``) or ``"numpy"`` (SciPy); the same
            messages to rounding (:mod:`landscape.shallow._bp_torch`).
        device: torch device (``"cpu"`` by default).

    Raises:
        ConfigError: on bad shapes or settings. NonFiniteError: if the messages blow up.
    """
    _check_bp_settings(damping, tol, max_iters)
    start = time.perf_counter()
    graph = PerceptronGraph.create(xi, labels, kappa=kappa, backend=backend, device=device)
    b = np.zeros(graph.N) if external_field is None else np.asarray(external_field, float)
    if b.shape != (graph.N,):
        raise ConfigError(f"external_field must be [{graph.N}], got {b.shape}")
    iters, conv = graph.run(b, damping=damping, tol=tol, max_iters=max_iters)
    H = graph.total_field(b)
    return BPResult(
        magnetizations=np.tanh(H),
        fields=H,
        free_entropy=graph.free_entropy(b),
        iterations=iters,
        converged=conv,
        seconds=time.perf_counter() - start,
    )


@dataclass(frozen=True)
class LocalEntropyResult(ArraysMixin):
    r"""Local-entropy curve of one solution, one entry per coupling.

    Attributes:
        distances: :math:`d(\lambda) = (1 - q)/2`, ``[L]``.
        entropy: :math:`S(d) = \phi - \lambda q`, per weight, natural log, ``[L]``.
        couplings: :math:`\lambda`, ``[L]`` (in the order given).
        free_entropy: :math:`\phi(\lambda)`, ``[L]``.
        overlaps: :math:`q(\lambda)`, ``[L]``.
        converged: whether BP converged at each coupling, bool ``[L]``.
        iterations: BP sweeps at each coupling, ``[L]``.
        bound: :math:`H_2(d)` at the same distances, ``[L]``.
        K: hidden units (1). kappa, damping, tol, max_iters: the settings. seconds: wall time.
    """

    distances: np.ndarray
    entropy: np.ndarray
    couplings: np.ndarray
    free_entropy: np.ndarray
    overlaps: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray
    bound: np.ndarray
    K: int
    kappa: float
    damping: float
    tol: float
    max_iters: int
    seconds: float


def local_entropy(
    weights: np.ndarray,
    xi: np.ndarray,
    labels: np.ndarray,
    *,
    K: int = 1,
    couplings: np.ndarray | None = None,
    kappa: float = 0.0,
    damping: float = 0.5,
    tol: float = 1e-7,
    max_iters: int = 2000,
    backend: Backend = DEFAULT_BACKEND,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> LocalEntropyResult:
    r"""BP estimate of the local-entropy curve :math:`S(d)` around ``weights``.

    BP is run at each coupling from the largest to the smallest, each warm-started from the
    previous fixed point (at large :math:`\lambda` the measure sits on ``weights`` and BP converges
    in a few sweeps, so the continuation follows the state that contains the reference).

    Around an *isolated* solution (e.g. a typical one, or the teacher of a teacher–student
    instance) BP collapses onto the reference for all couplings above some :math:`\lambda^*`: the
    curve then reports :math:`d \approx 0`, :math:`S \approx 0` there (no solutions nearby),
    which is the physical answer, not a failure (see ``tests/shallow/test_flatness_contrast.py``).

    Args:
        weights: The reference :math:`\tilde w`, ±1 ``[N]`` (``K = 1``) or ``[K, N]``
            (usually a solution).
        xi: Patterns ``[P, N]``. labels: Labels ±1 ``[P]``.
        K: Hidden units: 1 (perceptron) or odd ``K >= 3`` (fully connected committee machine,
            :mod:`landscape.shallow._bp_committee`; entropy per weight, i.e. divided by ``N K``).
        couplings: :math:`\lambda` values (default :func:`default_couplings`, 20 points with
            :math:`d` from 0.001 to 0.3 at :math:`\alpha = 0`).
        kappa: Margin of the solutions counted.
        damping, tol, max_iters, backend, device: BP settings (see :func:`perceptron_bp`).
        progress: show the couplings done (:func:`landscape._progress.progress`).

    Returns:
        A :class:`LocalEntropyResult`; points where BP did not converge are flagged in
        ``converged`` (their values are those of the last sweep); points where BP reached a
        contradiction (some pattern satisfied with probability below 1e-10 under the BP
        marginals: loopy BP lost the solution space, typically at small coupling on a tiny or
        near-capacity instance) are flagged too and their values are NaN.

    Raises:
        ConfigError: for an even ``K``, non-±1 weights, bad shapes or settings.
        NonFiniteError: if BP blows up (e.g. ``weights`` far from any solution at large coupling).
    """
    if K != 1 and (K < 3 or K % 2 == 0):
        raise ConfigError(f"K must be 1 (perceptron) or odd >= 3 (committee machine), got K={K}")
    if K != 1 and kappa != 0.0:
        raise ConfigError("a margin kappa is only implemented for the perceptron (K=1)")
    _check_bp_settings(damping, tol, max_iters)
    xi, labels = check_instance(xi, labels)
    ref = np.asarray(weights, dtype=np.float64)
    shape = (xi.shape[1],) if K == 1 else (K, xi.shape[1])
    if ref.shape != shape or not np.all(np.abs(ref) == 1):
        raise ConfigError(f"weights must be ±1 of shape {list(shape)}, got {list(ref.shape)}")
    lam = default_couplings() if couplings is None else np.atleast_1d(np.asarray(couplings, float))
    if lam.ndim != 1 or not np.all(np.isfinite(lam)):
        raise ConfigError("couplings must be a finite 1-d array")
    start = time.perf_counter()
    n_weights = ref.size
    graph: PerceptronGraph | CommitteeGraph
    if K == 1:
        graph = PerceptronGraph.create(xi, labels, kappa=kappa, backend=backend, device=device)
    else:
        graph = CommitteeGraph.create(xi, labels, K, np.zeros((xi.shape[0], K, xi.shape[1])),
                                      backend=backend, device=device)
    L = len(lam)
    phi, q = np.empty(L), np.empty(L)
    conv, iters = np.zeros(L, dtype=bool), np.zeros(L, dtype=np.int64)
    for j in progress_bar(np.argsort(-lam, kind="stable"), desc="local entropy (BP)",
                          unit="coupling", quiet=not progress):
        b = lam[j] * ref
        iters[j], conv[j] = graph.run(b, damping=damping, tol=tol, max_iters=max_iters)
        if graph.contradiction(b):
            conv[j], phi[j], q[j] = False, np.nan, np.nan
            continue
        phi[j] = graph.free_entropy(b)
        q[j] = float(np.sum(np.tanh(graph.total_field(b)) * ref)) / n_weights
    distances = np.clip((1.0 - q) / 2.0, 0.0, 1.0)
    bound = np.full(L, np.nan)
    ok = np.isfinite(distances)
    bound[ok] = binary_entropy(distances[ok])
    return LocalEntropyResult(
        distances=distances,
        entropy=phi - lam * q,
        couplings=lam,
        free_entropy=phi,
        overlaps=q,
        converged=conv,
        iterations=iters,
        bound=bound,
        K=K,
        kappa=float(kappa),
        damping=float(damping),
        tol=float(tol),
        max_iters=int(max_iters),
        seconds=time.perf_counter() - start,
    )
