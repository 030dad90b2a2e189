"""Probes, blocked products and the leave-one-out sketch of XTrace and XDiag (private).

The exchangeable estimators of Epperly, Tropp & Webber (SIAM J. Matrix Anal. Appl. 2024) use
every probe ``ω_i`` twice: in the sketch of the others and as the test vector of its own
leave-one-out estimate. With ``Y = H Ω = Q R`` (thin QR, ``R`` an ``m × m`` upper triangle), the
span of ``Y`` without column ``i`` is ``Q (I − s_i s_iᵀ) Qᵀ``'s range, where ``s_i`` is the unit
vector along ``R⁻ᵀ e_i`` (it is orthogonal to every column ``R e_j``, ``j ≠ i``). So every
leave-one-out projector ``Π_i = Q (I − s_i s_iᵀ) Qᵀ`` is a rank-one downdate of ``Π = QQᵀ`` and
all ``m`` of them cost one QR and one ``m × m`` triangular inverse, not ``m`` QRs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from landscape.hessian._operator import LinearOperator


def probes(P: int, m: int, distribution: str, gen: torch.Generator) -> torch.Tensor:
    """``m`` probes ``[P, m]`` (CPU float64, so the same draw on every device), ``E[ωωᵀ] = I``.

    ``"rademacher"``: independent signs; ``"gaussian"``: standard normal; ``"sphere"``: standard
    normal columns rescaled to the norm ``√P`` (uniform on that sphere).
    """
    if distribution == "rademacher":
        return torch.randint(0, 2, (P, m), generator=gen).to(torch.float64).mul_(2).sub_(1)
    omega = torch.randn(P, m, generator=gen, dtype=torch.float64)
    if distribution == "sphere":
        omega.mul_(P ** 0.5 / omega.norm(dim=0).clamp_min(1e-300))
    return omega


def apply(H: LinearOperator, V: torch.Tensor, block_size: int) -> torch.Tensor:
    """``H V`` in float64 on ``H``'s device, ``block_size`` columns per product (one data pass)."""
    out = [(H @ V[:, s: s + block_size].to(device=H.device, dtype=H.dtype)).to(torch.float64)
           for s in range(0, V.shape[1], block_size)]
    return torch.cat(out, dim=1)


def exact_diagonal(H: LinearOperator, block_size: int) -> torch.Tensor:
    """``diag(H)`` (float64, ``H``'s device) from the ``P`` unit vectors: ``P`` products."""
    P = H.shape[0]
    diag = torch.empty(P, dtype=torch.float64, device=H.device)
    for s in range(0, P, block_size):
        k = min(block_size, P - s)
        E = torch.zeros(P, k, dtype=H.dtype, device=H.device)
        idx = torch.arange(k, device=H.device)
        E[s + idx, idx] = 1
        diag[s: s + k] = (H @ E).to(torch.float64)[s + idx, idx]
    return diag


@dataclass(frozen=True)
class LeaveOneOut:
    """The sketch of ``m`` probes with its ``m`` leave-one-out downdates (float64).

    Attributes:
        omega: the probes ``Ω`` ``[P, m]``.
        Y: ``H Ω`` ``[P, m]``.
        Q: orthonormal basis of ``range(Y)`` ``[P, m]``.
        R: ``Qᵀ Y`` ``[m, m]``, upper triangular.
        S: ``[m, m]``; column ``s_i`` is the unit vector along ``R⁻ᵀ e_i``, so that
            ``Π_i = Q (I − s_i s_iᵀ) Qᵀ`` projects onto the span of the other ``m − 1`` columns.
        Z: ``H Q`` ``[P, m]``.
    """

    omega: torch.Tensor
    Y: torch.Tensor
    Q: torch.Tensor
    R: torch.Tensor
    S: torch.Tensor
    Z: torch.Tensor


def leave_one_out(H: LinearOperator, omega: torch.Tensor, block_size: int) -> LeaveOneOut:
    """Sketch ``Y = H Ω`` and ``Z = H Q`` (``2m`` products) and the downdating vectors ``S``.

    A diagonal entry of ``R`` that is exactly zero (a probe whose product lies in the span of
    the earlier ones to the last bit, e.g. ``H = 0``) is replaced by the smallest positive
    float64 times the largest entry, so the triangular inverse exists; the affected ``s_i`` then
    points along the degenerate direction, as in exact arithmetic in the limit.
    """
    omega = omega.to(device=H.device, dtype=torch.float64)
    Y = apply(H, omega, block_size)
    Q, R = torch.linalg.qr(Y)
    d = R.diagonal()
    tiny = torch.finfo(torch.float64).tiny * max(float(R.abs().max()), 1.0)
    R_safe = R.clone()
    R_safe.diagonal().copy_(torch.where(d == 0, torch.full_like(d, tiny), d))
    eye = torch.eye(R.shape[0], dtype=torch.float64, device=R.device)
    Rinv = torch.linalg.solve_triangular(R_safe, eye, upper=True)
    # column i of R⁻ᵀ is row i of R⁻¹; normalised row by row (scale-free, no overflow for
    # moderately ill-conditioned R)
    Rinv = Rinv / Rinv.abs().amax(dim=1, keepdim=True).clamp_min(1e-300)
    S = (Rinv / Rinv.norm(dim=1, keepdim=True)).t().contiguous()
    Z = apply(H, Q, block_size)
    return LeaveOneOut(omega=omega, Y=Y, Q=Q, R=R, S=S, Z=Z)
