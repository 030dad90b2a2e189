"""Forward-only evaluation: mean loss and accuracy, on observed and on clean labels."""

from __future__ import annotations

import torch
from torch import nn

from landscape.data import LabelledDataset
from landscape.objectives.base import Objective


@torch.no_grad()
def evaluate(model: nn.Module, data: LabelledDataset, objective: Objective, *,
             batch_size: int = 512) -> dict[str, float]:
    """Mean per-sample loss and accuracy of ``model`` on ``data`` in eval mode.

    Returns ``loss`` and ``acc`` against the observed labels and ``loss_clean``/``acc_clean``
    against the clean ones (equal when the data carry no label noise). Sums run in float64. The
    model's train/eval mode is restored afterwards.
    """
    was_training = model.training
    model.eval()
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None else torch.float32
    sums = torch.zeros(4, dtype=torch.float64)
    try:
        for start in range(0, len(data), batch_size):
            sl = slice(start, start + batch_size)
            x = data.x[sl].to(device=device, dtype=dtype)
            y = data.y[sl].to(device)
            yc = data.y_clean[sl].to(device)
            logits = objective.eval_logits(model, x)
            pred = logits.argmax(dim=1)
            sums[0] += objective.evaluation_loss(logits, y).double().sum().cpu()
            sums[1] += (pred == y).sum().cpu()
            if data.is_noisy:
                sums[2] += objective.evaluation_loss(logits, yc).double().sum().cpu()
            sums[3] += (pred == yc).sum().cpu()
    finally:
        model.train(was_training)
    n = max(len(data), 1)
    out = {"loss": float(sums[0] / n), "acc": float(sums[1] / n), "acc_clean": float(sums[3] / n)}
    out["loss_clean"] = float(sums[2] / n) if data.is_noisy else out["loss"]
    return out
