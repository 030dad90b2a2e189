"""Forward-only evaluation: mean loss and accuracy, on observed and on clean labels."""

from __future__ import annotations

import torch
from torch import nn

from landscape.data import LabelledDataset
from landscape.forward import Forward, move_batch
from landscape.objectives.base import Objective
from landscape.train.ranking import K_HISTORY, is_sessions, ranks


@torch.no_grad()
def evaluate(model: nn.Module, data: LabelledDataset, objective: Objective, *,
             batch_size: int = 512, forward: Forward | None = None) -> dict[str, float]:
    """Mean per-sample loss and accuracy of ``model`` on ``data`` in eval mode.

    Returns ``loss`` and ``acc`` against the observed labels and ``loss_clean``/``acc_clean``
    against the clean ones (equal when the data carry no label noise); for session data sets
    also ``recall_at_20`` and ``mrr_at_20`` (:mod:`landscape.train.ranking`). Sums run in
    float64. The model's train/eval mode is restored afterwards. With a ``forward`` (structured
    batches, see :mod:`landscape.forward`), each batch ``(x, y)`` becomes ``(outputs, targets)``
    and the means run over all targets (tokens, for a token-level forward).
    """
    if forward is not None:
        return _evaluate_forward(model, data, objective, batch_size, forward)
    was_training = model.training
    model.eval()
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None else torch.float32
    sums = torch.zeros(4, dtype=torch.float64)
    ranked = torch.zeros(2, dtype=torch.float64) if is_sessions(data) else None
    try:
        for start in range(0, len(data), batch_size):
            sl = slice(start, start + batch_size)
            x = move_batch(data.x[sl], device, dtype)
            y = data.y[sl].to(device)
            yc = data.y_clean[sl].to(device)
            logits = objective.eval_logits(model, x)
            pred = logits.argmax(dim=1)
            sums[0] += objective.evaluation_loss(logits, y).double().sum().cpu()
            sums[1] += (pred == y).sum().cpu()
            if data.is_noisy:
                sums[2] += objective.evaluation_loss(logits, yc).double().sum().cpu()
            sums[3] += (pred == yc).sum().cpu()
            if ranked is not None:
                r = ranks(logits, y).double()
                hit = r <= K_HISTORY
                ranked[0] += hit.sum().cpu()
                ranked[1] += torch.where(hit, 1.0 / r, torch.zeros_like(r)).sum().cpu()
    finally:
        model.train(was_training)
    n = max(len(data), 1)
    out = {"loss": float(sums[0] / n), "acc": float(sums[1] / n), "acc_clean": float(sums[3] / n)}
    out["loss_clean"] = float(sums[2] / n) if data.is_noisy else out["loss"]
    if ranked is not None:
        out[f"recall_at_{K_HISTORY}"] = float(ranked[0] / n)
        out[f"mrr_at_{K_HISTORY}"] = float(ranked[1] / n)
    return out


def _evaluate_forward(model: nn.Module, data: LabelledDataset, objective: Objective,
                      batch_size: int, forward: Forward) -> dict[str, float]:
    was_training = model.training
    model.eval()
    param = next(model.parameters())
    sums = torch.zeros(3, dtype=torch.float64)
    try:
        for start in range(0, len(data), batch_size):
            sl = slice(start, start + batch_size)
            x = move_batch(data.x[sl], param.device, param.dtype)
            outputs, targets = forward(model, (x, data.y[sl].to(param.device)))
            sums[0] += objective.evaluation_loss(outputs, targets).double().sum().cpu()
            sums[1] += (outputs.argmax(dim=-1) == targets).sum().cpu()
            sums[2] += len(targets)
    finally:
        model.train(was_training)
    loss, acc = float(sums[0] / max(sums[2], 1)), float(sums[1] / max(sums[2], 1))
    return {"loss": loss, "acc": acc, "loss_clean": loss, "acc_clean": acc}
