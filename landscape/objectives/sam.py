"""Sharpness-aware minimisation (SAM) and adaptive SAM (ASAM) as objective-modifying optimisers.

Both wrap a per-sample base loss L (cross-entropy by default) and own the whole optimisation step:

1. g = ∇L(w) on the batch (first forward/backward pass, at the current weights w);
2. the ascent step ε (SAM: ρ·g/‖g‖₂; ASAM: ρ·T_w²g/‖T_w g‖₂);
3. the gradient g' = ∇L(w + ε) on the same batch (second pass), with BatchNorm running statistics
   left as the first pass set them;
4. the weights go back to w exactly, and the training optimiser (``TrainConfig``'s SGD/Adam, with
   its momentum, weight decay and learning-rate schedule) steps from w with g'.

The reported training loss and logits are those of the first pass, at w.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, ClassVar

import torch
from torch import nn

from landscape.errors import ConfigError, NonFiniteError
from landscape.objectives._softmax import finite
from landscape.objectives.base import Batch, Objective, StepContext, StepOutput

_NORM_EPS = 1e-12  # added to ‖g‖ (davda54/sam uses 1e-12, SamsungLabs/ASAM 1e-16)


@contextlib.contextmanager
def preserved_batchnorm_stats(model: nn.Module) -> Iterator[None]:
    """Run a block without changing the running statistics of ``model``'s normalisation layers.

    Saves ``running_mean``, ``running_var`` and ``num_batches_tracked`` of every BatchNorm (and
    InstanceNorm with ``track_running_stats``) module and copies them back afterwards, so a forward
    pass in train mode inside the block still normalises with the batch statistics but leaves the
    buffers as they were (works for any ``momentum``, including ``None``).
    """
    saved: list[tuple[nn.Module, dict[str, torch.Tensor]]] = []
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._NormBase) and module.track_running_stats:
            buffers = {name: getattr(module, name).detach().clone()
                       for name in ("running_mean", "running_var", "num_batches_tracked")
                       if getattr(module, name, None) is not None}
            saved.append((module, buffers))
    try:
        yield
    finally:
        with torch.no_grad():
            for module, buffers in saved:
                for name, value in buffers.items():
                    getattr(module, name).copy_(value)


def _positive(name: str, value: Any) -> float:
    out = finite(name, value)
    if not out > 0:
        raise ConfigError(f"{name} must be positive, got {value!r}")
    return out


def resolve_base(base: Any, base_params: dict[str, Any]) -> Objective:
    """The base objective: a registered name (with ``base_params``) or an :class:`Objective`
    whose training step is the plain one (a loss of the logits)."""
    if isinstance(base, Objective):
        if base_params:
            raise ConfigError("pass base parameters only with a base given by name")
        objective = base
    elif isinstance(base, str):
        from landscape.objectives import get  # the registry imports this module

        objective = get(base, **base_params)
    else:
        raise ConfigError(f"base must be an objective name or an Objective, got {base!r}")
    if type(objective).training_step is not Objective.training_step:
        raise ConfigError(f"the base objective {objective.name!r} has its own training procedure;"
                          " the base must be a loss of the logits (ce, focal, gce, ...)")
    return objective


class SAM(Objective):
    """Sharpness-aware minimisation (Foret, Kleiner, Mobahi, Neyshabur, ICLR 2021).

    "Sharpness-Aware Minimization for Efficiently Improving Generalization" (arXiv:2010.01412)
    minimises the worst-case loss in a ball of radius ρ around the weights,

        min_w max_{‖ε‖₂ ≤ ρ} L(w + ε),

    with the first-order solution of the inner problem ε̂ = ρ·g/‖g‖₂, g = ∇L(w) (the paper's
    p = 2), and the update w ← w − lr·∇L(w)|_{w+ε̂} (given to the training optimiser, which adds
    its momentum and weight decay). ‖g‖ is the norm over all trained parameters together, plus
    1e-12 (as the reference implementation davda54/sam). Each step costs two forward/backward
    passes; the second leaves BatchNorm running statistics untouched
    (:func:`preserved_batchnorm_stats`), so they are those of the batch at w, as the
    ``disable_running_stats`` helper of davda54/sam does. Dropout draws fresh masks on each pass.

    Args:
        rho: radius ρ > 0 of the neighbourhood (default 0.05, the paper's default, also the
            default of the reference code google-research/sam and davda54/sam; CIFAR-100 runs of
            the paper sometimes use 0.1; ``../shared/research/objectives.md`` §5.8).
        base: the loss L, an objective name resolved with ``landscape.objectives.get`` (default
            ``"ce"``, the paper's loss), or an :class:`Objective` with the plain training step.
        **base_params: parameters of ``base`` (e.g. ``gamma=2`` with ``base="focal"``).

    The base's ``loss`` is evaluated at w and at w + ε (per-sample state of a stateful base is
    therefore touched twice per step); its epoch hooks, sampler and state are passed through;
    evaluation uses the base's logits and per-sample loss at w.

    Example:
        >>> from landscape.objectives import get
        >>> get("sam", rho=0.1).params()
        {'rho': 0.1, 'base': 'ce', 'base_params': {'temperature': 1.0}}
    """

    name: ClassVar[str] = "sam"

    def __init__(self, rho: float = 0.05, base: str | Objective = "ce",
                 **base_params: Any) -> None:
        self.rho = _positive("rho", rho)
        self.base = resolve_base(base, base_params)
        self.base_name = base if isinstance(base, str) else self.base.name

    def params(self) -> dict[str, Any]:
        return {"rho": self.rho, "base": self.base_name, "base_params": self.base.params()}

    @staticmethod
    def _trained(ctx: StepContext) -> list[tuple[str, nn.Parameter]]:
        """The named parameters the training optimiser steps (and that require gradients)."""
        stepped = {id(p) for group in ctx.optimizer.param_groups for p in group["params"]}
        return [(n, p) for n, p in ctx.model.named_parameters()
                if p.requires_grad and id(p) in stepped]

    def perturbation(self, named: list[tuple[str, torch.Tensor]],
                     grads: list[torch.Tensor]) -> list[torch.Tensor]:
        """The ascent step ε for parameters ``named`` (name, value) with gradients ``grads``:
        ρ·g/(‖g‖₂ + 1e-12), the norm taken over all parameters together."""
        norm = torch.sqrt(sum((g.double() * g.double()).sum() for g in grads))
        scale = self.rho / (float(norm) + _NORM_EPS)
        return [g * scale for g in grads]

    def _check(self, loss: torch.Tensor, ctx: StepContext, where: str) -> None:
        if not torch.isfinite(loss):
            raise NonFiniteError(
                f"the {self.name} loss became {loss.item()} {where} at epoch {ctx.epoch}, step "
                f"{ctx.step}: lower the learning rate or rho, or check the inputs for NaN/inf")

    def training_step(self, batch: Batch, ctx: StepContext) -> StepOutput:
        model, optimizer = ctx.model, ctx.optimizer
        named = self._trained(ctx)
        optimizer.zero_grad(set_to_none=True)
        logits = model(batch.x)
        loss = self.base.loss(logits, batch, ctx)
        self._check(loss, ctx, "at w")
        loss.backward()
        used = [(n, p) for n, p in named if p.grad is not None]
        if not used:
            optimizer.step()
            return StepOutput(loss.detach(), logits.detach())
        grads = [p.grad.detach().clone() for _, p in used]
        with torch.no_grad():
            eps = self.perturbation([(n, p.detach()) for n, p in used], grads)
            saved = [p.detach().clone() for _, p in used]
            for (_, p), e in zip(used, eps):
                p.add_(e)
        optimizer.zero_grad(set_to_none=True)
        try:
            with preserved_batchnorm_stats(model):
                loss_at_eps = self.base.loss(model(batch.x), batch, ctx)
                self._check(loss_at_eps, ctx, "at w + ε")
                loss_at_eps.backward()
        finally:
            with torch.no_grad():
                for (_, p), w in zip(used, saved):
                    p.copy_(w)
        optimizer.step()
        return StepOutput(loss.detach(), logits.detach())

    def evaluation_loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self.base.evaluation_loss(logits, targets)

    def eval_logits(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return self.base.eval_logits(model, x)

    def on_epoch_start(self, epoch: int, model: nn.Module, train_data: Any) -> None:
        self.base.on_epoch_start(epoch, model, train_data)

    def sampler_weights(self, epoch: int, train_data: Any) -> torch.Tensor | None:
        return self.base.sampler_weights(epoch, train_data)

    def state_dict(self) -> dict[str, Any]:
        return {"base": self.base.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.base.load_state_dict(state.get("base", {}))


class ASAM(SAM):
    """Adaptive sharpness-aware minimisation (Kwon, Kim, Park, Choi, ICML 2021).

    "ASAM: Adaptive Sharpness-Aware Minimization for Scale-Invariant Learning of Deep Neural
    Networks" (arXiv:2102.11600) measures the neighbourhood relative to the weights with the
    element-wise normalisation operator T_w = |w| + η (diagonal), which makes the sharpness
    invariant to the rescalings that leave a ReLU network unchanged:

        min_w max_{‖T_w⁻¹ε‖₂ ≤ ρ} L(w + ε),   ε̂ = ρ·T_w² g / ‖T_w g‖₂,

    then the gradient at w + ε̂ is applied from w, as in :class:`SAM`. As in the authors' code
    (SamsungLabs/ASAM ``asam.py``), T_w = |w| + η applies to parameters whose name contains
    ``"weight"`` (linear/convolution weights and BatchNorm scales) and T_w = 1 to the others
    (biases); the norm is over all parameters together, plus 1e-12.

    Args:
        rho: radius ρ > 0 (default 0.5, the default of SamsungLabs/ASAM and its README's setting
            for CIFAR-10; the README uses 1.0 for CIFAR-100. The notes' ρ ≈ 2 is davda54/sam's
            suggestion for *its* adaptive variant, which has no η and scales biases too).
        eta: η ≥ 0 added to |w| (default 0.01, SamsungLabs/ASAM's default and the paper's).
        base, **base_params: the loss, as for :class:`SAM`.

    Example:
        >>> from landscape.objectives import get
        >>> get("asam").params()["rho"], get("asam").params()["eta"]
        (0.5, 0.01)
    """

    name: ClassVar[str] = "asam"

    def __init__(self, rho: float = 0.5, eta: float = 0.01, base: str | Objective = "ce",
                 **base_params: Any) -> None:
        super().__init__(rho, base, **base_params)
        self.eta = finite("eta", eta)
        if self.eta < 0:
            raise ConfigError(f"eta must be >= 0, got {eta!r}")

    def params(self) -> dict[str, Any]:
        return {"rho": self.rho, "eta": self.eta, "base": self.base_name,
                "base_params": self.base.params()}

    def perturbation(self, named: list[tuple[str, torch.Tensor]],
                     grads: list[torch.Tensor]) -> list[torch.Tensor]:
        """ε = ρ·T² g/(‖T g‖₂ + 1e-12) with T = |w| + η for ``"weight"`` parameters, else 1."""
        scales = [(w.abs() + self.eta) if "weight" in n else torch.ones_like(w)
                  for n, w in named]
        tg = [t * g for t, g in zip(scales, grads)]
        norm = torch.sqrt(sum((v.double() * v.double()).sum() for v in tg))
        scale = self.rho / (float(norm) + _NORM_EPS)
        return [t * v * scale for t, v in zip(scales, tg)]
