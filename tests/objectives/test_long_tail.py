"""Logit-adjusted loss, post-hoc logit adjustment and balanced accuracy against values computed by
hand."""

from __future__ import annotations

import pytest
import torch

from landscape.errors import ConfigError
from landscape.objectives import balanced_accuracy, get, posthoc_logit_adjustment

COUNTS = [6, 3, 1]  # π = [0.6, 0.3, 0.1]
LOG_PI = [-0.5108256237659907, -1.2039728043259361, -2.3025850929940455]


def test_logit_adjusted_loss_by_hand() -> None:
    la = get("logit_adjusted", class_counts=COUNTS, tau=1.0)
    # zero logits: softmax(log π) = π, so the loss is −log π_y
    values = la.per_sample(torch.zeros(2, 3, dtype=torch.float64), torch.tensor([0, 2]))
    torch.testing.assert_close(values, torch.tensor([0.5108256237659907, 2.3025850929940455],
                                                    dtype=torch.float64))
    # τ = 2, z = [1, 0, 0]: adjusted logits [1 + 2 log 0.6, 2 log 0.3, 2 log 0.1],
    # exp = [0.36·e, 0.09, 0.01]; y = 0: −log(0.978586…/1.078586…), y = 1: −log(0.09/1.078586…)
    la2 = get("logit_adjusted", class_counts=COUNTS, tau=2.0)
    values = la2.per_sample(torch.tensor([[1.0, 0.0, 0.0]] * 2, dtype=torch.float64),
                            torch.tensor([0, 1]))
    torch.testing.assert_close(values, torch.tensor([0.09729796072970258, 2.4835923218495934],
                                                    dtype=torch.float64))


def test_logit_adjustment_tau_zero_is_cross_entropy() -> None:
    logits = torch.randn(12, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y = torch.arange(12) % 3
    torch.testing.assert_close(
        get("logit_adjusted", class_counts=COUNTS, tau=0.0).per_sample(logits, y),
        get("ce").per_sample(logits, y), rtol=0, atol=1e-15)
    # and with equal counts the adjustment is a constant shift, which softmax ignores
    torch.testing.assert_close(
        get("logit_adjusted", class_counts=[5, 5, 5]).per_sample(logits, y),
        get("ce").per_sample(logits, y))


def test_evaluation_uses_the_unadjusted_logits() -> None:
    model = torch.nn.Linear(2, 3).double()
    x = torch.randn(5, 2, dtype=torch.float64)
    la = get("logit_adjusted", class_counts=COUNTS)
    torch.testing.assert_close(la.eval_logits(model, x), model(x))


def test_posthoc_logit_adjustment_by_hand() -> None:
    logits = torch.tensor([[1.0, 0.5, 0.0]], dtype=torch.float64)
    adjusted = posthoc_logit_adjustment(logits, COUNTS, tau=1.0)
    # z − log π = [1 + 0.5108…, 0.5 + 1.2040…, 0 + 2.3026…]: the tail class wins
    torch.testing.assert_close(adjusted, torch.tensor(
        [[1.5108256237659907, 1.7039728043259361, 2.3025850929940455]], dtype=torch.float64))
    assert adjusted.argmax(dim=1).item() == 2 and logits.argmax(dim=1).item() == 0
    half = posthoc_logit_adjustment(logits, torch.tensor(COUNTS), tau=0.5)
    torch.testing.assert_close(half, logits - 0.5 * torch.tensor([LOG_PI], dtype=torch.float64))
    torch.testing.assert_close(posthoc_logit_adjustment(logits, COUNTS, tau=0.0), logits)


def test_balanced_accuracy_by_hand() -> None:
    y = torch.tensor([0, 0, 0, 0, 1, 1, 2])
    pred = torch.tensor([0, 0, 0, 1, 1, 0, 2])
    # recalls 3/4, 1/2, 1/1 → 0.75 (plain accuracy would be 5/7)
    assert balanced_accuracy(pred, y, 3) == pytest.approx(0.75)
    logits = torch.nn.functional.one_hot(pred, 3).double()
    assert balanced_accuracy(logits, y, 3) == pytest.approx(0.75)
    # a class absent from the targets is left out of the mean
    assert balanced_accuracy(torch.nn.functional.one_hot(pred, 4).float(), y, 4) == \
        pytest.approx(0.75)
    assert balanced_accuracy(torch.tensor([1, 1]), torch.tensor([0, 1]), 2) == pytest.approx(0.5)


def test_long_tail_errors() -> None:
    with pytest.raises(ConfigError, match="class_counts"):
        get("logit_adjusted")
    with pytest.raises(ConfigError, match=r"logits \[N, 3\]"):
        get("logit_adjusted", class_counts=COUNTS).per_sample(torch.zeros(2, 4),
                                                              torch.zeros(2, dtype=torch.long))
    with pytest.raises(ConfigError, match=r"logits \[N, 3\]"):
        posthoc_logit_adjustment(torch.zeros(2, 2), COUNTS)
    with pytest.raises(ConfigError, match="positive"):
        posthoc_logit_adjustment(torch.zeros(2, 2), [3, 0])
    with pytest.raises(ConfigError, match="tau"):
        posthoc_logit_adjustment(torch.zeros(2, 3), COUNTS, tau=-1.0)
    with pytest.raises(ConfigError, match="integer class indices"):
        balanced_accuracy(torch.tensor([0.0, 1.0]), torch.tensor([0, 1]), 2)
    with pytest.raises(ConfigError, match="columns"):
        balanced_accuracy(torch.zeros(2, 3), torch.tensor([0, 1]), 2)
    with pytest.raises(ConfigError, match="targets must lie"):
        balanced_accuracy(torch.tensor([0, 1]), torch.tensor([0, 2]), 2)
    with pytest.raises(ConfigError, match=r"targets \[2\]"):
        balanced_accuracy(torch.tensor([0, 1]), torch.tensor([0, 1, 1]), 2)
