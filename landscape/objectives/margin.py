"""Losses of the raw logits with a margin: rescaled square loss, multiclass hinges, perceptron.

None of them goes through a softmax. The hinge family is the one compared with cross-entropy in
the wide-flat-minima literature (Baldassi et al., PNAS 2020); the rescaled square loss is Hui &
Belkin's variant of :class:`~landscape.objectives.basic.MeanSquaredError`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from landscape.errors import ConfigError
from landscape.objectives._softmax import check, finite, target_mask
from landscape.objectives.base import LossObjective


def _target_logit(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return logits.gather(1, targets.unsqueeze(1)).squeeze(1)


class RescaledSquareLoss(LossObjective):
    """Rescaled square loss ℓ = (1/C)·[k·(z_y − M)² + Σ_{j≠y} z_j²] (Hui & Belkin, ICLR 2021).

    From "Evaluation of neural architectures trained with square loss vs cross-entropy in
    classification tasks" (Hui & Belkin, ICLR 2021):

        ℓ(z, y) = (1/C) · [ k·(z_y − M)² + Σ_{j≠y} z_j² ]

    on the raw logits (no softmax). ``k`` rescales the loss at the true class, ``M`` is the target
    value of the true-class logit. With ``k = M = 1`` this is exactly ``get("mse")``; the 1/C
    normalisation is the same as there (mean over classes).

    Args:
        k: weight of the true-class term (paper's ``k``; default 1).
        M: target of the true-class logit (paper's ``M``; default 1).

    Defaults: the paper uses no rescaling (k = M = 1) for data sets with at most 10 classes, which
    is every data set of this toolkit (``../shared/research/objectives.md`` §5.6, [paper]); it
    uses larger ``k`` and ``M`` for tens to thousands of classes (take those from the paper's
    table; they are not in the notes).

    Example:
        >>> RescaledSquareLoss(k=2, M=3)(torch.zeros(1, 2), torch.tensor([0])).item()  # 2·9/2
        9.0
    """

    name: ClassVar[str] = "mse_rescaled"

    def __init__(self, k: float = 1.0, M: float = 1.0) -> None:
        self.k = finite("k", k)
        self.M = finite("M", M)
        if not self.k > 0:
            raise ConfigError(f"k must be positive, got {k}")
        if not self.M > 0:
            raise ConfigError(f"M must be positive, got {M}")

    def params(self) -> dict[str, Any]:
        return {"k": self.k, "M": self.M}

    def per_sample(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        check(logits, targets, min_classes=1)
        is_y = target_mask(logits, targets)
        target = is_y.to(logits.dtype) * self.M
        weight = 1.0 + (self.k - 1.0) * is_y.to(logits.dtype)
        return (weight * (logits - target).pow(2)).mean(dim=1)


class _Hinge(LossObjective):
    """Shared parameter handling of the multiclass hinges: a margin ``m >= 0``."""

    def __init__(self, margin: float = 1.0) -> None:
        self.margin = finite("margin", margin)
        if self.margin < 0:
            raise ConfigError(f"margin must be >= 0, got {margin}")

    def params(self) -> dict[str, Any]:
        return {"margin": self.margin}


class WestonWatkinsHinge(_Hinge):
    """Weston–Watkins hinge ℓ = (1/C)·Σ_{j≠y} max(0, m − z_y + z_j) (ESANN 1999).

    The multiclass hinge of Weston & Watkins, "Support vector machines for multi-class pattern
    recognition", ESANN 1999:

        ℓ(z, y) = (1/C) · Σ_{j≠y} max(0, m − z_y + z_j)

    Convention: divided by the number of classes C, as ``torch.nn.MultiMarginLoss(p=1,
    margin=m)`` does (the original sums without the 1/C; the factor only rescales the loss).

    Args:
        margin: the margin ``m`` (default 1, the usual hinge; ``../shared/research/
            objectives.md`` §5.7 and torch's ``MultiMarginLoss`` default).

    Example:
        >>> WestonWatkinsHinge()(torch.tensor([[0.0, 0.5, 0.5]]), torch.tensor([0])).item()
        1.0
    """

    name: ClassVar[str] = "hinge_ww"

    def per_sample(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        check(logits, targets)
        gaps = self.margin - _target_logit(logits, targets).unsqueeze(1) + logits
        gaps = gaps.masked_fill(target_mask(logits, targets), 0.0)
        return F.relu(gaps).sum(dim=1) / logits.shape[1]


class CrammerSingerHinge(_Hinge):
    """Crammer–Singer hinge ℓ = max(0, m + max_{j≠y} z_j − z_y) (JMLR 2001).

    The multiclass hinge of Crammer & Singer, "On the algorithmic implementation of multiclass
    kernel-based vector machines", JMLR 2001:

        ℓ(z, y) = max(0, m + max_{j≠y} z_j − z_y)

    Only the most violating wrong class counts (Weston–Watkins sums over all of them).

    Args:
        margin: the margin ``m`` (default 1; ``../shared/research/objectives.md`` §5.7).
            ``margin = 0`` is the perceptron loss (``get("perceptron")``).

    Example:
        >>> CrammerSingerHinge()(torch.tensor([[1.0, 0.5, -2.0]]), torch.tensor([0])).item()
        0.5
    """

    name: ClassVar[str] = "hinge_cs"

    def per_sample(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        check(logits, targets)
        runner_up = logits.masked_fill(target_mask(logits, targets), float("-inf")).amax(dim=1)
        return F.relu(self.margin + runner_up - _target_logit(logits, targets))


class Perceptron(LossObjective):
    """Multiclass perceptron loss ℓ = max_c z_c − z_y.

    The perceptron criterion in its multiclass form:

        ℓ(z, y) = max_c z_c − z_y  =  max(0, max_{j≠y} z_j − z_y)

    Zero on correctly classified samples whatever their margin, so it has no parameter; it is
    the Crammer–Singer hinge with margin 0 (``../shared/research/objectives.md`` §5.7).

    Example:
        >>> Perceptron()(torch.tensor([[1.0, 3.0, -2.0]]), torch.tensor([0])).item()
        2.0
    """

    name: ClassVar[str] = "perceptron"

    def per_sample(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        check(logits, targets)
        return logits.amax(dim=1) - _target_logit(logits, targets)
