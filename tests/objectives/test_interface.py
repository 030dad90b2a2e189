"""The objective interface admits what single-loss objectives cannot express: per-sample state
that survives a resume, and training steps with several passes (SAM-style closures)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from landscape.models import build
from landscape.objectives import Batch, CrossEntropy, Objective, StepContext, StepOutput
from landscape.train import TrainConfig, train


class CountingCE(CrossEntropy):
    """CE that counts how often each training sample was seen (per-sample state by index)."""

    name = "counting-ce"

    def __init__(self) -> None:
        super().__init__()
        self.seen = torch.zeros(0, dtype=torch.long)

    def on_epoch_start(self, epoch: int, model: Any, train_data: Any) -> None:
        if len(self.seen) == 0:
            self.seen = torch.zeros(len(train_data), dtype=torch.long)

    def loss(self, logits: torch.Tensor, batch: Batch, ctx: StepContext) -> torch.Tensor:
        self.seen.index_add_(0, batch.index, torch.ones_like(batch.index))
        return super().loss(logits, batch, ctx)

    def state_dict(self) -> dict[str, Any]:
        return {"seen": self.seen.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.seen = state["seen"].clone()


class TwoPass(Objective):
    """A SAM-like step: gradient at w, ascent to w + ρ g/‖g‖, gradient there, step from w."""

    name = "two-pass"

    def __init__(self, rho: float = 0.05) -> None:
        self.rho = rho
        self.passes = 0

    def training_step(self, batch: Batch, ctx: StepContext) -> StepOutput:
        params = [p for p in ctx.model.parameters() if p.requires_grad]
        ctx.optimizer.zero_grad()
        logits = ctx.model(batch.x)
        loss = torch.nn.functional.cross_entropy(logits, batch.y)
        grads = torch.autograd.grad(loss, params)
        norm = torch.sqrt(sum((g * g).sum() for g in grads))
        eps = [self.rho * g / (norm + 1e-12) for g in grads]
        with torch.no_grad():
            for p, e in zip(params, eps):
                p.add_(e)
        torch.nn.functional.cross_entropy(ctx.model(batch.x), batch.y).backward()
        with torch.no_grad():
            for p, e in zip(params, eps):
                p.sub_(e)
        ctx.optimizer.step()
        self.passes += 2
        return StepOutput(loss.detach(), logits.detach())


def _model() -> torch.nn.Module:
    return build("mlp", (4,), 3, seed=0, depth=1, width=8)


def test_per_sample_state_survives_a_resume(data, study_path: Path) -> None:
    config = TrainConfig(epochs=4, batch_size=32, seed=1)
    reference = CountingCE()
    train(_model(), reference, *data, config, progress=False)
    assert reference.seen.tolist() == [4] * 120

    def stop(epoch: int, _: dict) -> None:
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(_model(), CountingCE(), *data, config, study=study_path, run="r", callback=stop,
              progress=False)
    resumed = CountingCE()
    train(_model(), resumed, *data, config, study=study_path, run="r", progress=False)
    assert torch.equal(resumed.seen, reference.seen)


def test_multi_pass_training_steps_plug_in(data) -> None:
    objective = TwoPass()
    result = train(_model(), objective, *data, TrainConfig(epochs=10, batch_size=40),
                   progress=False)
    assert objective.passes == 2 * 3 * 10
    assert result.history["train_acc"][-1] > 0.9
