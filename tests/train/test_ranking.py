"""Recall@K and MRR@K against a direct per-row computation, ties included."""

from __future__ import annotations

import pytest
import torch

from landscape.errors import ConfigError
from landscape.train.ranking import history_names, mrr_at, ranks, recall_at


def _direct(scores: torch.Tensor, targets: torch.Tensor, k: int) -> tuple[float, float]:
    hits = rr = 0.0
    for row, t in zip(scores.tolist(), targets.tolist()):
        rank = 1 + sum(1 for s in row if s > row[t])
        if rank <= k:
            hits += 1
            rr += 1 / rank
    return hits / len(targets), rr / len(targets)


@pytest.mark.parametrize("k", [1, 3, 20])
def test_recall_and_mrr_equal_a_python_loop(k: int) -> None:
    g = torch.Generator().manual_seed(0)
    scores = torch.randint(0, 6, (40, 30), generator=g).double()  # many ties
    targets = torch.randint(0, 30, (40,), generator=g)
    recall, mrr = _direct(scores, targets, k)
    assert recall_at(scores, targets, k) == pytest.approx(recall, abs=1e-15)
    assert mrr_at(scores, targets, k) == pytest.approx(mrr, abs=1e-15)


def test_ties_rank_in_the_targets_favour_and_recall_at_1_is_accuracy() -> None:
    scores = torch.tensor([[1.0, 1.0, 0.0], [0.0, 2.0, 1.0]])
    assert ranks(scores, torch.tensor([1, 2])).tolist() == [1, 2]
    acc = float((scores.argmax(1) == torch.tensor([0, 1])).double().mean())
    assert recall_at(scores, torch.tensor([0, 1]), 1) == acc == 1.0


def test_bad_shapes_and_history_names() -> None:
    with pytest.raises(ConfigError):
        ranks(torch.zeros(3), torch.zeros(3, dtype=torch.long))
    names = history_names()
    assert all(("recall" in n or "mrr" in n) and n.endswith("_at_20") for n in names)
