r"""Losses on the stabilities: the error (0/1) loss with margin and the γ-cross-entropy.

The **error loss** with margin :math:`\kappa` counts :math:`\Theta(\kappa - x)` per pattern
(a stability exactly equal to the margin is an error). The **γ-cross-entropy** of Baldassi,
Pittorino and Zecchina (PNAS 2020, eq. 2 as recalled in ``research/baldassi.md`` §2) is

.. math::
    f_\gamma(x) = -\frac{x}{2} + \frac{1}{2\gamma}\log\bigl(2\cosh(\gamma x)\bigr)
                 = \frac{1}{2\gamma}\log\bigl(1 + e^{-2\gamma x}\bigr),

i.e. the logistic loss of the logit :math:`2\gamma x` divided by :math:`2\gamma`; :math:`\gamma`
plays the role of the weight norm (inverse temperature). Identities (tested):
:math:`f_\gamma'(x) = (\tanh(\gamma x) - 1)/2`, :math:`f_\gamma''(x) = \gamma/(2\cosh^2\gamma x)`,
:math:`f_\gamma(x) - f_\gamma(-x) = -x`, :math:`f_\gamma(0) = \log 2/(2\gamma)`, and
:math:`f_\gamma(x) \to \max(-x, 0)` as :math:`\gamma\to\infty` (the zero-margin perceptron /
hinge loss, whose zero set is the zero set of the error loss), with
:math:`0 \le f_\gamma(x) - \max(-x, 0) \le \log 2/(2\gamma)`.
It is evaluated as ``logaddexp(0, -2γx) / (2γ)``, which neither overflows nor loses precision.

All functions accept numpy arrays (float64) or torch tensors (differentiable).

Example:
    >>> import numpy as np
    >>> from landscape.shallow.losses import cross_entropy_gamma
    >>> bool(cross_entropy_gamma(np.array(0.0), 1.0) == np.log(2) / 2)
    True
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch
from scipy.special import expit

from landscape.errors import ConfigError

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)

__all__ = [
    "cross_entropy_gamma",
    "cross_entropy_gamma_grad",
    "cross_entropy_gamma_hess",
    "error_loss",
]


def _check_gamma(gamma: float) -> None:
    if not gamma > 0:
        raise ConfigError(f"gamma must be positive, got {gamma}")


def error_loss(x: ArrayT, kappa: float = 0.0) -> ArrayT:
    r"""Per-pattern error :math:`\Theta(\kappa - x)` (1.0 if ``x <= kappa``, else 0.0)."""
    if isinstance(x, torch.Tensor):
        return (x <= kappa).to(x.dtype if x.is_floating_point() else torch.float64)
    return (np.asarray(x) <= kappa).astype(np.float64)


def cross_entropy_gamma(x: ArrayT, gamma: float) -> ArrayT:
    r""":math:`f_\gamma(x) = \log(1 + e^{-2\gamma x})/(2\gamma)`, elementwise and stable."""
    _check_gamma(gamma)
    if isinstance(x, torch.Tensor):
        return torch.logaddexp(torch.zeros_like(x), -2.0 * gamma * x) / (2.0 * gamma)
    x = np.asarray(x, dtype=np.float64)
    return np.logaddexp(0.0, -2.0 * gamma * x) / (2.0 * gamma)


def cross_entropy_gamma_grad(x: ArrayT, gamma: float) -> ArrayT:
    r""":math:`f_\gamma'(x) = (\tanh(\gamma x) - 1)/2 = -1/(1 + e^{2\gamma x}) \in (-1, 0)`.

    Evaluated as ``-expit(-2γx)`` so that the exponentially small tail is not rounded to 0.
    """
    _check_gamma(gamma)
    if isinstance(x, torch.Tensor):
        return -torch.sigmoid(-2.0 * gamma * x)
    return -expit(-2.0 * gamma * np.asarray(x, dtype=np.float64))


def cross_entropy_gamma_hess(x: ArrayT, gamma: float) -> ArrayT:
    r""":math:`f_\gamma''(x) = \gamma/(2\cosh^2(\gamma x))`, computed without overflow."""
    _check_gamma(gamma)
    if isinstance(x, torch.Tensor):
        t = torch.tanh(gamma * x)
        return gamma * (1.0 - t) * (1.0 + t) / 2.0
    # 1/cosh^2(z) = 4 e^{-2|z|} / (1 + e^{-2|z|})^2, exact in the tails
    e = np.exp(-2.0 * np.abs(gamma * np.asarray(x, dtype=np.float64)))
    return gamma * 2.0 * e / (1.0 + e) ** 2
