"""Shared pieces of the per-sample losses: shape checks and numerically stable ``log p_y`` and
``log(1 − p_y)`` of the softmax (finite, with finite gradients, even at logits of ±1e4)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from landscape.errors import ConfigError
from landscape.objectives.basic import _check


def check(logits: torch.Tensor, targets: torch.Tensor, *, min_classes: int = 2) -> None:
    """Raise :class:`ConfigError` unless ``logits`` is ``[N, C]`` with ``C >= min_classes`` and
    ``targets`` is ``[N]``."""
    _check(logits, targets)
    if logits.shape[1] < min_classes:
        raise ConfigError(f"this loss needs at least {min_classes} classes, got logits with "
                          f"{logits.shape[1]} columns")


def target_mask(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Boolean ``[N, C]``, true at ``(i, y_i)``."""
    return F.one_hot(targets, logits.shape[1]).bool()


def log_p_and_log_1mp(logits: torch.Tensor,
                      targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(log p_y, log(1 − p_y))``, each ``[N]``, with ``p = softmax(logits)``.

    ``log(1 − p_y)`` is the log-sum-exp of the other classes' log-probabilities, so it keeps its
    precision (and a finite gradient) when ``p_y`` rounds to 1.
    """
    logp = F.log_softmax(logits, dim=1)
    log_py = logp.gather(1, targets.unsqueeze(1)).squeeze(1)
    log_1mpy = logp.masked_fill(target_mask(logits, targets), -math.inf).logsumexp(dim=1)
    return log_py, log_1mpy


def finite(name: str, value: Any) -> float:
    """``value`` as a float, or :class:`ConfigError` if it is not a finite number."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(out):
        raise ConfigError(f"{name} must be finite, got {value!r}")
    return out


def per_class(name: str, values: Sequence[float] | Any, *, positive: bool = True) -> list[float]:
    """A non-empty 1-D sequence of finite (positive) numbers, as a list of floats."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise ConfigError(f"{name} must be a sequence with one number per class, got {values!r}")
    out = [finite(f"{name}[{i}]", v) for i, v in enumerate(list(values))]
    if not out:
        raise ConfigError(f"{name} must have one entry per class, got an empty sequence")
    if positive and not all(v > 0 for v in out):
        raise ConfigError(f"every entry of {name} must be positive, got {out}")
    return out
