"""The first linear layer of ``K`` weight copies as an affine function of a few fixed directions
(private; used by :class:`landscape.flatness._fused.FusedPlan`, which computes its products in
:meth:`~landscape.flatness._fused.FusedPlan.first_layer`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class FirstLayer:
    """The first linear layer's pre-activations of ``K`` copies whose weights are affine in a few
    fixed directions (private).

    A linear layer on the shared input ``x`` is affine in its weights: with ``W_k = W + Σ_j c_kj
    D_j`` (and the bias likewise), ``x W_kᵀ + b_k = (x Wᵀ + b) + Σ_j c_kj (x D_jᵀ + d_j)``. So the
    ``m`` products ``P_j = x D_jᵀ + d_j`` and the base ``B = x Wᵀ + b`` are computed once and every
    copy's pre-activation is a weighted sum of them: an axpy instead of a GEMM per copy. Local
    energy reuses ``P`` across σ (copy ``k`` is ``B + σ P_k``: ``coeffs`` is ``None``); a
    surface has ``m = 1`` or ``2`` directions for all grid points (``B + C P``). An eval-mode
    BatchNorm folded into the layer keeps it affine when its own tensors are not perturbed.
    """

    base: torch.Tensor  # [n, width]
    parts: torch.Tensor  # [m, n, width]
    sigma: float | None = None  # copy k: base + sigma * parts[k]
    coeffs: torch.Tensor | None = None  # [K, m]: copy k: base + Σ_j coeffs[k, j] parts[j]

    @property
    def width(self) -> int:
        return int(self.base.shape[-1])

    def __call__(self, k0: int, k1: int, r0: int, r1: int, out: torch.Tensor) -> torch.Tensor:
        """Pre-activations of copies ``k0:k1`` on rows ``r0:r1``, written into ``out``."""
        b = self.base[r0:r1]
        if self.coeffs is None:
            assert self.sigma is not None
            return torch.add(b, self.parts[k0:k1, r0:r1], alpha=self.sigma, out=out)
        m = self.parts.shape[0]
        kk = k1 - k0
        p = self.parts[:, r0:r1].reshape(m, -1)
        torch.addmm(b.reshape(1, -1), self.coeffs[k0:k1], p, out=out.view(kk, -1))
        return out
