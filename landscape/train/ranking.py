r"""Ranking metrics of next-item recommendation: Recall@K and MRR@K.

The rank of the target among ``V`` scores is :math:`r = 1 + \#\{v : s_v > s_{target}\}` (ties
count in the target's favour, the convention of SR-GNN's evaluation, which ranks by
``topk``-membership); then

.. math:: \mathrm{Recall@K} = \tfrac1N\sum_n [r_n \le K], \qquad
          \mathrm{MRR@K} = \tfrac1N\sum_n [r_n \le K] / r_n .

Recall@1 is the accuracy (``1 − top-1 error``). The training history of a session data set
(``source["kind"] == "sessions"``) records ``{train,test}_recall_at_20`` and
``{train,test}_mrr_at_20`` each epoch (:data:`K_HISTORY`).

Example:
    >>> import torch
    >>> scores = torch.tensor([[0.1, 0.9, 0.5], [0.3, 0.3, 0.1]])
    >>> ranks(scores, torch.tensor([2, 1])).tolist()
    [2, 1]
    >>> recall_at(scores, torch.tensor([2, 1]), 1), mrr_at(scores, torch.tensor([2, 1]), 3)
    (0.5, 0.75)
"""

from __future__ import annotations

import torch

from landscape.data import LabelledDataset
from landscape.errors import ConfigError

#: The cut-off recorded in training histories (SR-GNN, PIA-GNN and most of the field report @20).
K_HISTORY = 20


def ranks(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """1-based rank of each target among its row of ``scores`` ``[N, V]`` (ties: best rank)."""
    if scores.ndim != 2 or targets.shape != scores.shape[:1]:
        raise ConfigError(f"need scores [N, V] and targets [N], got {list(scores.shape)} and "
                          f"{list(targets.shape)}")
    own = scores.gather(1, targets.long().unsqueeze(1))
    return 1 + (scores > own).sum(dim=1)


def recall_at(scores: torch.Tensor, targets: torch.Tensor, k: int) -> float:
    """Recall@K: the share of targets ranked within the top ``k``."""
    return float((ranks(scores, targets) <= k).double().mean())


def mrr_at(scores: torch.Tensor, targets: torch.Tensor, k: int) -> float:
    """MRR@K: the mean reciprocal rank, 0 beyond rank ``k``."""
    r = ranks(scores, targets).double()
    return float(torch.where(r <= k, 1.0 / r, torch.zeros_like(r)).mean())


def is_sessions(data: LabelledDataset | None) -> bool:
    """Whether ``data`` is a next-item data set (its history then records the ranking metrics)."""
    return data is not None and data.source.get("kind") == "sessions"


def history_names(k: int = K_HISTORY) -> tuple[str, ...]:
    """The ranking metrics' names in a training history."""
    return tuple(f"{split}_{m}_at_{k}" for split in ("train", "test") for m in ("recall", "mrr"))
