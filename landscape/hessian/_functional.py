"""Evaluating a model's loss at other parameter values without touching the model (private)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.func import functional_call

from landscape.forward import Forward


class ForwardCall(nn.Module):
    """``forward(model, batch)`` as a module, so :func:`torch.func.functional_call` can swap the
    model's parameters (named ``model.<name>`` here) for one call of any forward."""

    def __init__(self, model: nn.Module, forward: Forward) -> None:
        super().__init__()
        self.model = model
        self.fn = forward

    def forward(self, batch: Any) -> tuple[Any, Any]:
        return self.fn(self.model, batch)


def call_with(model: nn.Module, forward: Forward, values: dict[str, torch.Tensor],
              batch: Any) -> tuple[Any, Any]:
    """``forward(model, batch)`` with the parameters named in ``values`` replaced (the others,
    and the buffers, as they are); the model itself is not modified."""
    wrapper = ForwardCall(model, forward)
    return functional_call(wrapper, {f"model.{n}": v for n, v in values.items()}, (batch,))
