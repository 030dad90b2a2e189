"""Rescaled square loss, multiclass hinges and perceptron against values computed by hand."""

from __future__ import annotations

import pytest
import torch

from landscape.errors import ConfigError
from landscape.objectives import get

# Two samples, three classes: sample 0 is classified correctly with a margin of 0.5, sample 1 is
# misclassified (class 1 beats the true class 2 by 0.1).
LOGITS = torch.tensor([[2.0, 1.5, -1.0], [0.0, 0.3, 0.2]], dtype=torch.float64)
Y = torch.tensor([0, 2])


def _values(name: str, **params: float) -> list[float]:
    return get(name, **params).per_sample(LOGITS, Y).tolist()


def test_rescaled_square_loss_by_hand() -> None:
    logits = torch.tensor([[0.5, 2.0, -1.0]], dtype=torch.float64)
    loss = get("mse_rescaled", k=2.0, M=3.0)
    # (1/3)·[2·(2 − 3)² + 0.5² + (−1)²] = 3.25/3
    assert loss(logits, torch.tensor([1])).item() == pytest.approx(3.25 / 3, abs=1e-15)
    # (1/3)·[2·(0.5 − 3)² + 2² + (−1)²] = 17.5/3
    assert loss(logits, torch.tensor([0])).item() == pytest.approx(17.5 / 3, abs=1e-14)
    # k = M = 1 is the plain one-hot square loss: (1/3)·[0.25 + 1 + 1]
    assert get("mse_rescaled")(logits, torch.tensor([1])).item() == pytest.approx(2.25 / 3)


def test_weston_watkins_hinge_by_hand() -> None:
    # sample 0: max(0, 1 − 2 + 1.5) + max(0, 1 − 2 − 1) = 0.5, over C = 3
    # sample 1: max(0, 1 − 0.2 + 0) + max(0, 1 − 0.2 + 0.3) = 1.9, over C = 3
    assert _values("hinge_ww") == pytest.approx([0.5 / 3, 1.9 / 3], abs=1e-15)
    assert _values("hinge_ww", margin=0.5) == pytest.approx([0.0, 0.9 / 3], abs=1e-15)
    # the convention is torch's MultiMarginLoss (p = 1), which divides by C as well
    torch_ww = torch.nn.MultiMarginLoss(margin=0.5, reduction="none")(LOGITS, Y)
    torch.testing.assert_close(get("hinge_ww", margin=0.5).per_sample(LOGITS, Y), torch_ww)


def test_crammer_singer_hinge_and_perceptron_by_hand() -> None:
    # sample 0: max(0, 1 + 1.5 − 2) = 0.5; sample 1: max(0, 1 + 0.3 − 0.2) = 1.1
    assert _values("hinge_cs") == pytest.approx([0.5, 1.1], abs=1e-15)
    assert _values("hinge_cs", margin=0.5) == pytest.approx([0.0, 0.6], abs=1e-15)
    # perceptron: max_c z_c − z_y
    assert _values("perceptron") == pytest.approx([0.0, 0.1], abs=1e-15)
    assert _values("hinge_cs", margin=0.0) == pytest.approx([0.0, 0.1], abs=1e-15)


def test_hinge_gradients_follow_the_violating_classes() -> None:
    logits = LOGITS.clone().requires_grad_(True)
    get("hinge_cs").per_sample(logits, Y).sum().backward()
    # sample 0: +1 on the runner-up (class 1), −1 on the true class; sample 1 likewise
    expected = torch.tensor([[-1.0, 1.0, 0.0], [0.0, 1.0, -1.0]], dtype=torch.float64)
    torch.testing.assert_close(logits.grad, expected)


def test_margin_losses_need_two_classes() -> None:
    for name in ("hinge_ww", "hinge_cs", "perceptron"):
        with pytest.raises(ConfigError, match="at least 2 classes"):
            get(name).per_sample(torch.zeros(3, 1), torch.zeros(3, dtype=torch.long))
