"""Tiny float64 problems shared by the flatness tests."""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.func import functional_call


class Quadratic(nn.Module):
    """``L(w) = ½ wᵀAw + bᵀw`` as a 'model' whose output is the loss for every input row."""

    def __init__(self, A: torch.Tensor, b: torch.Tensor, w: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("A", A)
        self.register_buffer("b", b)
        self.w = nn.Parameter(w.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value = 0.5 * self.w @ (self.A @ self.w) + self.b @ self.w
        return value * torch.ones(x.shape[0], dtype=x.dtype)

    def grad(self) -> torch.Tensor:
        return self.A @ self.w.detach() + self.b


def mean_out(out: torch.Tensor, _y: object) -> torch.Tensor:
    return out.mean()


def quadratic(p: int = 6, seed: int = 0, at_minimum: bool = False) -> Quadratic:
    gen = torch.Generator().manual_seed(seed)
    M = torch.randn(p, p, generator=gen, dtype=torch.float64)
    A = M @ M.T / p + torch.diag(torch.linspace(0.5, 2.0, p, dtype=torch.float64))
    b = torch.randn(p, generator=gen, dtype=torch.float64)
    w = -torch.linalg.solve(A, b) if at_minimum else torch.randn(p, generator=gen,
                                                                 dtype=torch.float64)
    return Quadratic(A, b, w).eval()


def quad_data(n: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.zeros(n, 1, dtype=torch.float64), torch.zeros(n, dtype=torch.float64)


def mlp(seed: int = 0, batchnorm: bool = False, d_in: int = 3, hidden: int = 5,
        classes: int = 3) -> nn.Module:
    torch.manual_seed(seed)
    layers: list[nn.Module] = [nn.Linear(d_in, hidden)]
    if batchnorm:
        layers.append(nn.BatchNorm1d(hidden))
    layers += [nn.Tanh(), nn.Linear(hidden, classes)]
    return nn.Sequential(*layers).double().eval()


def cls_data(n: int = 40, d_in: int = 3, classes: int = 3, seed: int = 1
             ) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(n, d_in, generator=gen, dtype=torch.float64),
            torch.randint(0, classes, (n,), generator=gen))


def full_loss(model: nn.Module, loss_fn, batches) -> tuple[float, float]:
    """Plain size-weighted loss and error of a model over a list of batches."""
    total, loss, wrong = 0, 0.0, 0.0
    with torch.no_grad():
        for x, y in batches:
            out = model(x)
            loss += float(loss_fn(out, y)) * x.shape[0]
            if out.ndim == 2:
                wrong += float((out.argmax(-1) != y).sum())
            total += x.shape[0]
    return loss / total, wrong / total


def naive_losses(model: nn.Module, loss_fn, batches, directions: dict[str, torch.Tensor],
                 sigma: float) -> tuple[list[float], list[float]]:
    """The naive loop: deepcopy, perturb in place, evaluate, for every direction."""
    k = next(iter(directions.values())).shape[0]
    losses, errors = [], []
    for j in range(k):
        m = copy.deepcopy(model)
        params = dict(m.named_parameters())
        with torch.no_grad():
            for n, d in directions.items():
                params[n].add_(sigma * d[j])
        lo, er = full_loss(m, loss_fn, batches)
        losses.append(lo)
        errors.append(er)
    return losses, errors


def flat_fn(model: nn.Module, loss_fn, x: torch.Tensor, y: torch.Tensor):
    """``(L(θ) of a flat θ, θ₀, names, shapes)`` for dense Hessians with torch.func."""
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    theta0 = torch.cat([p.detach().reshape(-1) for _, p in model.named_parameters()])
    buffers = dict(model.named_buffers())

    def f(theta: torch.Tensor) -> torch.Tensor:
        parts, i = {}, 0
        for n, s in zip(names, shapes):
            k = int(torch.Size(s).numel())
            parts[n] = theta[i: i + k].reshape(s)
            i += k
        return loss_fn(functional_call(model, {**parts, **buffers}, (x,)), y)

    return f, theta0, names, shapes


def flatten(d: dict[str, torch.Tensor], names: list[str]) -> torch.Tensor:
    """``{name: [K, *shape]}`` → ``[K, P]`` in the order of ``names``."""
    k = next(iter(d.values())).shape[0]
    return torch.cat([d[n].reshape(k, -1) for n in names], dim=1)


class Killed(Exception):
    """Raised by :class:`CountingLoss` to simulate a job killed mid-measurement."""


class CountingLoss:
    """Cross-entropy that counts its calls and raises :class:`Killed` at call ``kill_at``."""

    def __init__(self, kill_at: int | None = None) -> None:
        self.calls = 0
        self.kill_at = kill_at

    def __call__(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.kill_at is not None and self.calls >= self.kill_at:
            raise Killed
        return torch.nn.functional.cross_entropy(out, y)
