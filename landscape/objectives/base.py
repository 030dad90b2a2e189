"""The objective interface: how a training objective plugs into :func:`landscape.train.train`.

Most objectives are a per-sample loss of the logits (:class:`LossObjective`): subclasses implement
:meth:`LossObjective.per_sample`, and ``objective(logits, targets)`` returns the batch mean.
Objectives that are not a single ``loss(logits, y)`` override the hooks of :class:`Objective`:

- :meth:`Objective.training_step` owns one optimisation step (SAM's two passes and closure,
  layer-wise procedures with their own optimisers);
- :meth:`Objective.on_epoch_start` sees the epoch, model and training data (multi-stage procedures
  switch stage here; per-sample methods refresh masks indexed by ``batch.index``);
- :meth:`Objective.sampler_weights` asks for a weighted sampler (class-balanced re-sampling);
- :meth:`Objective.state_dict` / :meth:`Objective.load_state_dict` carry per-sample state across a
  resume, so an interrupted run ends where an uninterrupted one does;
- :meth:`Objective.eval_logits` gives the logits used for evaluation (unperturbed, post-hoc
  adjusted, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from landscape.errors import NonFiniteError


@dataclass
class Batch:
    """One mini-batch as the training loop sees it."""

    x: torch.Tensor
    y: torch.Tensor
    y_clean: torch.Tensor
    index: torch.Tensor


@dataclass
class StepContext:
    """What an objective's training step may use besides the batch."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    epoch: int
    step: int
    num_classes: int
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class StepOutput:
    """What a training step reports: the (detached) mean loss and the logits it saw."""

    loss: torch.Tensor
    logits: torch.Tensor


class Objective:
    """Base class of all training objectives (see the module docstring for the hooks)."""

    name: ClassVar[str] = "objective"

    def params(self) -> dict[str, Any]:
        """The objective's settings under the papers' parameter names (JSON-able)."""
        return {}

    def describe(self) -> dict[str, Any]:
        """Name and settings, as recorded in a study file's provenance."""
        return {"name": self.name, "params": self.params()}

    def loss(self, logits: torch.Tensor, batch: Batch, ctx: StepContext) -> torch.Tensor:
        """The scalar training loss of a batch (what :meth:`training_step` differentiates)."""
        raise NotImplementedError

    def evaluation_loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Per-sample loss reported on evaluation data (default: this objective's loss if it is a
        per-sample loss, cross-entropy otherwise)."""
        return nn.functional.cross_entropy(logits, targets, reduction="none")

    def training_step(self, batch: Batch, ctx: StepContext) -> StepOutput:
        """One optimisation step: forward, loss, backward, optimiser step."""
        ctx.optimizer.zero_grad(set_to_none=True)
        logits = ctx.model(batch.x)
        loss = self.loss(logits, batch, ctx)
        if not torch.isfinite(loss):
            raise NonFiniteError(
                f"the {self.name} loss became {loss.item()} at epoch {ctx.epoch}, step {ctx.step}:"
                " lower the learning rate, or check the inputs for NaN/inf")
        loss.backward()
        ctx.optimizer.step()
        return StepOutput(loss.detach(), logits.detach())

    def on_epoch_start(self, epoch: int, model: nn.Module, train_data: Any) -> None:
        """Called before each epoch (0-based); default: nothing."""

    def sampler_weights(self, epoch: int, train_data: Any) -> torch.Tensor | None:
        """Per-sample sampling weights for this epoch, or ``None`` for uniform shuffling."""
        return None

    def eval_logits(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Logits used for evaluation and prediction."""
        return model(x)

    def state_dict(self) -> dict[str, Any]:
        """Objective state that must survive a resume (per-sample masks, stage, ...)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""


class LossObjective(Objective):
    """An objective that is a per-sample loss of the logits and the observed label.

    ``objective(logits, targets)`` returns the batch mean of :meth:`per_sample`.
    """

    def per_sample(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Loss of each sample, shape ``[N]``."""
        raise NotImplementedError

    def __call__(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self.per_sample(logits, targets).mean()

    def loss(self, logits: torch.Tensor, batch: Batch, ctx: StepContext) -> torch.Tensor:
        return self(logits, batch.y)

    def evaluation_loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self.per_sample(logits, targets)
