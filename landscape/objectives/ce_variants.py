"""Cross-entropy variants that change the target or the per-sample weight: label smoothing and
focal loss."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from landscape.errors import ConfigError
from landscape.objectives._softmax import check, finite, log_p_and_log_1mp, per_class
from landscape.objectives.base import LossObjective


class LabelSmoothing(LossObjective):
    """Cross-entropy to smoothed targets (1 − ε)·onehot(y) + ε/C (Szegedy et al., CVPR 2016).

    Label smoothing as in Szegedy et al., "Rethinking the Inception architecture for computer
    vision", CVPR 2016:

        q = (1 − ε)·onehot(y) + ε/C,    ℓ(z, y) = −Σ_c q_c log softmax(z)_c

    Convention: the ε mass is spread over **all** C classes, the true one included (the true class
    gets 1 − ε + ε/C), as in the paper and in ``F.cross_entropy(..., label_smoothing=ε)``, which
    computes it. (Some code spreads ε over the C − 1 wrong classes only; that is not this loss.)

    Args:
        epsilon: smoothing ε in [0, 1) (default 0.1, Szegedy et al.; ``../shared/research/
            objectives.md`` §5.1). ε = 0 is plain cross-entropy.

    Example:
        >>> LabelSmoothing(epsilon=0.5)(torch.zeros(1, 4), torch.tensor([1])).item()  # log 4
        1.3862943649291992
    """

    name: ClassVar[str] = "label_smoothing"

    def __init__(self, epsilon: float = 0.1) -> None:
        self.epsilon = finite("epsilon", epsilon)
        if not 0 <= self.epsilon < 1:
            raise ConfigError(f"epsilon must lie in [0, 1), got {epsilon}")

    def params(self) -> dict[str, Any]:
        return {"epsilon": self.epsilon}

    def per_sample(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        check(logits, targets, min_classes=1)
        return F.cross_entropy(logits, targets, reduction="none", label_smoothing=self.epsilon)


class FocalLoss(LossObjective):
    """Focal loss ℓ = −α_y·(1 − p_y)^γ·log p_y (Lin et al., ICCV 2017).

    Lin, Goyal, Girshick, He, Dollár, "Focal loss for dense object detection", ICCV 2017, in its
    softmax (multiclass) form:

        ℓ(z, y) = −α_y · (1 − p_y)^γ · log p_y,    p = softmax(z)

    The modulating factor (1 − p_y)^γ is differentiated through, as in the paper (GCL's stage 2
    detaches it; that is GCL's business). γ = 0 and no α is exactly cross-entropy.
    (1 − p_y)^γ is computed as exp(γ·log(1 − p_y)) from the log-probabilities of the other
    classes, so gradients stay finite for any γ ≥ 0 when p_y rounds to 1.

    Args:
        gamma: focusing parameter γ ≥ 0 (default 2, the paper's best value; ``../shared/research/
            objectives.md`` §5.4 suggests γ ∈ {1, 2} for multiclass classification).
        alpha: class weight: ``None`` (default: α = 1, the multiclass recommendation of the notes
            §5.4), one positive number (a constant factor; the paper's α = 0.25 is a
            foreground/background weight of its binary detection setting), or one positive number
            per class (α_y).

    Example:
        >>> FocalLoss(gamma=2)(torch.zeros(1, 2), torch.tensor([0])).item()  # 0.25·log 2
        0.1732867956161499
    """

    name: ClassVar[str] = "focal"

    def __init__(self, gamma: float = 2.0, alpha: float | Sequence[float] | None = None) -> None:
        self.gamma = finite("gamma", gamma)
        if self.gamma < 0:
            raise ConfigError(f"gamma must be >= 0, got {gamma}")
        self.alpha: float | list[float] | None
        if alpha is None:
            self.alpha = None
        elif isinstance(alpha, numbers.Real) and not isinstance(alpha, bool):
            self.alpha = finite("alpha", alpha)
            if not self.alpha > 0:
                raise ConfigError(f"alpha must be positive, got {alpha}")
        else:
            self.alpha = per_class("alpha", alpha)

    def params(self) -> dict[str, Any]:
        return {"gamma": self.gamma, "alpha": self.alpha}

    def per_sample(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        check(logits, targets)
        log_py, log_1mpy = log_p_and_log_1mp(logits, targets)
        loss = -log_py if self.gamma == 0 else -torch.exp(self.gamma * log_1mpy) * log_py
        if isinstance(self.alpha, list):
            if len(self.alpha) != logits.shape[1]:
                raise ConfigError(f"alpha has {len(self.alpha)} entries but the logits have "
                                  f"{logits.shape[1]} classes")
            weights = torch.tensor(self.alpha, dtype=logits.dtype, device=logits.device)
            loss = weights[targets] * loss
        elif self.alpha is not None:
            loss = self.alpha * loss
        return loss
