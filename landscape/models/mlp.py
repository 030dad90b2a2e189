"""Fully connected networks (multi-layer perceptrons)."""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

from landscape.errors import ConfigError
from landscape.models._config import record_config

Activation = Literal["relu", "tanh", "gelu", "sigmoid", "elu", "softplus"]

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "sigmoid": nn.Sigmoid,
    "elu": nn.ELU, "softplus": nn.Softplus,
}


def make_activation(name: str) -> nn.Module:
    """The activation module called ``name`` (one of :data:`Activation`)."""
    try:
        return _ACTIVATIONS[name]()
    except KeyError:
        raise ConfigError(f"unknown activation {name!r}; choose one of "
                          f"{sorted(_ACTIVATIONS)}") from None


class MLP(nn.Module):
    """A multi-layer perceptron: ``[Linear → (BatchNorm) → act → (Dropout)] × depth → Linear``.

    Parameter names are stable and readable: ``hidden.0.linear.weight``, ``hidden.0.bn.weight``,
    ..., ``out.weight``, ``out.bias``; the input is flattened, so images work as they come.

    Args:
        in_features: size of the flattened input (or its shape, e.g. ``(1, 8, 8)``).
        num_classes: number of outputs.
        depth: number of hidden layers (0 gives a linear classifier).
        width: units per hidden layer.
        activation: nonlinearity, one of :data:`Activation`.
        batchnorm: insert ``BatchNorm1d`` after each hidden linear layer.
        dropout: dropout probability after each activation (0 disables).
        bias: whether linear layers have biases.

    Example:
        >>> model = MLP(64, 10, depth=2, width=32)
        >>> model(torch.zeros(5, 1, 8, 8)).shape
        torch.Size([5, 10])
    """

    def __init__(self, in_features: int | tuple[int, ...] | list[int], num_classes: int,
                 depth: int = 2, width: int = 128, activation: Activation = "relu",
                 batchnorm: bool = False, dropout: float = 0.0, bias: bool = True) -> None:
        super().__init__()
        n_in = math.prod(in_features) if isinstance(in_features, (tuple, list)) \
            else int(in_features)
        if depth < 0 or width < 1 or n_in < 1 or num_classes < 1:
            raise ConfigError(f"MLP needs depth >= 0, width >= 1, in_features >= 1, classes >= 1; "
                              f"got depth={depth}, width={width}, in={n_in}, classes={num_classes}")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"dropout must lie in [0, 1), got {dropout}")
        make_activation(activation)  # validate early
        self.hidden = nn.ModuleList()
        prev = n_in
        for _ in range(depth):
            block = nn.Module()
            block.linear = nn.Linear(prev, width, bias=bias)
            if batchnorm:
                block.bn = nn.BatchNorm1d(width)
            block.act = make_activation(activation)
            if dropout > 0:
                block.drop = nn.Dropout(dropout)
            self.hidden.append(block)
            prev = width
        self.out = nn.Linear(prev, num_classes, bias=bias)
        record_config(self, in_features=n_in, num_classes=num_classes, depth=depth, width=width,
                      activation=activation, batchnorm=batchnorm, dropout=dropout, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.flatten(1)
        for block in self.hidden:
            for layer in block.children():
                h = layer(h)
        return self.out(h)
