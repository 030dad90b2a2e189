"""Losses: a summed loss is refused everywhere (it would scale results by a batch size), and
labels that do not fit the outputs give an error that says what to pass."""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from landscape._losses import check_loss_fn
from landscape.errors import ConfigError
from landscape.flatness import local_energy, sharpness
from landscape.flatness.fisher_rao import fisher_rao
from landscape.hessian import HessianOperator
from tests.hessian.conftest import dense_hessian


def _problem(n: int = 40) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3)).double().eval()
    return model, torch.randn(n, 4, dtype=torch.float64), torch.randint(0, 3, (n,))


@pytest.mark.parametrize("loss_fn", [nn.CrossEntropyLoss(reduction="sum"),
                                     nn.MSELoss(reduction="sum"),
                                     nn.CrossEntropyLoss(reduction="none"),
                                     functools.partial(F.cross_entropy, reduction="sum")])
def test_a_loss_that_does_not_average_is_refused(loss_fn) -> None:
    model, x, y = _problem()
    with pytest.raises(ConfigError, match=r"reduction='(sum|none)'.*reduction='mean'"):
        HessianOperator(model, loss_fn, [(x, y)])
    with pytest.raises(ConfigError, match="reduction="):
        local_energy(model, loss_fn, [(x, y)], sigmas=[0.1], num_samples=2)
    with pytest.raises(ConfigError, match="reduction="):
        sharpness(model, loss_fn, [(x, y)], rho=0.05)
    with pytest.raises(ConfigError, match="reduction="):
        fisher_rao(model, loss_fn, [(x, y)])


def test_the_mean_loss_hessian_is_the_same_for_any_batching() -> None:
    """What the refusal protects: with the mean loss, one batch of 40 and batches of 16 give the
    dense float64 Hessian of the mean loss over the 40 samples."""
    model, x, y = _problem()
    loss = nn.CrossEntropyLoss()
    exact = dense_hessian(model, loss, x, y)
    for batches in ([(x, y)], [(x[:16], y[:16]), (x[16:32], y[16:32]), (x[32:], y[32:])]):
        H = _dense(HessianOperator(model, loss, batches))
        torch.testing.assert_close(H, exact, rtol=1e-10, atol=1e-12)


def _dense(op: HessianOperator) -> torch.Tensor:
    return op @ torch.eye(op.shape[0], dtype=torch.float64)


def test_labels_that_do_not_fit_say_what_to_pass() -> None:
    model, x, y = _problem()
    with pytest.raises(ConfigError, match=r"integer tensor \(y.long\(\)\)"):
        _dense(HessianOperator(model, nn.CrossEntropyLoss(), [(x, y.double())]))
    with pytest.raises(ConfigError, match="40 inputs but 39 labels"):
        _dense(HessianOperator(model, nn.CrossEntropyLoss(), [(x, y[:39])]))
    with pytest.raises(ConfigError, match="40 inputs but 39 labels"):
        local_energy(model, nn.CrossEntropyLoss(), [(x, y[:39])], sigmas=[0.1], num_samples=2)
    probs = torch.softmax(torch.randn(40, 3, dtype=torch.float64), 1)  # soft labels are fine
    assert _dense(HessianOperator(model, nn.CrossEntropyLoss(), [(x, probs)])).shape[0] == 43
    assert check_loss_fn(F.cross_entropy) is F.cross_entropy  # a function is taken as it is
