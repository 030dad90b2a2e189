"""Stochastic trace estimation: Hutchinson (1989), Hutch++ (Meyer, Musco, Musco & Woodruff 2021)
and XTrace (Epperly, Tropp & Webber, SIAM J. Matrix Anal. Appl. 2024).

Probes are multiplied in blocks (one pass over the data per block of ``block_size`` probes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from landscape._seeding import torch_generator
from landscape.errors import ConfigError
from landscape.hessian._checks import check_choice, check_positive
from landscape.hessian._operator import LinearOperator, as_operator
from landscape.hessian._results import ArraysMixin
from landscape.hessian._sketch import exact_diagonal, leave_one_out, probes

TraceMethod = Literal["hutchinson", "hutch++", "xtrace"]
Distribution = Literal["rademacher", "gaussian", "sphere"]


@dataclass(frozen=True, eq=False)
class TraceResult(ArraysMixin):
    """A trace estimate with its standard error and the per-probe samples behind it.

    Attributes:
        estimate: the trace estimate, ``mean(samples)``.
        stderr: ``std(samples, ddof=1) / √len(samples)`` (NaN for a single sample). For
            Hutch++ it is conditional on the low-rank sketch (the sketch part is exact given Q).
            For XTrace it is the paper's error estimate ``std(t_i)/√m`` of the exchangeable
            leave-one-out estimates ``t_i`` (they are dependent, so it is an estimate of the
            error's size, not a strict standard error); ``0`` when ``exact``.
        samples: float64 ``[m]``; Hutchinson: ``g_iᵀ H g_i``; Hutch++:
            ``tr(QᵀHQ) + g_iᵀ (I−QQᵀ) H (I−QQᵀ) g_i``; XTrace: the leave-one-out estimates
            ``t_i`` (see :func:`trace`); all average to the estimate. ``[tr H]`` when ``exact``.
        method: ``"hutchinson"``, ``"hutch++"`` or ``"xtrace"``.
        distribution: probe distribution, ``"rademacher"``, ``"gaussian"`` or ``"sphere"``.
        num_matvecs: operator products used.
        sketch_trace: Hutch++ and XTrace: ``tr(QᵀHQ)`` of the whole sketch (NaN for Hutchinson).
        seed: seed of the probes.
        exact: ``True`` when XTrace had ``num_matvecs ≥ P`` and summed the exact diagonal.
    """

    estimate: float
    stderr: float
    samples: np.ndarray
    method: str
    distribution: str
    num_matvecs: int
    sketch_trace: float
    seed: int
    exact: bool = False


_probes = probes  # the name :mod:`landscape.hessian.density` imports


def _quadratic_forms(H: LinearOperator, G: torch.Tensor, block_size: int) -> np.ndarray:
    """``[g_iᵀ H g_i]`` for the columns of ``G`` (CPU float64), ``block_size`` per product."""
    out = []
    for s in range(0, G.shape[1], block_size):
        g = G[:, s: s + block_size].to(device=H.device, dtype=H.dtype)
        out.append((g.double() * (H @ g).double()).sum(0).cpu())
    return torch.cat(out).numpy()


def _hutchpp(H: LinearOperator, m: int, distribution: str, gen: torch.Generator,
             block_size: int) -> tuple[np.ndarray, float]:
    """Hutch++ samples and the sketch's trace (Meyer et al. 2021, Algorithm 1)."""
    P = H.shape[0]
    s = m // 3
    S = probes(P, s, distribution, gen)
    G = probes(P, m - 2 * s, distribution, gen)
    HS = torch.cat([(H @ S[:, i: i + block_size].to(device=H.device, dtype=H.dtype))
                    .double().cpu() for i in range(0, s, block_size)], dim=1)
    Q, _ = torch.linalg.qr(HS)
    sketch = 0.0
    for i in range(0, s, block_size):
        q = Q[:, i: i + block_size]
        hq = (H @ q.to(device=H.device, dtype=H.dtype)).double().cpu()
        sketch += float((q * hq).sum())
    G = G - Q @ (Q.t() @ G)
    return sketch + _quadratic_forms(H, G, block_size), sketch


def _xtrace(H: LinearOperator, m: int, distribution: str, gen: torch.Generator,
            block_size: int) -> tuple[np.ndarray, float]:
    """XTrace's leave-one-out estimates ``t_i`` and ``tr(QᵀHQ)`` from ``2m`` products.

    With ``w_i = Qᵀω_i``, ``c_i = s_iᵀw_i`` and ``u_i = w_i − c_i s_i`` (so that
    ``Π_i ω_i = Q u_i``), the sketch ``H_Q = QᵀHQ`` and ``Hω_i = y_i = Q r_i``:
    ``tr(Π_i H) = tr(H_Q) − s_iᵀH_Q s_i`` and
    ``‖(I−Π_i)ω_i‖²_H = ω_iᵀy_i − 2 r_iᵀu_i + u_iᵀH_Q u_i``, all from ``m × m`` quantities.
    """
    P = H.shape[0]
    sk = leave_one_out(H, probes(P, m, distribution, gen), block_size)
    HQ = sk.Q.t() @ sk.Z
    HQ = 0.5 * (HQ + HQ.t())
    W = sk.Q.t() @ sk.omega
    c = (sk.S * W).sum(0)
    U = W - sk.S * c
    quad = (sk.omega * sk.Y).sum(0) - 2 * (sk.R * U).sum(0) + (U * (HQ @ U)).sum(0)
    if distribution == "sphere":
        # the paper's normalisation: (I − Π_i)ω_i rescaled onto the sphere of radius
        # √(P − m + 1) of the complement of Π_i's range (still E[vvᵀ] = I − Π_i)
        resid = (sk.omega ** 2).sum(0) - (W ** 2).sum(0) + c ** 2
        quad = quad * (P - m + 1) / resid.clamp_min(torch.finfo(torch.float64).tiny)
    samples = torch.trace(HQ) - (sk.S * (HQ @ sk.S)).sum(0) + quad
    return samples.cpu().numpy(), float(torch.trace(HQ))


def sketched_trace(basis: torch.Tensor, projected: np.ndarray | torch.Tensor,
                   probes: torch.Tensor, products: torch.Tensor, *,
                   distribution: str = "rademacher", seed: int = 0) -> TraceResult:
    """Hutch++ with a given sketch: ``tr(H) = tr(QᵀHQ) + tr((I−QQᵀ)H(I−QQᵀ))``, the first
    exact, the second by Hutchinson on probes independent of ``Q``.

    Hutch++ (Meyer et al. 2021) takes ``Q`` from ``H S`` for random ``S``; any orthonormal
    ``Q`` chosen without the probes keeps the estimate unbiased, and the basis of a Krylov
    eigensolver run captures the top of the spectrum better for the same products (the
    "Krylov-aware" estimators of Chen & Hallman, SIAM J. Matrix Anal. Appl. 2023). With
    ``q_i = Qᵀg_i`` and ``y_i = H g_i``, the deflated quadratic forms need no product beyond
    ``y_i``, so the probes can be multiplied *before* ``Q`` is known (in the eigensolver's first
    block product):

    .. math:: g_i^\\top (I-QQ^\\top) H (I-QQ^\\top) g_i
        = g_i^\\top y_i - 2\\, q_i^\\top Q^\\top y_i + q_i^\\top (Q^\\top H Q)\\, q_i .

    Args:
        basis: ``Q`` ``[P, s]`` with orthonormal columns.
        projected: ``QᵀHQ`` ``[s, s]`` (e.g. :attr:`BlockLanczosResult.projected`).
        probes: ``[P, m]`` probes with ``E[g gᵀ] = I``, drawn independently of ``Q``.
        products: ``H @ probes`` ``[P, m]``.
        distribution, seed: recorded in the result.

    Returns:
        :class:`TraceResult` (``method="sketched"``, ``num_matvecs = m``: the sketch's products
        are the eigensolver's; ``stderr`` is conditional on ``Q``, as for Hutch++).

    Example:
        >>> A = torch.diag(torch.arange(1.0, 21.0, dtype=torch.float64))
        >>> Q = torch.eye(20, dtype=torch.float64)[:, 15:]
        >>> G = torch.randn(20, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        >>> r = sketched_trace(Q, Q.t() @ A @ Q, G, A @ G)
        >>> r.sketch_trace, r.num_matvecs
        (90.0, 4)
    """
    Q = basis.to(torch.float64).cpu()
    T = torch.as_tensor(projected, dtype=torch.float64)
    G = probes.to(torch.float64).cpu()
    Y = products.to(torch.float64).cpu()
    q = Q.t() @ G
    quad = (G * Y).sum(0) - 2 * (q * (Q.t() @ Y)).sum(0) + (q * (T @ q)).sum(0)
    sketch = float(torch.trace(T))
    samples = (sketch + quad).numpy()
    m = samples.shape[0]
    stderr = float(np.std(samples, ddof=1) / math.sqrt(m)) if m > 1 else float("nan")
    return TraceResult(estimate=float(np.mean(samples)), stderr=stderr, samples=samples,
                       method="sketched", distribution=distribution, num_matvecs=m,
                       sketch_trace=sketch, seed=int(seed))


def trace(H: LinearOperator | torch.Tensor, num_matvecs: int = 100, *,
          method: TraceMethod = "hutch++", distribution: Distribution | None = None,
          seed: int = 0, block_size: int = 10) -> TraceResult:
    """Estimate ``tr(H)`` from ``num_matvecs`` products.

    Hutchinson: ``tr(H) ≈ (1/m) Σ g_iᵀ H g_i`` with ``E[g gᵀ] = I`` (unbiased; variance
    ``2‖H‖_F² − 2Σ H_ii²`` for Rademacher probes).

    Hutch++ (Meyer et al. 2021, Algorithm 1): with ``s = ⌊m/3⌋``, sketch ``Q = orth(H S)`` from
    ``s`` probes, take ``tr(QᵀHQ)`` exactly (``s`` products), and estimate the trace of the
    deflated rest ``(I−QQᵀ)H(I−QQᵀ)`` by Hutchinson with the remaining ``m − 2s`` probes. It is
    unbiased too and its error falls like ``1/m`` instead of ``1/√m`` when the spectrum decays
    (Hessians: a few outliers and a bulk). ``m`` need not be divisible by 3 (curvlinops
    raises), the remainder goes to the Hutchinson part.

    XTrace (Epperly, Tropp & Webber 2024, the exchangeable estimator with their efficient
    downdating, Section 2): ``k = ⌊m/2⌋`` probes ``ω_i`` serve both as sketch and as test
    vectors. Each ``t_i = tr(Π_i H) + ω_iᵀ(I−Π_i)H(I−Π_i)ω_i``, with ``Π_i`` the projector onto
    ``range(H Ω_{−i})`` (the sketch without probe ``i``), is a Hutch++ estimate with ``k − 1``
    sketch vectors and one test vector; XTrace averages all ``k`` of them, so every product
    works twice (``2k`` products: ``HΩ`` and ``HQ``). Unbiased; exact when ``rank H < k``. The
    default ``"sphere"`` probes are the paper's improved variant: probes of norm ``√P`` and
    each residual ``(I−Π_i)ω_i`` rescaled to the norm ``√(P−k+1)``. ``stderr`` is the paper's
    error estimate ``std(t_i)/√k``. With ``num_matvecs ≥ P`` it sums the exact diagonal
    from the ``P`` unit vectors instead (``P`` products, ``stderr = 0``, ``exact=True``).

    Args:
        H: a symmetric operator or a square tensor.
        num_matvecs: product budget ``m``. Default ``100`` (PyHessian's ``maxIter``; curvlinops'
            and eigenthings' examples). Hutch++ needs at least 3, XTrace 2 (an odd budget
            leaves one product unused).
        method: ``"hutch++"`` (default, as hessian-eigenthings v1), ``"hutchinson"`` or
            ``"xtrace"``.
        distribution: ``"rademacher"`` (minimum variance among i.i.d. probes), ``"gaussian"``
            or ``"sphere"`` (Gaussian rescaled to norm ``√P``). Default ``None``: Rademacher
            for Hutchinson and Hutch++, sphere for XTrace (the paper's default).
        seed: seed of the probes (drawn on the CPU, so the same on every device).
        block_size: probes per product (one data pass each). Default ``10``.

    Returns:
        :class:`TraceResult`.

    Example:
        >>> A = torch.diag(torch.arange(1.0, 11.0, dtype=torch.float64))
        >>> r = trace(A, 30, method="hutch++")
        >>> round(r.estimate, 6), r.num_matvecs
        (55.0, 30)
        >>> B = torch.diag(torch.arange(1.0, 101.0, dtype=torch.float64) ** -2)
        >>> r = trace(B, 40, method="xtrace", seed=1)
        >>> r.num_matvecs, abs(r.estimate - float(B.trace())) < 1e-2
        (40, True)
    """
    H = as_operator(H)
    P = H.shape[0]
    m = check_positive("num_matvecs", num_matvecs)
    check_choice("method", method, ("hutchinson", "hutch++", "xtrace"))
    if distribution is None:
        distribution = "sphere" if method == "xtrace" else "rademacher"
    check_choice("distribution", distribution, ("rademacher", "gaussian", "sphere"))
    block_size = check_positive("block_size", block_size)
    gen = torch_generator(seed, "hessian.trace", method)
    exact = False
    if method == "hutchinson":
        samples = _quadratic_forms(H, probes(P, m, distribution, gen), block_size)
        sketch, used = float("nan"), m
    elif method == "hutch++":
        if m < 3:
            raise ConfigError(f"hutch++ needs num_matvecs >= 3, got {m}")
        samples, sketch = _hutchpp(H, m, distribution, gen, block_size)
        used = m
    elif m >= P:
        sketch = float(exact_diagonal(H, block_size).sum())
        samples, used, exact = np.array([sketch]), P, True
    else:
        if m < 2:
            raise ConfigError(f"xtrace needs num_matvecs >= 2, got {m}")
        samples, sketch = _xtrace(H, m // 2, distribution, gen, block_size)
        used = 2 * (m // 2)
    n = samples.shape[0]
    stderr = 0.0 if exact else (float(np.std(samples, ddof=1) / math.sqrt(n)) if n > 1
                                else float("nan"))
    return TraceResult(estimate=float(np.mean(samples)), stderr=stderr, samples=samples,
                       method=method, distribution=distribution, num_matvecs=used,
                       sketch_trace=sketch, seed=int(seed), exact=exact)
