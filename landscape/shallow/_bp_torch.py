r"""Fused float64 torch kernels of the BP factor updates (private; CPU or CUDA).

They compute the same messages as the SciPy kernels of :mod:`landscape.shallow._bp_core` and
:mod:`landscape.shallow._bp_committee` (to rounding, ~1e-15; tested to 1e-10 against the
unfused formulation) with fewer and cheaper passes over the ``[P, N]`` arrays.

**Perceptron.** With :math:`a_\pm = a_0 \pm |\xi_i|/\bar s`, :math:`a_0 = (\bar\mu - \kappa\sqrt N)
/\bar s` and :math:`\Phi(a) = \tfrac12\operatorname{erfc}(-a/\sqrt2)`,

.. math::
    g_{\mu i} = \tfrac12\bigl[\log\Phi(a_0 + \xi_i/\bar s) - \log\Phi(a_0 - \xi_i/\bar s)\bigr]
              = \tfrac{\operatorname{sign}\xi_i}{2}\,
                \log\frac{\operatorname{erfc}(-a_+/\sqrt2)}{\operatorname{erfc}(-a_-/\sqrt2)},

one ratio of two ``erfc`` and one ``log`` per message. ``torch.erfc`` is vectorised (SLEEF,
1.5 ulp) and costs about 1/17 of ``scipy.special.log_ndtr`` per element on one CPU thread, so
the two ``erfc`` together cost less than one ``log_ndtr``. The ratio is exact to rounding while
both ``erfc`` are normal numbers, i.e. for :math:`-a_-/\sqrt2 < 25` (``erfc(25) = 8e-274``); the
few messages deeper in the tail (a pattern violated by tens of cavity standard deviations) are
recomputed from ``torch.special.log_ndtr``. The cavity variance is taken as
:math:`\bar s^2 = \sum_j v_j - v_i`, :math:`v = \xi^2(1 - h^2)`, the same sums as the SciPy kernel.

**Committee machine.** The downward message
:math:`g = \tfrac12\log\frac{(1+t)\Phi(s_+) + (1-t)\Phi(-s_+)}{(1+t)\Phi(s_-) + (1-t)\Phi(-s_-)}`
(:math:`t = \tanh D`) is evaluated as a ratio of sums of ``erfc`` with the coefficients
:math:`1 \pm t = 2/(1 + e^{\mp 2D})` (never rounded to 0: :math:`|D| \le 50`); one of the two
``erfc`` of each sum is at least 1, so no sum underflows and no fallback is needed.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

_SQRT_HALF = 1.0 / math.sqrt(2.0)
_TAIL = 25.0  # erfc(z) for z above this is below 1e-273: such messages use log_ndtr
FIELD_CAP = 50.0  # |g| cap: tanh(50) = 1 - 7e-44, a hard constraint in finite arithmetic
VAR_FLOOR = 1e-12


def _cavity_moments(
    xi: torch.Tensor, g: torch.Tensor, H: torch.Tensor, binary: bool, sum_dim: int,
    h: torch.Tensor, v: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(xh, mu, 2 s^2, inv)``: ``xi tanh(H - g)`` (in ``h``), its sum, twice the full variance
    and ``1/(sqrt 2 s_bar)`` (in ``v``; cavity variance floored)."""
    torch.tanh(torch.sub(H, g, out=h), out=h)
    # v = xi^2 (1 - h^2) (times 2: the 1/sqrt 2 of erfc is folded into the variance)
    torch.addcmul(torch.full((), 2.0, dtype=h.dtype, device=h.device), h, h, value=-2.0, out=v)
    if not binary:
        v.mul_(xi).mul_(xi)
    var = v.sum(dim=sum_dim, keepdim=True)
    xh = h.mul_(xi)
    inv = torch.sub(var, v, out=v).clamp_min_(2.0 * VAR_FLOOR).rsqrt_()
    return xh, xh.sum(dim=sum_dim, keepdim=True), var, inv


def _damp(new: torch.Tensor, old: torch.Tensor, old_tanh: torch.Tensor, damping: float,
          u: torch.Tensor, scratch: torch.Tensor) -> float:
    """``new <- (1 - d) new + d old``, ``u <- tanh new``; returns the largest change of ``tanh``."""
    new.clamp_(-FIELD_CAP, FIELD_CAP)
    if damping:
        new.mul_(1.0 - damping).add_(old, alpha=damping)
    torch.tanh(new, out=u)
    if not new.numel():
        return 0.0
    change = float(torch.sub(u, old_tanh, out=scratch).abs_().max())
    return change if math.isfinite(change) else math.nan  # NaN propagates through max


