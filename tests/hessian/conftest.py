"""Shared small problems for the Hessian tests: float64 models whose Hessian is built densely."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable

import pytest
import torch
from torch import nn
from torch.func import functional_call


def make_mlp(sizes: tuple[int, ...] = (6, 16, 16, 4), seed: int = 0) -> nn.Module:
    """A tanh MLP in float64 and eval mode (deterministic)."""
    gen = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(sizes):
        lin = nn.Linear(a, b).double()
        with torch.no_grad():
            lin.weight.copy_(torch.randn(b, a, generator=gen, dtype=torch.float64) / a ** 0.5)
            lin.bias.copy_(0.1 * torch.randn(b, generator=gen, dtype=torch.float64))
        layers += [lin, nn.Tanh()]
    return nn.Sequential(*layers[:-1]).eval()


def make_data(n: int = 100, d: int = 6, c: int = 4, seed: int = 1
              ) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(n, d, generator=gen, dtype=torch.float64),
            torch.randint(0, c, (n,), generator=gen))


def flat_params(model: nn.Module, names: list[str] | None = None) -> torch.Tensor:
    named = dict(model.named_parameters())
    names = list(named) if names is None else names
    return torch.cat([named[n].detach().reshape(-1) for n in names])


def loss_of_flat(model: nn.Module, loss_fn: Callable, x: torch.Tensor, y: torch.Tensor,
                 names: list[str] | None = None) -> Callable[[torch.Tensor], torch.Tensor]:
    """θ_flat ↦ mean loss over (x, y), the selected parameters taken from θ_flat."""
    named = {n: p.detach() for n, p in model.named_parameters()}
    names = list(named) if names is None else names

    def f(theta: torch.Tensor) -> torch.Tensor:
        params, i = dict(named), 0
        for n in names:
            k = named[n].numel()
            params[n] = theta[i: i + k].view(named[n].shape)
            i += k
        return loss_fn(functional_call(model, params, (x,)), y)

    return f


def dense_hessian(model: nn.Module, loss_fn: Callable, x: torch.Tensor, y: torch.Tensor,
                  names: list[str] | None = None) -> torch.Tensor:
    """The dense float64 Hessian of the mean loss over (x, y) w.r.t. the flattened parameters."""
    theta = flat_params(model, names)
    with warnings.catch_warnings():  # torch's one-time forward-AD set-up warns about jit
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.func.hessian(loss_of_flat(model, loss_fn, x, y, names))(theta)


@pytest.fixture(scope="session")
def problem() -> dict:
    """MLP 6-16-16-4 (P = 452), 100 samples, cross-entropy, and its dense Hessian + spectrum."""
    model, (x, y) = make_mlp(), make_data()
    loss_fn = nn.CrossEntropyLoss()
    H = dense_hessian(model, loss_fn, x, y)
    evals = torch.linalg.eigvalsh(H)
    return {"model": model, "loss_fn": loss_fn, "x": x, "y": y, "H": H, "evals": evals}
