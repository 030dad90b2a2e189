"""VGG networks with BatchNorm and a CIFAR head (Simonyan & Zisserman, ICLR 2015).

The convolutional body of configurations A (VGG-11) and D (VGG-16) of Simonyan & Zisserman,
each 3×3 convolution followed by BatchNorm and ReLU (Ioffe & Szegedy 2015), five 2×2
max-poolings; for 32×32 inputs the body ends at ``512 × 1 × 1`` and the classifier is one linear
layer ``512 → C`` (the usual CIFAR head; the ImageNet model has three fully connected layers).

Parameter names: ``features.0.weight`` (convolution), ``features.1.*`` (BatchNorm), ...,
``classifier.weight``, ``classifier.bias``.
"""

from __future__ import annotations

import torch
from torch import nn

from landscape.errors import ConfigError
from landscape.models._config import record_config

#: Channels of each 3×3 convolution, ``"M"`` a 2×2 max-pooling (Simonyan & Zisserman, Table 1).
CONFIGS: dict[int, list[int | str]] = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
}


class VGG(nn.Module):
    """VGG-11 or VGG-16 with BatchNorm and a linear CIFAR head.

    Published counts (Simonyan & Zisserman 2015, Table 2, ImageNet, three FC layers of 4096,
    4096, 1000 units = 123,642,856 weights): VGG-11 **133M**, VGG-16 **138M**. Their
    convolutional bodies (9,220,480 and 14,714,688 weights) are the ones built here; with
    BatchNorm and the 10-way head this gives exactly 9,231,114 (``vgg11_bn``) and 14,728,266
    (``vgg16_bn``; Li et al. 2017, "Pruning Filters for Efficient ConvNets", Table 1:
    1.5×10⁷ for VGG-16 on CIFAR-10).

    Args:
        in_channels: input channels.
        num_classes: number of outputs.
        depth: 11 or 16.
        image_size: side of the square input, at least 32 (five halvings); larger inputs are
            averaged to ``1 × 1`` before the head.

    Example:
        >>> VGG(3, 10, depth=11)(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """

    def __init__(self, in_channels: int, num_classes: int, depth: int = 16,
                 image_size: int = 32) -> None:
        super().__init__()
        if depth not in CONFIGS:
            raise ConfigError(f"VGG depth must be one of {sorted(CONFIGS)}, got {depth}")
        if image_size < 32:
            raise ConfigError(f"VGG pools five times and needs images of side >= 32, got "
                              f"{image_size}")
        layers: list[nn.Module] = []
        cin = in_channels
        for item in CONFIGS[depth]:
            if item == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                cout = int(item)
                layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout),
                           nn.ReLU(inplace=False)]
                cin = cout
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(512, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
        record_config(self, in_channels=in_channels, num_classes=num_classes, depth=depth,
                      image_size=image_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).mean(dim=(2, 3)))
