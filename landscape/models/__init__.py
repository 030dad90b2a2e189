"""Models: an MLP, a LeNet-like CNN and the field's image models; any ``nn.Module`` works too.

:data:`MODELS` is the registry of the models a study file can rebuild (name → class);
:func:`build` makes one by name for an input shape and a number of classes:

======================  ======================================================  ==============
name                    model                                                   params (C=10)
======================  ======================================================  ==============
``mlp``, ``lenet``      :class:`MLP`, :class:`LeNet`                            any
``resnet20``            He et al. (2016) CIFAR ResNet-20, option-A shortcuts     269,722
``resnet56``            He et al. (2016) CIFAR ResNet-56, option-A shortcuts     853,018
``resnet18``            ResNet-18 with a 3×3 stem (CIFAR variant)               11,173,962
``wrn16_4``             Zagoruyko & Komodakis (2016) WRN-16-4                   2,748,890
``wrn28_10``            Zagoruyko & Komodakis (2016) WRN-28-10                  36,479,194
``vgg11_bn``            VGG-11 with BatchNorm, linear CIFAR head                9,231,114
``vgg16_bn``            VGG-16 with BatchNorm, linear CIFAR head                14,728,266
``vit_tiny``            DeiT-Ti-sized ViT, 4×4 patches of a 32×32 image         5,362,762
``session_gnn``         SR-GNN/PIA-GNN session recommender over ``V`` items     (V+1)H+19H²+20H
======================  ======================================================  ==============

``session_gnn`` takes integer click sequences ``[N, L]`` (input shape ``(L,)``) and scores every
item: its number of classes is the number of items (:mod:`landscape.models.session_gnn`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from torch import nn

from landscape._names import unknown_name
from landscape._seeding import seeded_torch_global
from landscape.errors import ConfigError
from landscape.models._config import (
    build_from_config,
    model_config,
    record_config,
    register_model,
    registry_name,
)
from landscape.models.cnn import LeNet
from landscape.models.mlp import MLP
from landscape.models.resnet import CifarResNet, ResNet18
from landscape.models.session_gnn import SessionGNN
from landscape.models.vgg import VGG
from landscape.models.vit import ViT
from landscape.models.wide_resnet import WideResNet

MODELS: dict[str, type[nn.Module]] = {
    "mlp": MLP, "lenet": LeNet, "resnet20": CifarResNet, "resnet56": CifarResNet,
    "resnet18": ResNet18, "wrn16_4": WideResNet, "wrn28_10": WideResNet, "vgg11_bn": VGG,
    "vgg16_bn": VGG, "vit_tiny": ViT, "session_gnn": SessionGNN,
}

#: Constructor arguments each name fixes (an option that sets one of them is refused).
_FIXED: dict[str, dict[str, Any]] = {
    "resnet20": {"depth": 20}, "resnet56": {"depth": 56}, "wrn16_4": {"depth": 16, "widen": 4},
    "wrn28_10": {"depth": 28, "widen": 10}, "vgg11_bn": {"depth": 11}, "vgg16_bn": {"depth": 16},
}


def _image(name: str, input_shape: tuple[int, ...]) -> tuple[int, int]:
    if len(input_shape) != 3 or input_shape[1] != input_shape[2]:
        raise ConfigError(f"{name} needs square image inputs [C, H, H], got {list(input_shape)}")
    return int(input_shape[0]), int(input_shape[1])


def _make(name: str, shape: tuple[int, ...], num_classes: int, options: dict[str, Any]
          ) -> nn.Module:
    if name == "mlp":
        return MLP(tuple(shape), num_classes, **options)
    if name == "session_gnn":
        if len(shape) != 1:
            raise ConfigError(f"session_gnn needs click sequences [L], got {list(shape)}")
        return SessionGNN(num_classes, max_length=int(shape[0]), **options)
    channels, side = _image(name, shape)
    fixed = _FIXED.get(name, {})
    clash = sorted(set(fixed) & set(options))
    if clash:
        raise ConfigError(f"{name} fixes {clash}; build another name or the class itself")
    cls = MODELS[name]
    sized: dict[str, Any] = {"image_size": side} if cls in (LeNet, VGG, ViT) else {}
    factory: Callable[..., nn.Module] = cls
    return factory(channels, num_classes, **sized, **fixed, **options)


def build(name: str, input_shape: tuple[int, ...], num_classes: int, *, seed: int | None = None,
          **options: Any) -> nn.Module:
    """Build the model called ``name`` for inputs of ``input_shape`` (``(C, H, W)`` or ``(D,)``).

    With ``seed``, the initial weights are drawn from the stream ``derive_seed(seed, "init")``
    (each model's initialisers), so the same seed gives the same initial model; without it they
    come from torch's global generator as usual. ``options`` go to the model's class (e.g.
    ``width=`` of an MLP, ``dim=``/``depth=`` of ``vit_tiny``, ``dropout=`` of a wide ResNet).

    Raises:
        ConfigError: for an unknown name, an input shape the model cannot take, or an option
            that the name fixes (``depth`` of ``resnet20``) or the class does not have.

    Example:
        >>> build("mlp", (1, 8, 8), 10, width=16).out.weight.shape
        torch.Size([10, 16])
        >>> sum(p.numel() for p in build("resnet20", (3, 32, 32), 10).parameters())
        269722
    """
    if name not in MODELS:
        raise unknown_name("model", name, MODELS)
    ctx = seeded_torch_global(seed, "init") if seed is not None else contextlib.nullcontext()
    with ctx:
        try:
            return _make(name, tuple(input_shape), num_classes, dict(options))
        except TypeError as err:  # an option the class does not take
            raise ConfigError(f"{name}: {err}") from None


__all__ = ["MLP", "MODELS", "VGG", "CifarResNet", "LeNet", "ResNet18", "SessionGNN", "ViT",
           "WideResNet",
           "build", "build_from_config", "model_config", "record_config", "register_model",
           "registry_name"]
