"""The SGLD chains of :func:`landscape.flatness.local_entropy.local_entropy` (private): the
argument checks, the step kernel and the lock-step chains.

:func:`check_gammas` sorts and checks the couplings γ, :func:`_check_steps` gives one step size
per γ; :func:`step_coefficients` is the step ``w' ← w + a(w' − w) − b ĝ + s ξ`` of the two
discretisations (``"euler"`` and ``"exponential"``); :class:`_Chains` holds ``C`` chains over the
selected parameters with their flat shadow chains and random streams, and runs them in lock-step
(one vmapped forward and one backward pass per step for all chains). The maths, defaults and
biases are in the docstring of :mod:`landscape.flatness.local_entropy`.

Under a ``torch.distributed`` process group (:mod:`landscape.distributed`) each rank holds a
shard of the data: the chains' full-data losses and gradients are the all-reduced shard sums
(weighted by the global sample count), and the random streams are the same on every rank, so
every rank runs the same chains and they equal one process holding all the data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, vmap

from landscape import distributed
from landscape._losses import check_loss_fn
from landscape._seeding import torch_generator
from landscape.errors import ConfigError, NonDeterministicError, NonFiniteError
from landscape.flatness._evaluate import LossFn, vmap_is_slow
from landscape.forward import Forward, default_forward, resolve_forward
from landscape.forward import batch_size as batch_size_of
from landscape.hessian._checks import check_scalar_loss, stochastic_modules
from landscape.hessian._data import (
    Batch,
    ParamSelection,
    check_reiterable,
    iterate,
    select_parameters,
)
from landscape.hessian._functional import call_with


def check_gammas(gammas: Sequence[float] | np.ndarray | torch.Tensor
                 ) -> tuple[np.ndarray, np.ndarray]:
    """``(sorted, order)``: ``gammas`` as a float64 ``[K]`` array sorted ascending and the
    sorting permutation, or :class:`ConfigError` (empty, not 1-D, γ ≤ 0, non-finite,
    repeated)."""
    if isinstance(gammas, torch.Tensor):
        gammas = gammas.detach().cpu().numpy()
    try:
        arr = np.asarray(gammas, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"gammas must be a 1-D sequence of numbers, got {gammas!r}") from exc
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1 or arr.size == 0:
        raise ConfigError(f"gammas must be a non-empty 1-D sequence, got shape {list(arr.shape)}")
    if not np.isfinite(arr).all() or (arr <= 0).any():
        raise ConfigError(f"gammas must be finite and > 0 (γ is the coupling strength of "
                          f"exp(-γ/2 ||w' - w||^2)), got {arr.tolist()}")
    order = np.argsort(arr, kind="stable")
    arr = arr[order]
    if (np.diff(arr) == 0).any():
        raise ConfigError(f"gammas must be distinct, got {arr.tolist()}")
    return arr, order


def _check_steps(step_size: float | Sequence[float] | np.ndarray, order: np.ndarray
                 ) -> np.ndarray:
    """One step size per γ, permuted by ``order`` (the sorting of the given gammas)."""
    if isinstance(step_size, (int, float, np.floating)) and not isinstance(step_size, bool):
        return np.full(order.size, _check_float("step_size", step_size))
    try:
        arr = np.asarray(step_size, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"step_size must be a number or one number per gamma, got "
                          f"{step_size!r}") from exc
    if arr.size != order.size:
        raise ConfigError(f"step_size must be one number or one per gamma ({order.size}), got "
                          f"{arr.size} values")
    for v in arr:
        _check_float("step_size", float(v))
    return arr[order]


def _check_float(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)):
        raise ConfigError(f"{name} must be a positive number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be finite and > 0, got {value!r}")
    return value


def step_coefficients(gamma: float, beta: float, eta: float, scheme: str
                      ) -> tuple[float, float, float]:
    """``(a, b, s)`` of one step ``w' ← w + a(w' − w) − b ĝ + s ξ`` (the docstring of
    :mod:`landscape.flatness.local_entropy`).

    ``"euler"``: ``a = 1 − ηκ``, ``b = η``, ``s = √(2η/β)`` with ``κ = γ/β``.
    ``"exponential"``: ``a = e^{−κη}``, ``b = (1 − a)/κ``, ``s = √((1 − a²)/(κβ))``.
    """
    kappa = gamma / beta
    if scheme == "euler":
        return 1.0 - eta * kappa, eta, math.sqrt(2.0 * eta / beta)
    one_minus_a = -math.expm1(-kappa * eta)
    return (1.0 - one_minus_a, one_minus_a / kappa,
            math.sqrt(-math.expm1(-2.0 * kappa * eta) / (kappa * beta)))


class _Chains:
    """Lock-step SGLD chains over the selected parameters (private)."""

    def __init__(self, model: nn.Module, loss_fn: LossFn, data: object, params: ParamSelection,
                 num_chains: int, batch_size: int | None, seed: int,
                 control_variate: bool = True, forward: Forward | str | None = None,
                 process_group: Any = "auto") -> None:
        self.group = distributed.resolve_group(process_group)
        self.control_variate = bool(control_variate)
        self.u: dict[str, torch.Tensor] = {}
        self.v = 0.0
        if not callable(loss_fn):
            raise ConfigError("loss_fn must be callable as loss_fn(model(x), y)")
        check_reiterable(data)
        findings = stochastic_modules(model)
        if findings:
            raise NonDeterministicError(
                "the loss would not be a function of the weights, so the chains would not "
                "sample exp(-beta L): " + "; ".join(findings) + ". Call model.eval() first "
                "(BatchNorm then uses its stored running statistics, dropout is off)")
        self.names, tensors = select_parameters(model, params)
        self.shapes = [t.shape for t in tensors]
        self.sizes = [t.numel() for t in tensors]
        self.num_params = sum(self.sizes)
        self.device = tensors[0].device
        self.dtype = tensors[0].dtype if tensors[0].is_floating_point() \
            else torch.get_default_dtype()
        self.w = {n: t.detach().clone() for n, t in zip(self.names, tensors)}
        chosen = set(self.names)
        self.fixed = {n: p.detach() for n, p in model.named_parameters() if n not in chosen}
        self.fixed.update({n: b.detach() for n, b in model.named_buffers()})
        self.model, self.loss_fn = model, check_loss_fn(loss_fn)
        self.data = data
        fwd = resolve_forward(forward)
        self.forward: Forward | None = None if fwd is default_forward else fwd
        self.batches = list(iterate(data, self.device, self.dtype, self.forward))
        if not self.batches:
            raise ConfigError("data holds no batch: pass one (x, y) batch or a non-empty "
                              "iterable of batches")
        if self.forward is not None and batch_size is not None:
            raise ConfigError("batch_size (minibatch SGLD) needs (x, y) batches; with forward= "
                              "use full-data gradients (batch_size=None)")
        with torch.no_grad():
            self.counts = [b.n if b.n is not None
                           else batch_size_of(self.forward(model, b.data)[1])  # type: ignore[misc]
                           for b in self.batches]
        self.num_data = sum(self.counts)
        if self.group is not None:
            failure = None if batch_size is None else ConfigError(
                "minibatch SGLD (batch_size) draws from all the data and cannot run on shards: "
                "use full-data gradients (batch_size=None) under a process group")
            distributed.check_agreement(
                self.group, tensors, f"local_entropy {self.names} {num_chains} {seed} "
                f"{control_variate} {batch_size}", self.device, failure)
            self.num_data = distributed.allreduce_count(self.num_data, self.group, self.device)
        self.num_chains = num_chains
        self.batch_size = batch_size
        if batch_size is not None:
            if batch_size > self.num_data:
                raise ConfigError(f"batch_size={batch_size} exceeds the {self.num_data} samples "
                                  "in data")
            xs, ys = [b.x for b in self.batches], [b.y for b in self.batches]
            if not all(isinstance(t, torch.Tensor) for t in xs + ys):
                raise ConfigError("batch_size (minibatch SGLD) needs tensor inputs and targets "
                                  "that can be concatenated and indexed")
            self.x_all, self.y_all = torch.cat(xs), torch.cat(ys)
        self.noise_gens = [torch_generator(seed, "local_entropy", "noise", c, device=self.device)
                           for c in range(num_chains)]
        self.init_gens = [torch_generator(seed, "local_entropy", "init", c, device=self.device)
                          for c in range(num_chains)]
        self.batch_gens = [torch_generator(seed, "local_entropy", "batch", c, device=self.device)
                           for c in range(num_chains)]
        self._fwd = vmap(self._loss, in_dims=(0, None, None))
        self._fwd_mb = vmap(self._loss, in_dims=(0, 0, 0))
        self._loop = vmap_is_slow(model, self.device)

    def _loss(self, p: dict[str, torch.Tensor], x: Any, y: Any) -> torch.Tensor:
        out = functional_call(self.model, {**self.fixed, **p}, (x,))
        return check_scalar_loss(self.loss_fn(out, y))

    def _batch_losses(self, leaves: dict[str, torch.Tensor], b: Batch) -> torch.Tensor:
        """``[C]`` losses of the chains on batch ``b`` (one call per chain with a forward)."""
        if self.forward is None:
            return self._losses(leaves, b.x, b.y, per_chain=False)
        k = next(iter(leaves.values())).shape[0]
        values = [{**self.fixed, **{n: t[c] for n, t in leaves.items()}} for c in range(k)]
        return torch.stack([check_scalar_loss(self.loss_fn(*call_with(
            self.model, self.forward, v, b.data))) for v in values])

    def _losses(self, leaves: dict[str, torch.Tensor], x: Any, y: Any, per_chain: bool
                ) -> torch.Tensor:
        """``[C]`` losses of the chains, on shared ``x, y`` or (``per_chain``) on ``x[c], y[c]``."""
        if not self._loop:
            return (self._fwd_mb if per_chain else self._fwd)(leaves, x, y)
        return torch.stack([self._loss({n: t[c] for n, t in leaves.items()},
                                       x[c] if per_chain else x, y[c] if per_chain else y)
                            for c in range(self.num_chains)])

    def base(self) -> float:
        """``L(w)`` over the full data."""
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        with torch.no_grad():
            one = {n: t.unsqueeze(0) for n, t in self.w.items()}
            for b, n_b in zip(self.batches, self.counts):
                loss = self._loss(self.w, b.x, b.y) if self.forward is None \
                    else self._batch_losses(one, b)[0]
                total += loss.to(torch.float64) * n_b
        if self.group is not None:
            torch.distributed.all_reduce(total, group=self.group)
        value = float(total) / self.num_data
        if not math.isfinite(value):
            raise NonFiniteError(f"the loss at the reference weights is {value}; local entropy "
                                 "is undefined (check the model, the data and loss_fn)")
        return value

    def start(self, gamma: float) -> dict[str, torch.Tensor]:
        """Every chain drawn from ``N(w, I/γ)`` (the flat, large-γ limit) with its own stream
        ``(seed, "init", c)``: ``{name: [C, *shape]}``. The flat shadow chains ``u`` start at
        the same offsets, with known per-coordinate variance ``v = 1/γ``."""
        xi = self.noise(self.init_gens)
        self.u = {n: x / math.sqrt(gamma) for n, x in xi.items()}
        self.v = 1.0 / gamma
        return {n: t.unsqueeze(0) + self.u[n] for n, t in self.w.items()}

    def gradient(self, state: dict[str, torch.Tensor]
                 ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """``(ĝ, L̂)`` per chain: full-data or one fresh minibatch per chain."""
        leaves = {n: t.detach().requires_grad_(True) for n, t in state.items()}
        with torch.enable_grad():
            if self.batch_size is not None:
                idx = torch.stack([torch.randperm(self.num_data, generator=g,
                                                  device=self.device)[: self.batch_size]
                                   for g in self.batch_gens])
                value = self._losses(leaves, self.x_all[idx], self.y_all[idx], per_chain=True)
            else:
                value = sum(self._batch_losses(leaves, b) * (n_b / self.num_data)
                            for b, n_b in zip(self.batches, self.counts))
            # chain c's loss depends only on its own slice, so the gradient of the sum over
            # chains is every chain's own gradient (one backward pass for all chains)
            grads = torch.autograd.grad(value.sum(), list(leaves.values()))
        if self.group is not None:
            return self._reduce(list(leaves), list(grads), value.detach())
        return dict(zip(leaves, grads)), value.detach()

    def _reduce(self, names: list[str], grads: list[torch.Tensor], value: torch.Tensor
                ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """The shard gradients and losses (already weighted by ``1/N``) summed over ranks."""
        flat = torch.cat([g.reshape(-1) for g in grads] + [value.reshape(-1)])
        torch.distributed.all_reduce(flat, group=self.group)
        distributed.BYTES_REDUCED["total"] += flat.numel() * flat.element_size()
        parts = torch.split(flat, [g.numel() for g in grads] + [value.numel()])
        return ({n: p.view_as(g) for n, p, g in zip(names, parts, grads)},
                parts[-1].view_as(value))

    def noise(self, gens: list[torch.Generator] | None = None) -> dict[str, torch.Tensor]:
        """Standard normal ``{name: [C, *shape]}``, chain ``c`` from its own stream."""
        flat = torch.stack([torch.randn(self.num_params, generator=g, device=self.device,
                                        dtype=self.dtype)
                            for g in (self.noise_gens if gens is None else gens)])
        parts = torch.split(flat, self.sizes, dim=1)
        return {n: p.reshape(self.num_chains, *s)
                for n, p, s in zip(self.names, parts, self.shapes)}

    def sq_dist(self, state: dict[str, torch.Tensor], centre: bool = True) -> torch.Tensor:
        """``‖w'_c − w‖²`` (``‖u_c‖²`` with ``centre=False``) per chain, float64 ``[C]``."""
        total = torch.zeros(self.num_chains, dtype=torch.float64, device=self.device)
        for n, t in state.items():
            d = (t - self.w[n] if centre else t).to(torch.float64)
            total += d.reshape(self.num_chains, -1).pow(2).sum(1)
        return total

    def run(self, state: dict[str, torch.Tensor], gamma: float, beta: float, eta: float,
            scheme: str, steps: int, record: bool, bar: Any
            ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor, torch.Tensor]:
        """``steps`` SGLD steps at ``γ``; returns the new state and, if ``record``, ``[T, C]``
        float64 squared distances, centred shadow-chain values ``‖u‖² − P v`` (mean zero) and
        losses at the pre-step points (else empty)."""
        coupling = gamma / beta
        keep, drift, scale = step_coefficients(gamma, beta, eta, scheme)
        dists, shadows, losses = [], [], []
        for _ in range(steps):
            grads, value = self.gradient(state)
            if record:
                dists.append(self.sq_dist(state))
                shadows.append(self.sq_dist(self.u, centre=False) - self.num_params * self.v)
                losses.append(value.detach().to(torch.float64))
            xi = self.noise()
            state = {n: (self.w[n] + keep * (t - self.w[n]) - drift * grads[n] + scale * xi[n]
                         ).detach()
                     for n, t in state.items()}
            self.u = {n: keep * t + scale * xi[n] for n, t in self.u.items()}
            self.v = keep * keep * self.v + scale * scale
            if bar is not None:
                bar.update(1)
        finite = all(bool(torch.isfinite(t).all()) for t in state.values())
        if record:
            d, lo = torch.stack(dists).cpu(), torch.stack(losses).cpu()
            y = torch.stack(shadows).cpu()
            finite = finite and bool(torch.isfinite(d).all()) and bool(torch.isfinite(lo).all())
        else:
            d = lo = y = torch.empty(0, self.num_chains, dtype=torch.float64)
        if not finite:
            raise NonFiniteError(
                f"an SGLD chain became non-finite at gamma={gamma:g} (NaN or infinite loss or "
                f"weights); reduce step_size (stability needs about step_size * lambda_max(H) "
                f"< 2, and with scheme='euler' step_size * (lambda_max(H) + gamma/beta) < 2; "
                f"here gamma/beta = {coupling:g}) or check the model")
        return state, d, y, lo
