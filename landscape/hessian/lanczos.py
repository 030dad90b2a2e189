"""Lanczos kernels: lock-step runs for quadrature and thick-restart Lanczos for eigenpairs.

Both kernels take any symmetric operator ``A`` with ``shape``, ``dtype``, ``device`` and ``@``
(a :class:`~landscape.hessian.HessianOperator`, a :class:`~landscape.hessian.MatrixOperator`,
...). The recurrence coefficients ``α_j = v_jᵀ A v_j`` and ``β_j = ‖w_j‖`` are accumulated in
**float64 whatever the operator's dtype** (Ghorbani et al.'s TF2 code does the same: stability is
the issue, the product is the cost), and the small tridiagonal / arrowhead eigenproblems are
solved in float64 with LAPACK. The Krylov vectors are kept in the operator's dtype, on its device
or, with ``basis_device="cpu"``, in host memory (to save GPU memory; each step then copies one
vector per column each way).

Re-orthogonalisation (``reorth``):

- ``"full"``: classical Gram–Schmidt against every stored Krylov vector, repeated when it removed
  much of the vector (DGKS criterion; "twice is enough", Giraud et al. 2005), so the basis stays
  orthogonal to working precision and no ghost copies of converged eigenvalues appear. Costs
  ``O(m P)`` memory and ``O(m² P)`` flops (memory-bound matrix-vector products).
- ``"none"``: the plain three-term recurrence in ``O(P)`` memory (Papyan 2020's choice for
  spectral densities). Fine for quadrature, not for eigenpairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.linalg
import torch

from landscape.hessian._checks import check_choice
from landscape.hessian._operator import LinearOperator

Reorth = Literal["full", "none"]
Which = Literal["largest", "smallest", "magnitude"]


def _breakdown_tol(dtype: torch.dtype) -> float:
    """Relative size of ``β_j`` below which the Krylov space is taken as invariant: ``ε^{3/4}``."""
    return float(torch.finfo(dtype).eps) ** 0.75


@dataclass(frozen=True, eq=False)
class LanczosRuns:
    """Coefficients of ``b`` Lanczos runs done in lock-step.

    Attributes:
        alphas: float64 ``[b, m]``, diagonal of each run's tridiagonal matrix, NaN after it
            stopped.
        betas: float64 ``[b, m]``; ``betas[:, j]`` couples steps ``j`` and ``j + 1``; the last
            valid entry of a run is its residual norm. NaN after the run stopped.
        lengths: int64 ``[b]``, number of valid steps of each run (``< m`` after a breakdown).
        num_matvecs: operator products used (the sum of the lengths).
    """

    alphas: np.ndarray
    betas: np.ndarray
    lengths: np.ndarray
    num_matvecs: int


def lanczos_lockstep(A: LinearOperator, start: torch.Tensor, num_steps: int, *,
                     reorth: Reorth = "full", basis_device: torch.device | str | None = None
                     ) -> LanczosRuns:
    """Run one Lanczos recurrence per column of ``start``, all columns in one block product.

    Each step multiplies the block of current vectors ``[P, b]`` by ``A`` at once (one pass over
    the data for a curvature operator), then updates every run:

    .. math::
        w = A v_j - \\beta_{j-1} v_{j-1},\\quad \\alpha_j = v_j^\\top w,\\quad
        w \\leftarrow w - \\alpha_j v_j,\\quad \\beta_j = \\lVert w\\rVert,\\quad
        v_{j+1} = w / \\beta_j .

    A run stops when ``β_j ≤ ε^{3/4} ‖T_j‖`` (its Krylov space is invariant, so its Gauss
    quadrature is already exact); its later entries are NaN and it leaves the block.

    Args:
        A: symmetric operator ``P × P``.
        start: ``[P]`` or ``[P, b]`` start vectors (normalised here).
        num_steps: maximum number of steps ``m`` per run.
        reorth: ``"full"`` or ``"none"`` (see the module docstring).
        basis_device: where to keep the Krylov vectors (default: the operator's device).

    Returns:
        The coefficients of every run (:class:`LanczosRuns`).

    Example:
        >>> A = torch.diag(torch.arange(1.0, 6.0, dtype=torch.float64))
        >>> from landscape.hessian import MatrixOperator
        >>> runs = lanczos_lockstep(MatrixOperator(A), torch.ones(5, 2, dtype=A.dtype), 8)
        >>> runs.lengths.tolist()  # 5 distinct eigenvalues: invariant after 5 steps
        [5, 5]
    """
    check_choice("reorth", reorth, ("full", "none"))
    P = A.shape[0]
    V = start.reshape(P, -1).to(device=A.device, dtype=A.dtype)
    b = V.shape[1]
    bdev = torch.device(basis_device) if basis_device is not None else A.device
    alphas = np.full((b, num_steps), np.nan)
    betas = np.full((b, num_steps), np.nan)
    lengths = np.zeros(b, dtype=np.int64)
    V = V / V.double().norm(dim=0).to(V.dtype)
    # basis, column-major per run: Q[c, j] is the j-th Krylov vector of run c
    Q = torch.zeros(b, num_steps, P, dtype=A.dtype, device=bdev) if reorth == "full" else None
    if Q is not None:
        Q[:, 0] = V.t().to(bdev)
    active = np.arange(b)
    prev = torch.zeros_like(V)
    beta_prev = torch.zeros(b, dtype=torch.float64, device=A.device)
    norm_est = np.zeros(b)
    tol = _breakdown_tol(A.dtype)
    nmv = 0
    for j in range(num_steps):
        W = A @ V
        nmv += V.shape[1]
        a = (V.double() * W.double()).sum(0)
        W = W - V * a.to(W.dtype) - prev * beta_prev.to(W.dtype)
        if Q is not None:
            Wt = W.t().to(bdev).contiguous()  # [b_active, P]
            for i, c in enumerate(active):
                Wt[i] = _reorthogonalize(Q[c, : j + 1], Wt[i])
            W = Wt.t().to(A.device)
        beta = W.double().norm(dim=0)
        a_np, b_np = a.cpu().numpy(), beta.cpu().numpy()
        alphas[active, j], betas[active, j] = a_np, b_np
        lengths[active] = j + 1
        norm_est[active] = np.maximum(norm_est[active], np.abs(a_np) + b_np)
        keep = b_np > tol * np.maximum(norm_est[active], np.finfo(np.float64).tiny)
        if j == num_steps - 1 or not keep.any():
            break
        sel = torch.as_tensor(np.flatnonzero(keep), device=A.device)
        prev, V = V[:, sel], (W[:, sel] / beta[sel].to(W.dtype))
        beta_prev = beta[sel]
        active = active[keep]
        if Q is not None:
            Q[torch.as_tensor(active), j + 1] = V.t().to(bdev)
    return LanczosRuns(alphas, betas, lengths, nmv)


def gauss_quadrature(alpha: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of the Gauss quadrature of one Lanczos run.

    The nodes are the eigenvalues ``θ_i`` of the tridiagonal ``T_m`` (diagonal ``α``,
    off-diagonal ``β_0 … β_{m-2}``), the weights the squared first components ``τ_i²`` of its
    eigenvectors, so ``Σ τ_i² g(θ_i) ≈ v̂ᵀ g(A) v̂`` (exact for polynomials of degree < 2m).

    Args:
        alpha: ``[m]`` diagonal (NaN entries at the end are dropped).
        beta: ``[m]`` or ``[m - 1]`` couplings (only the first ``m - 1`` are used).

    Returns:
        ``(nodes, weights)``, each ``[m]``, nodes ascending, weights summing to 1.
    """
    alpha = np.asarray(alpha, dtype=np.float64)
    m = int(np.sum(~np.isnan(alpha)))
    if m == 0:
        return np.empty(0), np.empty(0)
    if m == 1:
        return alpha[:1].copy(), np.ones(1)
    theta, S = scipy.linalg.eigh_tridiagonal(alpha[:m], np.asarray(beta, np.float64)[: m - 1])
    return theta, S[0] ** 2


@dataclass(frozen=True, eq=False)
class RitzPairs:
    """Output of :func:`thick_restart_lanczos` (wanted Ritz pairs, in the wanted order)."""

    values: np.ndarray
    vectors: torch.Tensor
    residuals: np.ndarray
    converged: np.ndarray
    num_matvecs: int
    num_restarts: int


def _wanted_order(theta: np.ndarray, which: Which) -> np.ndarray:
    if which == "largest":
        return np.argsort(-theta, kind="stable")
    if which == "smallest":
        return np.argsort(theta, kind="stable")
    return np.argsort(-np.abs(theta), kind="stable")


def thick_restart_lanczos(A: LinearOperator, k: int, *, which: Which = "largest",
                          ncv: int, tol: float, max_matvecs: int, start: torch.Tensor,
                          basis_device: torch.device | str | None = None,
                          generator: torch.Generator | None = None) -> RitzPairs:
    """Thick-restart Lanczos (Wu & Simon 2000) with full re-orthogonalisation.

    The basis holds at most ``ncv + 1`` vectors. When it is full, the Rayleigh–Ritz step on the
    projected matrix ``T = Vᵀ A V`` (float64) gives Ritz pairs ``(θ_i, y_i)`` with residual

    .. math:: \\lVert A y_i - \\theta_i y_i \\rVert = \\beta_m \\lvert s_{m,i} \\rvert ,

    a pair converges when that is ``≤ tol · max(|θ_i|, √ε_64 · max_j |θ_j|)``. Unless all ``k``
    wanted pairs have converged, the ``l = k + ⌊(ncv − k)/2⌋`` most wanted Ritz vectors and the
    residual vector become the start of the next cycle: ``T`` becomes the arrowhead
    ``diag(θ_kept)`` bordered by ``β_m s_{m,kept}``, and the recurrence continues from there.
    With full re-orthogonalisation the Ritz estimate above equals the true residual to working
    precision. A breakdown (invariant subspace) continues with a fresh random vector orthogonal
    to the basis.

    Args:
        A: symmetric operator ``P × P``.
        k: number of wanted eigenpairs.
        which: ``"largest"`` / ``"smallest"`` (algebraic) or ``"magnitude"`` (largest ``|λ|``).
        ncv: basis size (clipped to ``P``; must exceed ``k``).
        tol: relative residual tolerance.
        max_matvecs: product budget.
        start: ``[P]`` start vector.
        basis_device: where to keep the Krylov vectors (default: the operator's device).
        generator: CPU generator for restart vectors after a breakdown.

    Returns:
        :class:`RitzPairs` with the ``k`` wanted pairs in the wanted order (largest first for
        ``"largest"`` and ``"magnitude"``, smallest first for ``"smallest"``).
    """
    P = A.shape[0]
    ncv = min(ncv, P)
    k = min(k, ncv)
    bdev = torch.device(basis_device) if basis_device is not None else A.device
    dt = A.dtype
    V = torch.zeros(ncv + 1, P, dtype=dt, device=bdev)
    v0 = start.reshape(P).to(device=bdev, dtype=dt)
    V[0] = v0 / v0.double().norm().to(dt)
    T = np.zeros((ncv, ncv))
    bt = _breakdown_tol(dt)
    nmv, restarts, begin = 0, 0, 0
    norm_est = 0.0
    beta_last = 0.0
    while True:
        m = begin
        exhausted = done = False
        for j in range(begin, ncv):
            if nmv >= max_matvecs:
                break
            w = (A @ V[j].to(A.device)).to(bdev)
            nmv += 1
            alpha = float(torch.dot(V[j].double(), w.double()))
            T[j, j] = alpha
            w = _reorthogonalize(V[: j + 1], w)
            beta = float(w.double().norm())
            norm_est = max(norm_est, abs(alpha) + beta)
            m = j + 1
            if beta <= bt * norm_est:
                beta = 0.0
                if m == P:
                    exhausted = True
                else:
                    V[m] = _random_orthogonal(V[:m], generator)
            else:
                V[m] = w / beta
            if m < ncv:
                T[j, m] = T[m, j] = beta
            beta_last = beta
            if m > k or exhausted:  # Rayleigh-Ritz is cheap next to a product: test every step
                theta, S, resid, order, conv = _rayleigh_ritz(T, m, beta_last, which, k, tol)
                if conv.all() or exhausted:
                    done = True
                    break
        if m <= k and not done:
            theta, S, resid, order, conv = _rayleigh_ritz(T, m, beta_last, which, k, tol)
        want = order[:k]
        if done or nmv >= max_matvecs or m == P:
            break
        # thick restart: keep the nk most wanted Ritz vectors and the residual vector
        nk = min(k + (ncv - k) // 2, m - 1)
        keep = order[:nk]
        Y = torch.as_tensor(S[:, keep], dtype=dt, device=bdev)  # [m, l]
        newV = Y.t() @ V[:m]
        V[nk] = V[m]
        V[:nk] = newV
        V[nk + 1:].zero_()
        T[:] = 0.0
        T[np.arange(nk), np.arange(nk)] = theta[keep]
        T[nk, :nk] = T[:nk, nk] = beta_last * S[m - 1, keep]
        begin = nk
        restarts += 1
    Y = torch.as_tensor(S[:, want], dtype=dt, device=bdev)
    vectors = (Y.t() @ V[:m]).t().contiguous().to(A.device)
    return RitzPairs(theta[want].copy(), vectors, resid[want].copy(), conv, nmv, restarts)


def _reorthogonalize(Q: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Remove from ``w`` its components along the (orthonormal) rows of ``Q``.

    Classical Gram–Schmidt, repeated once when the first pass removed more than ``1 − 1/√2`` of
    the norm (the Daniel–Gragg–Kaufman–Stewart criterion, as in ARPACK); two passes are enough
    for orthogonality to working precision ("twice is enough", Giraud et al. 2005).
    """
    before = w.double().norm()
    w = w - Q.t() @ (Q @ w)
    if w.double().norm() < 0.7071 * before:
        w = w - Q.t() @ (Q @ w)
    return w


def _rayleigh_ritz(T: np.ndarray, m: int, beta: float, which: Which, k: int, tol: float
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Ritz values, vectors (of ``T``), residual estimates, wanted order and convergence."""
    theta, S = np.linalg.eigh(T[:m, :m])
    resid = np.abs(beta * S[m - 1, :])
    order = _wanted_order(theta, which)
    want = order[:k]
    scale = np.maximum(np.abs(theta[want]),
                       np.sqrt(np.finfo(np.float64).eps) * np.max(np.abs(theta)))
    return theta, S, resid, order, resid[want] <= tol * scale


def _random_orthogonal(Q: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """A unit vector orthogonal to the rows of ``Q`` (drawn on the CPU for reproducibility)."""
    r = torch.randn(Q.shape[1], generator=generator, dtype=torch.float64)
    r = r.to(device=Q.device, dtype=Q.dtype)
    for _ in range(2):
        r = r - Q.t() @ (Q @ r)
    return r / r.double().norm().to(r.dtype)
