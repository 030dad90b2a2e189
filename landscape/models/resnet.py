"""Residual networks for 32×32 images: He et al.'s CIFAR ResNets and the CIFAR ResNet-18.

Two families, both from He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition"
(CVPR 2016):

- :class:`CifarResNet` (``resnet20``, ``resnet56``): the paper's CIFAR-10 networks (Sec. 4.2):
  a 3×3 convolution with 16 filters, three stages of ``n`` basic blocks with 16, 32, 64 filters
  (depth ``6n + 2``), global average pooling and a linear classifier, with **option A** identity
  shortcuts (subsampled and zero-padded, no parameters) where the shape changes.
- :class:`ResNet18` (``resnet18``): the ImageNet ResNet-18 (Table 1) with its 7×7 stride-2 stem
  and max-pooling replaced by one 3×3 stride-1 convolution, the usual variant for 32×32 inputs;
  projection shortcuts (1×1 convolution + BatchNorm, option B) where the shape changes.

Parameter names: ``conv1.weight``, ``bn1.*``, ``layer1.0.conv1.weight``, ..., ``fc.weight``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from landscape.errors import ConfigError
from landscape.models._config import record_config


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


def _kaiming(model: nn.Module) -> None:
    """He initialisation of convolutions (fan-out, as torchvision's ResNets), BN at (1, 0)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")


class PadShortcut(nn.Module):
    """Option-A shortcut: subsample by ``stride`` and zero-pad the channels to ``cout``."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.stride, self.extra = stride, cout - cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, ::self.stride, ::self.stride]
        lo = self.extra // 2
        return F.pad(x, (0, 0, 0, 0, lo, self.extra - lo))


class BasicBlock(nn.Module):
    """``relu(bn(conv(relu(bn(conv(x))))) + shortcut(x))`` with two 3×3 convolutions.

    Args:
        cin, cout: input and output channels.
        stride: stride of the first convolution (2 halves the resolution).
        shortcut: ``"A"`` (subsample + zero padding) or ``"B"`` (1×1 convolution + BN) where the
            shape changes; the identity otherwise.
    """

    def __init__(self, cin: int, cout: int, stride: int = 1, shortcut: str = "A") -> None:
        super().__init__()
        self.conv1 = _conv3x3(cin, cout, stride)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = _conv3x3(cout, cout)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = PadShortcut(cin, cout, stride) if shortcut == "A" else nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(h)) + self.shortcut(x))


def _stage(cin: int, cout: int, blocks: int, stride: int, shortcut: str) -> nn.Sequential:
    layers = [BasicBlock(cin, cout, stride, shortcut)]
    layers += [BasicBlock(cout, cout, 1, shortcut) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class CifarResNet(nn.Module):
    """He et al. (2016)'s CIFAR ResNet of depth ``6n + 2`` with option-A shortcuts.

    Published parameter counts for 10 classes (He et al. 2016, Table 6): ResNet-20 **0.27M**,
    ResNet-56 **0.85M**; this implementation has exactly 269,722 and 853,018.

    Args:
        in_channels: input channels (3 for CIFAR-10).
        num_classes: number of outputs.
        depth: ``6n + 2`` (20, 32, 44, 56, 110, ...).
        width: filters of the first stage (16 in the paper; the stages have 1, 2, 4 times it).

    Example:
        >>> CifarResNet(3, 10, depth=20)(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """

    def __init__(self, in_channels: int, num_classes: int, depth: int = 20,
                 width: int = 16) -> None:
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ConfigError(f"a CIFAR ResNet has depth 6n + 2 >= 8, got {depth}")
        if width < 4 or width % 4:
            raise ConfigError(f"width must be a positive multiple of 4, got {width}")
        n = (depth - 2) // 6
        self.conv1 = _conv3x3(in_channels, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.layer1 = _stage(width, width, n, 1, "A")
        self.layer2 = _stage(width, 2 * width, n, 2, "A")
        self.layer3 = _stage(2 * width, 4 * width, n, 2, "A")
        self.fc = nn.Linear(4 * width, num_classes)
        _kaiming(self)
        record_config(self, in_channels=in_channels, num_classes=num_classes, depth=depth,
                      width=width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.layer3(self.layer2(self.layer1(h)))
        return self.fc(h.mean(dim=(2, 3)))


class ResNet18(nn.Module):
    """ResNet-18 for 32×32 inputs: a 3×3 stride-1 stem, stages of 2 blocks with 64-512 filters.

    He et al. (2016, Table 1) give ResNet-18 **11.7M** parameters (11,689,512 for ImageNet: a
    7×7 stem of 9,408 weights and a 1000-way head of 513,000). With the 3×3 stem (1,728) and a
    10-way head (5,130) the same body has exactly 11,173,962 = **11.17M** parameters.

    Args:
        in_channels: input channels.
        num_classes: number of outputs.
        width: filters of the first stage (64; the stages have 1, 2, 4, 8 times it).

    Example:
        >>> ResNet18(3, 10, width=8)(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """

    def __init__(self, in_channels: int, num_classes: int, width: int = 64) -> None:
        super().__init__()
        if width < 1:
            raise ConfigError(f"width must be positive, got {width}")
        w = width
        self.conv1 = _conv3x3(in_channels, w)
        self.bn1 = nn.BatchNorm2d(w)
        self.layer1 = _stage(w, w, 2, 1, "B")
        self.layer2 = _stage(w, 2 * w, 2, 2, "B")
        self.layer3 = _stage(2 * w, 4 * w, 2, 2, "B")
        self.layer4 = _stage(4 * w, 8 * w, 2, 2, "B")
        self.fc = nn.Linear(8 * w, num_classes)
        _kaiming(self)
        record_config(self, in_channels=in_channels, num_classes=num_classes, width=width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.layer4(self.layer3(self.layer2(self.layer1(h))))
        return self.fc(h.mean(dim=(2, 3)))
