"""Cross-entropy and mean squared error on one-hot targets."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from landscape.errors import ConfigError
from landscape.objectives.base import LossObjective


def _check(logits: torch.Tensor, targets: torch.Tensor) -> None:
    if logits.ndim != 2 or targets.ndim != 1 or logits.shape[0] != targets.shape[0]:
        raise ConfigError(f"expected logits [N, C] and integer targets [N], got "
                          f"{list(logits.shape)} and {list(targets.shape)}")


class CrossEntropy(LossObjective):
    """Softmax cross-entropy ℓ(z, y) = −log softmax(z / T)_y.

    Args:
        temperature: logit temperature ``T`` (default 1, the plain cross-entropy); ``T < 1``
            sharpens the softmax, as a logit scale ``s = 1/T`` would.

    Example:
        >>> CrossEntropy()(torch.zeros(2, 4), torch.tensor([0, 3])).item()  # log 4
        1.3862943649291992
    """

    name: ClassVar[str] = "ce"

    def __init__(self, temperature: float = 1.0) -> None:
        if not temperature > 0:
            raise ConfigError(f"temperature must be positive, got {temperature}")
        self.temperature = float(temperature)

    def params(self) -> dict[str, Any]:
        return {"temperature": self.temperature}

    def per_sample(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        _check(logits, targets)
        return F.cross_entropy(logits / self.temperature, targets, reduction="none")


class MeanSquaredError(LossObjective):
    """Squared error to one-hot targets, ℓ(z, y) = (1/C) Σ_c (z_c − 1[c = y])².

    The 1/C normalisation matches ``torch.nn.functional.mse_loss`` on ``[N, C]`` one-hot targets
    (mean over classes as well as samples); the rescaled variant of Hui & Belkin (2021) is a
    separate objective.

    Example:
        >>> MeanSquaredError()(torch.zeros(1, 4), torch.tensor([2])).item()
        0.25
    """

    name: ClassVar[str] = "mse"

    def per_sample(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        _check(logits, targets)
        onehot = F.one_hot(targets, logits.shape[1]).to(logits.dtype)
        return (logits - onehot).pow(2).mean(dim=1)
