"""Stochastic trace estimation: Hutchinson (1989) and Hutch++ (Meyer, Musco, Musco & Woodruff 2021).

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

TraceMethod = Literal["hutchinson", "hutch++"]
Distribution = Literal["rademacher", "gaussian"]


@dataclass(frozen=True, eq=False)
class TraceResult(ArraysMixin):
    """A trace estimate with its standard error and the per-probe samples behind it.

    Attributes:
        estimate: the trace estimate, ``mean(samples)``.
        stderr: ``std(samples, ddof=1) / √len(samples)`` (NaN for a single sample). For
            Hutch++ it is conditional on the low-rank sketch (the sketch part is exact given Q).
        samples: float64 ``[m]``; Hutchinson: ``g_iᵀ H g_i``; Hutch++:
            ``tr(QᵀHQ) + g_iᵀ (I−QQᵀ) H (I−QQᵀ) g_i``, so both average to the estimate.
        method: ``"hutchinson"`` or ``"hutch++"``.
        distribution: probe distribution, ``"rademacher"`` or ``"gaussian"``.
        num_matvecs: operator products used.
        sketch_trace: Hutch++ only: ``tr(QᵀHQ)`` of the sketch (NaN for Hutchinson).
        seed: seed of the probes.
    """

    estimate: float
    stderr: float
    samples: np.ndarray
    method: str
    distribution: str
    num_matvecs: int
    sketch_trace: float
    seed: int


def _probes(P: int, m: int, distribution: str, gen: torch.Generator) -> torch.Tensor:
    if distribution == "rademacher":
        return torch.randint(0, 2, (P, m), generator=gen).to(torch.float64).mul_(2).sub_(1)
    return torch.randn(P, m, generator=gen, dtype=torch.float64)


def _quadratic_forms(H: LinearOperator, G: torch.Tensor, block_size: int) -> np.ndarray:
    """``[g_iᵀ H g_i]`` for the columns of ``G`` (CPU float64), ``block_size`` per product."""
    out = []
    for s in range(0, G.shape[1], block_size):
        g = G[:, s: s + block_size].to(device=H.device, dtype=H.dtype)
        out.append((g.double() * (H @ g).double()).sum(0).cpu())
    return torch.cat(out).numpy()


def trace(H: LinearOperator | torch.Tensor, num_matvecs: int = 100, *,
          method: TraceMethod = "hutch++", distribution: Distribution = "rademacher",
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

    Args:
        H: a symmetric operator or a square tensor.
        num_matvecs: product budget ``m``. Default ``100`` (PyHessian's ``maxIter``; curvlinops'
            and eigenthings' examples). Hutch++ needs at least 3.
        method: ``"hutch++"`` (default, as hessian-eigenthings v1) or ``"hutchinson"``.
        distribution: ``"rademacher"`` (default; minimum variance among i.i.d. probes) or
            ``"gaussian"``.
        seed: seed of the probes (drawn on the CPU, so the same on every device).
        block_size: probes per product (one data pass each). Default ``10``.

    Returns:
        :class:`TraceResult`.

    Example:
        >>> A = torch.diag(torch.arange(1.0, 11.0, dtype=torch.float64))
        >>> r = trace(A, 30, method="hutch++")
        >>> round(r.estimate, 6), r.num_matvecs
        (55.0, 30)
    """
    H = as_operator(H)
    P = H.shape[0]
    m = check_positive("num_matvecs", num_matvecs)
    check_choice("method", method, ("hutchinson", "hutch++"))
    check_choice("distribution", distribution, ("rademacher", "gaussian"))
    block_size = check_positive("block_size", block_size)
    gen = torch_generator(seed, "hessian.trace", method)
    if method == "hutchinson":
        samples = _quadratic_forms(H, _probes(P, m, distribution, gen), block_size)
        sketch, used = float("nan"), m
    else:
        if m < 3:
            raise ConfigError(f"hutch++ needs num_matvecs >= 3, got {m}")
        s = m // 3
        S = _probes(P, s, distribution, gen)
        G = _probes(P, m - 2 * s, distribution, gen)
        HS = torch.cat([(H @ S[:, i: i + block_size].to(device=H.device, dtype=H.dtype))
                        .double().cpu() for i in range(0, s, block_size)], dim=1)
        Q, _ = torch.linalg.qr(HS)
        sketch = 0.0
        for i in range(0, s, block_size):
            q = Q[:, i: i + block_size]
            hq = (H @ q.to(device=H.device, dtype=H.dtype)).double().cpu()
            sketch += float((q * hq).sum())
        G = G - Q @ (Q.t() @ G)
        samples = sketch + _quadratic_forms(H, G, block_size)
        used = m
    n = samples.shape[0]
    stderr = float(np.std(samples, ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    return TraceResult(estimate=float(np.mean(samples)), stderr=stderr, samples=samples,
                       method=method, distribution=distribution, num_matvecs=used,
                       sketch_trace=sketch, seed=int(seed))
