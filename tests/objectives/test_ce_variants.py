"""Label smoothing and focal loss against values computed by hand, and their limits."""

from __future__ import annotations

import pytest
import torch

from landscape.errors import ConfigError
from landscape.objectives import get

# softmax([2, 0, −1]) = [0.843794734481339, 0.114195199384594, 0.042010066134066]
# log softmax        = [−0.169846019556286, −2.169846019556286, −3.169846019556286]
LOGITS = torch.tensor([[2.0, 0.0, -1.0], [2.0, 0.0, -1.0]], dtype=torch.float64)
Y = torch.tensor([0, 2])


def _random_logits() -> torch.Tensor:
    return torch.randn(16, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(3)) * 3


def test_label_smoothing_spreads_epsilon_over_all_classes() -> None:
    # ε = 0.3, C = 3: target of the true class 1 − 0.3 + 0.1 = 0.8, of the others 0.1
    # y = 0: 0.8·0.169846… + 0.1·2.169846… + 0.1·3.169846… = 0.669846…
    # y = 2: 0.1·0.169846… + 0.1·2.169846… + 0.8·3.169846… = 2.769846…
    values = get("label_smoothing", epsilon=0.3).per_sample(LOGITS, Y)
    torch.testing.assert_close(values, torch.tensor([0.6698460195562858, 2.769846019556286],
                                                    dtype=torch.float64))


def test_label_smoothing_epsilon_zero_is_cross_entropy() -> None:
    logits, y = _random_logits(), torch.arange(16) % 5
    torch.testing.assert_close(get("label_smoothing", epsilon=0.0).per_sample(logits, y),
                               get("ce").per_sample(logits, y), rtol=0, atol=1e-15)


def test_focal_loss_by_hand() -> None:
    # γ = 2: −(1 − p_y)²·log p_y with 1 − p_0 = 0.156205265518661, 1 − p_2 = 0.957989933865934
    values = get("focal", gamma=2.0).per_sample(LOGITS, Y)
    torch.testing.assert_close(values, torch.tensor([0.004144257309967156, 2.909109426703223],
                                                    dtype=torch.float64))
    # γ = 0.5
    values = get("focal", gamma=0.5).per_sample(LOGITS, Y)
    torch.testing.assert_close(values, torch.tensor([0.0671279227150686, 3.10254892707039],
                                                    dtype=torch.float64))
    # α per class weighs by the true class: α_0 = 0.25, α_2 = 2
    values = get("focal", gamma=2.0, alpha=[0.25, 1.0, 2.0]).per_sample(LOGITS, Y)
    torch.testing.assert_close(values, torch.tensor([0.25 * 0.004144257309967156,
                                                     2 * 2.909109426703223], dtype=torch.float64))
    values = get("focal", gamma=2.0, alpha=0.5).per_sample(LOGITS, Y)
    torch.testing.assert_close(values, torch.tensor([0.5 * 0.004144257309967156,
                                                     0.5 * 2.909109426703223], dtype=torch.float64))


def test_focal_gamma_zero_is_cross_entropy() -> None:
    logits, y = _random_logits(), torch.arange(16) % 5
    torch.testing.assert_close(get("focal", gamma=0.0).per_sample(logits, y),
                               get("ce").per_sample(logits, y), rtol=0, atol=1e-15)


def test_focal_gradient_is_differentiated_through_the_modulating_factor() -> None:
    # d/dz_0 of −(1 − p)²·log p for two classes with z = [0, 0] (p = ½):
    # dℓ/dp = 2(1 − p)·log p − (1 − p)²/p = log ½ − ½, dp/dz_0 = p(1 − p) = ¼
    logits = torch.zeros(1, 2, dtype=torch.float64, requires_grad=True)
    get("focal", gamma=2.0)(logits, torch.tensor([0])).backward()
    expected = (-0.6931471805599453 - 0.5) * 0.25
    torch.testing.assert_close(logits.grad, torch.tensor([[expected, -expected]],
                                                         dtype=torch.float64))


def test_focal_alpha_must_match_the_classes() -> None:
    with pytest.raises(ConfigError, match="alpha has 2 entries"):
        get("focal", alpha=[1.0, 2.0]).per_sample(LOGITS, Y)
