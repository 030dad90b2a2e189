"""Models: an MLP and a LeNet-like CNN with stable parameter names; any ``nn.Module`` works too."""

from __future__ import annotations

import contextlib
from typing import Any

from torch import nn

from landscape._seeding import seeded_torch_global
from landscape.errors import ConfigError
from landscape.models._config import build_from_config, model_config, record_config
from landscape.models.cnn import LeNet
from landscape.models.mlp import MLP

MODELS: dict[str, type[nn.Module]] = {"mlp": MLP, "lenet": LeNet}


def build(name: str, input_shape: tuple[int, ...], num_classes: int, *, seed: int | None = None,
          **kwargs: Any) -> nn.Module:
    """Build the model called ``name`` for inputs of ``input_shape`` (``(C, H, W)`` or ``(D,)``).

    With ``seed``, the initial weights are drawn from the stream ``derive_seed(seed, "init")``
    (torch's default initialisers), so the same seed gives the same initial model; without it they
    come from torch's global generator as usual.

    Example:
        >>> build("mlp", (1, 8, 8), 10, width=16).out.weight.shape
        torch.Size([10, 16])
    """
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    if name == "lenet" and (len(input_shape) != 3 or input_shape[1] != input_shape[2]):
        raise ConfigError(f"lenet needs square image inputs [C, H, H], got {list(input_shape)}")
    ctx = seeded_torch_global(seed, "init") if seed is not None else contextlib.nullcontext()
    with ctx:
        if name == "mlp":
            return MLP(tuple(input_shape), num_classes, **kwargs)
        return LeNet(input_shape[0], num_classes, image_size=input_shape[1], **kwargs)


__all__ = ["MLP", "MODELS", "LeNet", "build", "build_from_config", "model_config",
           "record_config"]
