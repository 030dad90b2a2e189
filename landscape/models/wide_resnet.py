"""Wide residual networks (Zagoruyko & Komodakis, "Wide Residual Networks", BMVC 2016).

WRN-``d``-``k``: a 3×3 convolution with 16 filters, three stages of ``n = (d - 4) / 6``
pre-activation basic blocks (``BN → ReLU → conv3×3 → (dropout) → BN → ReLU → conv3×3``) with
``16k``, ``32k``, ``64k`` filters, a 1×1 projection shortcut where the width changes, then
``BN → ReLU → global average pooling → linear``. Convolutions have no bias.

Parameter names: ``conv1.weight``, ``block1.0.bn1.*``, ``block1.0.conv1.weight``, ...,
``bn.*``, ``fc.*``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from landscape.errors import ConfigError
from landscape.models._config import record_config


class WideBlock(nn.Module):
    """A pre-activation basic block of a wide ResNet (dropout between the convolutions)."""

    def __init__(self, cin: int, cout: int, stride: int, dropout: float) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.shortcut: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Conv2d(cin, cout, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = F.relu(self.bn1(x))
        h = self.conv1(a)
        h = self.conv2(self.drop(F.relu(self.bn2(h))))
        return h + (x if self.shortcut is None else self.shortcut(a))


class WideResNet(nn.Module):
    """WRN-``depth``-``widen`` of Zagoruyko & Komodakis (2016) for 32×32 images.

    Published parameter counts for CIFAR-10 (Zagoruyko & Komodakis 2016, Tables 4 and 5):
    WRN-16-4 **2.7M** and WRN-28-10 **36.5M**; this implementation has exactly 2,748,890 and
    36,479,194.

    Args:
        in_channels: input channels.
        num_classes: number of outputs.
        depth: ``6n + 4`` (16, 22, 28, 40, ...).
        widen: the widening factor ``k``.
        dropout: dropout between the convolutions of a block (0.3 in the paper's best runs).

    Example:
        >>> WideResNet(3, 10, depth=10, widen=1)(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """

    def __init__(self, in_channels: int, num_classes: int, depth: int = 16, widen: int = 4,
                 dropout: float = 0.0) -> None:
        super().__init__()
        if depth < 10 or (depth - 4) % 6:
            raise ConfigError(f"a wide ResNet has depth 6n + 4 >= 10, got {depth}")
        if widen < 1 or not 0.0 <= dropout < 1.0:
            raise ConfigError(f"need widen >= 1 and dropout in [0, 1), got {widen}, {dropout}")
        n = (depth - 4) // 6
        widths = [16, 16 * widen, 32 * widen, 64 * widen]
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        for i in range(3):
            blocks = [WideBlock(widths[i] if j == 0 else widths[i + 1], widths[i + 1],
                                (1 if i == 0 else 2) if j == 0 else 1, dropout)
                      for j in range(n)]
            self.add_module(f"block{i + 1}", nn.Sequential(*blocks))
        self.bn = nn.BatchNorm2d(widths[3])
        self.fc = nn.Linear(widths[3], num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        record_config(self, in_channels=in_channels, num_classes=num_classes, depth=depth,
                      widen=widen, dropout=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(x)
        h = self.block3(self.block2(self.block1(h)))
        return self.fc(F.relu(self.bn(h)).mean(dim=(2, 3)))
