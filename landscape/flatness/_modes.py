"""The evaluation regime of perturbed copies (private): whether ``torch.vmap`` pays on this
model and device, whether the model's mode makes the loss a function of the weights, and whether
outputs and targets form a classification problem (so a training error exists)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from landscape.errors import NonDeterministicError
from landscape.hessian._checks import stochastic_modules


def vmap_is_slow(model: nn.Module, device: torch.device) -> bool:
    """Whether copies of ``model`` are faster evaluated one by one than under ``vmap``.

    ``vmap`` turns a convolution over ``K`` weight copies into one grouped convolution, which the
    CPU kernels run 3-4x slower than ``K`` plain ones (LeNet, 1000 Fashion-MNIST images, one
    thread: 16 copies forward 3.8 s vs 1.1 s, 4 copies forward and backward 2.8 s vs 1.0 s).
    On a GPU ``vmap`` is kept: on an H200 (LeNet, 1000 images) it is as fast as the loop for
    the local energy and 1.5x faster for SGLD (``benchmarks/measure.py``).
    """
    return device.type == "cpu" and any(isinstance(m, nn.modules.conv._ConvNd)
                                        for m in model.modules())


def check_mode(model: nn.Module, bn: str) -> None:
    """Refuse train-mode dropout (always) and train-mode BatchNorm (unless recalibrating)."""
    findings = stochastic_modules(model)
    if bn == "recalibrate":
        findings = [f for f in findings if not f.startswith("BatchNorm")]
    if findings:
        raise NonDeterministicError(
            "the perturbed losses would not be functions of the weights: " + "; ".join(findings)
            + ". Call model.eval() first (BatchNorm then uses its stored running statistics, "
            "dropout is off), or pass bn='recalibrate' to re-estimate BatchNorm statistics for "
            "every perturbed copy")


def is_classification(out: torch.Tensor, y: Any) -> bool:
    """Whether the error rate is defined: ``[n, C]`` logits and integer labels ``[n]``."""
    return (isinstance(y, torch.Tensor) and not y.is_floating_point() and not y.is_complex()
            and out.ndim == 2 and y.ndim == 1 and out.shape[0] == y.shape[0])
