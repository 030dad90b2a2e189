"""Long-tailed classification: the logit-adjusted loss, post-hoc logit adjustment, and balanced
accuracy (the metric both are judged by)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from landscape.errors import ConfigError
from landscape.objectives._softmax import check, finite, per_class
from landscape.objectives.base import LossObjective


def _counts(class_counts: Sequence[int] | np.ndarray | torch.Tensor) -> list[int]:
    values = per_class("class_counts", class_counts)
    if any(v != int(v) for v in values):
        raise ConfigError(f"class_counts must be whole numbers, got {values}")
    return [int(v) for v in values]


def _log_prior(counts: Sequence[int], like: torch.Tensor) -> torch.Tensor:
    """log π_c = log(n_c / Σ n), ``[C]``, on ``like``'s device and dtype (computed in float64)."""
    n = torch.tensor(counts, dtype=torch.float64)
    return torch.log(n / n.sum()).to(device=like.device, dtype=like.dtype)


def _check_tau(tau: Any) -> float:
    value = finite("tau", tau)
    if value < 0:
        raise ConfigError(f"tau must be >= 0, got {tau}")
    return value


def _check_columns(logits: torch.Tensor, counts: Sequence[int]) -> None:
    if logits.ndim != 2 or logits.shape[1] != len(counts):
        raise ConfigError(f"expected logits [N, {len(counts)}] for {len(counts)} class counts, "
                          f"got {list(logits.shape)}")


class LogitAdjustedLoss(LossObjective):
    """Logit-adjusted cross-entropy −log softmax(z + τ·log π)_y (Menon et al., ICLR 2021).

    The logit-adjusted loss of "Long-tail learning via logit adjustment" (Menon, Jayasumana,
    Rawat, Jain, Veit, Kumar, ICLR 2021, arXiv:2007.07314):

        ℓ(z, y) = −log softmax(z + τ·log π)_y,    π_c = n_c / Σ_j n_j

    where n_c are the training-set class counts. The adjustment is used in training only:
    evaluation and prediction use the unadjusted logits z (:meth:`eval_logits`), which is what
    makes the predictions balanced. :meth:`per_sample` (the reported loss) is the adjusted loss
    of the logits it is given.

    Args:
        class_counts: number of training samples per class, n_c > 0, one per class (required;
            e.g. ``train_data.class_counts.tolist()``). The prior is fixed at construction.
        tau: scale τ ≥ 0 of the adjustment (default 1, the paper's main setting and the
            reference code google-research ``logit_adjustment``; ``../shared/research/
            objectives.md`` §5.5). τ = 0 is cross-entropy.

    Example:
        >>> la = LogitAdjustedLoss(class_counts=[3, 1], tau=1.0)
        >>> la(torch.zeros(1, 2), torch.tensor([1])).item()  # −log(1/4)
        1.3862943649291992
    """

    name: ClassVar[str] = "logit_adjusted"

    def __init__(self, class_counts: Sequence[int], tau: float = 1.0) -> None:
        self.class_counts = _counts(class_counts)
        self.tau = _check_tau(tau)

    def params(self) -> dict[str, Any]:
        return {"tau": self.tau, "class_counts": list(self.class_counts)}

    def per_sample(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        check(logits, targets, min_classes=1)
        _check_columns(logits, self.class_counts)
        adjusted = logits + self.tau * _log_prior(self.class_counts, logits)
        return F.cross_entropy(adjusted, targets, reduction="none")

    def eval_logits(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """The unadjusted logits z (the adjustment is applied in training only)."""
        return model(x)


def posthoc_logit_adjustment(logits: torch.Tensor,
                             class_counts: Sequence[int] | np.ndarray | torch.Tensor,
                             tau: float = 1.0) -> torch.Tensor:
    """Post-hoc logit adjustment (Menon et al., ICLR 2021): ``z − τ·log π``, π_c = n_c / Σ n.

    Apply to the logits of a model trained with plain cross-entropy; the balanced prediction is
    ``argmax`` of the result. ``tau`` defaults to 1, the paper's choice (``../shared/research/
    objectives.md`` §5.5).

    Args:
        logits: ``[N, C]``.
        class_counts: training-set count per class, ``C`` positive numbers.
        tau: τ ≥ 0; 0 returns the logits unchanged.

    Example:
        >>> posthoc_logit_adjustment(torch.zeros(1, 2), [3, 1]).argmax(dim=1).item()  # the tail
        1
    """
    counts = _counts(class_counts)
    t = _check_tau(tau)
    _check_columns(logits, counts)
    return logits - t * _log_prior(counts, logits)


def balanced_accuracy(logits_or_preds: torch.Tensor, targets: torch.Tensor,
                      num_classes: int) -> float:
    """Mean over classes of the per-class recall, the metric of long-tail learning.

    Classes without any sample in ``targets`` are left out of the mean (as scikit-learn's
    ``balanced_accuracy_score`` does); with every class present this is (1/C)·Σ_c recall_c.

    Args:
        logits_or_preds: logits ``[N, C]`` (the prediction is their argmax) or integer
            predictions ``[N]``.
        targets: integer labels ``[N]`` in ``[0, num_classes)``.
        num_classes: ``C``.

    Example:
        >>> balanced_accuracy(torch.tensor([0, 0, 0, 1]), torch.tensor([0, 0, 0, 0]), 2)
        0.75
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ConfigError(f"num_classes must be an integer >= 1, got {num_classes!r}")
    if logits_or_preds.ndim == 2:
        if logits_or_preds.shape[1] != num_classes:
            raise ConfigError(f"logits have {logits_or_preds.shape[1]} columns but num_classes "
                              f"is {num_classes}")
        preds = logits_or_preds.argmax(dim=1)
    elif logits_or_preds.ndim == 1:
        if logits_or_preds.is_floating_point() or logits_or_preds.is_complex():
            raise ConfigError("1-D predictions must be integer class indices; pass logits as "
                              "[N, C]")
        preds = logits_or_preds
    else:
        raise ConfigError(f"expected logits [N, C] or predictions [N], got "
                          f"{list(logits_or_preds.shape)}")
    if targets.ndim != 1 or targets.shape[0] != preds.shape[0]:
        raise ConfigError(f"expected targets [{preds.shape[0]}], got {list(targets.shape)}")
    if targets.numel() == 0:
        raise ConfigError("balanced accuracy of an empty set is undefined")
    y = targets.detach().to("cpu", torch.long)
    pred = preds.detach().to("cpu", torch.long)
    if int(y.min()) < 0 or int(y.max()) >= num_classes:
        raise ConfigError(f"targets must lie in [0, {num_classes}), got "
                          f"[{int(y.min())}, {int(y.max())}]")
    total = torch.bincount(y, minlength=num_classes).double()
    correct = torch.bincount(y[pred == y], minlength=num_classes).double()
    present = total > 0
    return float((correct[present] / total[present]).mean())
