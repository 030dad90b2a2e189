"""Cross-entropy and MSE against values computed by hand; the registry's errors."""

from __future__ import annotations

import math

import pytest
import torch

from landscape.errors import ConfigError
from landscape.objectives import available, get, parameters


def test_cross_entropy_by_hand_and_temperature() -> None:
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    y = torch.tensor([0, 2])
    z = math.exp(2) + 1 + math.exp(-1)
    expected = [-(2 - math.log(z)), math.log(3)]
    ce = get("ce")
    torch.testing.assert_close(ce.per_sample(logits, y),
                               torch.tensor(expected, dtype=torch.float64))
    assert ce(logits, y).item() == pytest.approx(sum(expected) / 2)
    z2 = math.exp(1) + 1 + math.exp(-0.5)
    assert get("ce", temperature=2.0).per_sample(logits, y)[0].item() == pytest.approx(
        -(1 - math.log(z2)))


def test_mse_on_one_hot_targets_by_hand() -> None:
    logits = torch.tensor([[0.5, 2.0, -1.0]], dtype=torch.float64)
    y = torch.tensor([1])
    assert get("mse")(logits, y).item() == pytest.approx((0.25 + 1.0 + 1.0) / 3)


def test_gradients_are_finite_at_extreme_logits() -> None:
    logits = torch.tensor([[1e4, -1e4, 0.0]], requires_grad=True)
    for name in ("ce", "mse"):
        loss = get(name)(logits, torch.tensor([1]))
        (grad,) = torch.autograd.grad(loss, logits)
        assert torch.isfinite(loss) and torch.isfinite(grad).all()


def test_registry_and_errors() -> None:
    assert {"ce", "mse"} <= set(available())
    assert parameters("ce") == {"temperature": 1.0}
    assert get("ce", temperature=3).describe() == {"name": "ce",
                                                    "params": {"temperature": 3.0}}
    with pytest.raises(ConfigError, match="unknown objective 'cee'"):
        get("cee")
    with pytest.raises(ConfigError, match="temperature"):
        get("ce", q=0.7)
    with pytest.raises(ConfigError, match="positive"):
        get("ce", temperature=0)
    with pytest.raises(ConfigError, match=r"logits \[N, C\]"):
        get("ce")(torch.zeros(3), torch.zeros(3, dtype=torch.long))