def perceptron_sweep(
    xi: torch.Tensor, half_sign: torch.Tensor, g: torch.Tensor, u: torch.Tensor, H: torch.Tensor,
    threshold: float, binary: bool, damping: float, work: list[torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """One damped parallel update of the factor fields ``g [P, N]`` (see the module doc).

    Args:
        xi: label-absorbed patterns ``[P, N]``. half_sign: ``sign(xi) / 2``.
        g: current fields. u: ``tanh g``. H: total fields ``[N]``.
        threshold: ``kappa sqrt N``. binary: all ``|xi| == 1``.
        damping: fraction of the old field kept.
        work: three spare tensors shaped like ``g`` (no fresh ``[P, N]`` allocation, whose page
            faults would cost as much as the arithmetic); on return it holds three spare tensors
            again, the old ``g`` and ``u`` among them.

    Returns:
        ``(g_new, tanh g_new, max |change of tanh g|)`` (NaN when a message is not finite).
    """
    b1, b2, b3 = work
    xh, mu, _, inv = _cavity_moments(xi, g, H, binary, 1, b1, b2)
    # c = -a0 / sqrt 2 = (xh - mu + threshold) / (sqrt 2 s_bar)
    c = torch.sub(xh, mu - threshold, out=b1).mul_(inv)
    if not binary:
        inv.mul_(xi.abs())
    lo = torch.sub(c, inv, out=b3)  # -a_+ / sqrt 2
    hi = torch.add(c, inv, out=b2)  # -a_- / sqrt 2 (the larger one)
    tail = None
    if hi.numel() and float(hi.max()) > _TAIL:
        tail = (hi > _TAIL).nonzero(as_tuple=True)
        a_plus, a_minus = -math.sqrt(2.0) * lo[tail], -math.sqrt(2.0) * hi[tail]
    new = torch.erfc(lo, out=lo).div_(torch.erfc(hi, out=hi)).log_().mul_(half_sign)
    if tail is not None:
        exact = torch.special.log_ndtr(a_plus) - torch.special.log_ndtr(a_minus)
        new[tail] = exact * half_sign[tail]
    change = _damp(new, g, u, damping, b1, b2)
    work[:] = [g, u, b2]
    return new, b1, change


def committee_sweep(
    xi: torch.Tensor, g: torch.Tensor, u: torch.Tensor, H: torch.Tensor,
    output: Callable[[np.ndarray, np.ndarray], np.ndarray], binary: bool, damping: float,
    work: list[torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """One damped parallel update of the first-layer → weight fields ``g [P, K, N]``.

    Args:
        xi: label-absorbed patterns ``[P, 1, N]``. g: current fields. u: ``tanh g``.
        H: total fields ``[K, N]``. output: maps the first-layer means and variances
            ``mu, s^2 [P, K]`` (NumPy) to the output → hidden fields ``D [P, K]``.
        binary: all ``|xi| == 1``. damping: fraction of the old field kept.
        work: four spare tensors shaped like ``g`` (as in :func:`perceptron_sweep`).
    """
    b1, b2, b3, b4 = work
    xh, mu, var2, inv = _cavity_moments(xi, g, H, binary, 2, b1, b2)
    D = output(mu[:, :, 0].cpu().numpy(), 0.5 * var2[:, :, 0].cpu().numpy())
    coef = torch.tensor(np.stack([2.0 / (1.0 + np.exp(-2.0 * D)), 2.0 / (1.0 + np.exp(2.0 * D))]),
                        dtype=g.dtype, device=g.device)[:, :, :, None]  # 1 + t, 1 - t
    c = torch.sub(mu, xh, out=b1).mul_(inv)  # mu_bar / (sqrt 2 s_bar)
    e = inv.mul_(xi)  # xi / (sqrt 2 s_bar)
    # (1 + t) 2 Phi(s) + (1 - t) 2 Phi(-s) at s = s_+ (b3) and s = s_- (b4)
    num = torch.erfc(torch.add(c, e, out=b3), out=b3).mul_(coef[1])
    num.add_(torch.erfc(torch.add(c, e, out=b4).neg_(), out=b4).mul_(coef[0]))
    den = torch.erfc(torch.sub(c, e, out=b4), out=b4).mul_(coef[1])
    den.add_(torch.erfc(torch.sub(c, e, out=b2).neg_(), out=b2).mul_(coef[0]))
    new = num.div_(den).log_().mul_(0.5)
    change = _damp(new, g, u, damping, b1, b2)
    work[:] = [g, u, b2, b4]
    return new, b1, change
