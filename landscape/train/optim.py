"""Optimisers and per-epoch learning-rate schedules built from a :class:`TrainConfig`."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from landscape.train.config import TrainConfig


def make_optimizer(params: Iterable[torch.nn.Parameter],
                   config: TrainConfig) -> torch.optim.Optimizer:
    """The optimiser named by ``config.optimizer`` over ``params``."""
    params = list(params)
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                               nesterov=config.nesterov and config.momentum > 0,
                               weight_decay=config.weight_decay)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)


def lr_factor(epoch: int, config: TrainConfig) -> float:
    """Learning-rate multiplier during ``epoch`` (0-based): a pure function of the epoch, so a
    resumed run follows the same schedule.

    Cosine: ``f + (1 − f)·(1 + cos(π·epoch/E))/2`` with ``f = lr_min/lr`` and ``E`` epochs, so the
    first epoch runs at ``lr`` and the last above ``lr_min`` (the floor is approached after the
    last epoch, not spent on it).

    Example:
        >>> [round(lr_factor(e, TrainConfig(epochs=2)), 3) for e in range(2)]
        [1.0, 0.5]
    """
    if config.schedule == "constant" or config.epochs < 1:
        return 1.0
    if config.schedule == "step":
        return config.gamma ** (epoch // config.step_size)
    floor = config.lr_min / config.lr
    cos = 0.5 * (1.0 + math.cos(math.pi * epoch / config.epochs))
    return floor + (1.0 - floor) * cos


def set_lr(optimizer: torch.optim.Optimizer, epoch: int, config: TrainConfig) -> float:
    """Set every parameter group's learning rate for ``epoch``; returns it."""
    lr = config.lr * lr_factor(epoch, config)
    for group in optimizer.param_groups:
        group["lr"] = lr
    return lr
