"""A small LeNet-like convolutional network."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from landscape.errors import ConfigError
from landscape.models._config import record_config
from landscape.models.mlp import Activation, make_activation


class MaxPool2x2(nn.Module):
    """2×2 max-pooling with stride 2 (odd trailing rows/columns dropped, as ``nn.MaxPool2d(2)``).

    Without autograd it takes the maximum of four strided views, which is exact and on one CPU
    thread 10-25x faster than ``F.max_pool2d`` (whose NCHW kernel dominated LeNet's
    evaluation passes: 56 % of a forward pass at batch 512, profiled). When a gradient is needed
    it calls ``F.max_pool2d``: forward and backward together are 1.4-2x faster there than
    through the strided maxima. Both give the same values, so the choice never changes a result.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled():  # not ``x.requires_grad``: inside vmap it reads False
            return F.max_pool2d(x, 2)
        h, w = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2
        x = x[..., :h, :w]
        rows = torch.maximum(x[..., 0:h:2, :], x[..., 1:h:2, :])
        return torch.maximum(rows[..., 0::2], rows[..., 1::2])


class LeNet(nn.Module):
    """LeNet-style CNN: ``[conv5×5 → (BN) → act → maxpool2] × 2 → fc → act → fc → out``.

    Convolutions use ``padding=2`` so that 8×8 inputs (scikit-learn digits) work as well as 28×28
    (Fashion-MNIST) and 32×32 (CIFAR-10); layer sizes follow LeCun et al. (1998): 6 and 16
    channels, 120 and 84 hidden units (``channels`` and ``hidden`` rescale them).
    Parameter names: ``conv1.weight``, ``conv2.weight``, ``fc1.weight``, ``fc2.weight``,
    ``out.weight`` (and biases; ``bn1``/``bn2`` with BatchNorm).

    Args:
        in_channels: input channels (1 for grey images, 3 for CIFAR-10).
        num_classes: number of outputs.
        image_size: side of the (square) input image.
        channels: channels of the two convolutions.
        hidden: units of the two fully connected hidden layers.
        activation: nonlinearity.
        batchnorm: ``BatchNorm2d`` after each convolution.
        dropout: dropout probability before the output layer.

    Example:
        >>> LeNet(1, 10, image_size=8)(torch.zeros(2, 1, 8, 8)).shape
        torch.Size([2, 10])
    """

    def __init__(self, in_channels: int, num_classes: int, image_size: int = 28,
                 channels: tuple[int, int] | list[int] = (6, 16),
                 hidden: tuple[int, int] | list[int] = (120, 84),
                 activation: Activation = "relu", batchnorm: bool = False,
                 dropout: float = 0.0) -> None:
        super().__init__()
        if image_size < 4:
            raise ConfigError(f"LeNet needs images of side >= 4, got {image_size}")
        c1, c2 = (int(c) for c in channels)
        h1, h2 = (int(h) for h in hidden)
        self.conv1 = nn.Conv2d(in_channels, c1, 5, padding=2)
        self.bn1 = nn.BatchNorm2d(c1) if batchnorm else nn.Identity()
        self.conv2 = nn.Conv2d(c1, c2, 5, padding=2)
        self.bn2 = nn.BatchNorm2d(c2) if batchnorm else nn.Identity()
        self.act = make_activation(activation)
        self.pool = MaxPool2x2()
        side = image_size // 2 // 2
        self.fc1 = nn.Linear(c2 * side * side, h1)
        self.fc2 = nn.Linear(h1, h2)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.out = nn.Linear(h2, num_classes)
        record_config(self, in_channels=in_channels, num_classes=num_classes,
                      image_size=image_size, channels=[c1, c2], hidden=[h1, h2],
                      activation=activation, batchnorm=batchnorm, dropout=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.pool(self.act(self.bn1(self.conv1(x))))
        h = self.pool(self.act(self.bn2(self.conv2(h))))
        h = self.act(self.fc1(h.flatten(1)))
        h = self.drop(self.act(self.fc2(h)))
        return self.out(h)
