"""Training objectives, by name: ``get("ce")``, ``get("mse")``; :func:`available` lists them.

Each objective documents its formula and the source of its defaults; see
:mod:`landscape.objectives.base` for the interface that non-standard procedures implement.
"""

from __future__ import annotations

import inspect
from typing import Any

from landscape._names import unknown_name
from landscape.errors import ConfigError
from landscape.objectives.base import Batch, LossObjective, Objective, StepContext, StepOutput
from landscape.objectives.basic import CrossEntropy, MeanSquaredError
from landscape.objectives.ce_variants import FocalLoss, LabelSmoothing
from landscape.objectives.gcl import GCL
from landscape.objectives.hsic import HSICBottleneck
from landscape.objectives.ldce import LDCEApprox
from landscape.objectives.long_tail import (
    LogitAdjustedLoss,
    balanced_accuracy,
    posthoc_logit_adjustment,
)
from landscape.objectives.margin import (
    CrammerSingerHinge,
    Perceptron,
    RescaledSquareLoss,
    WestonWatkinsHinge,
)
from landscape.objectives.noisy_labels import (
    IMAE,
    GeneralizedCrossEntropy,
    SymmetricCrossEntropy,
    TruncatedGCE,
)
from landscape.objectives.sam import ASAM, SAM
from landscape.objectives.sampled_softmax import SampledSoftmax

REGISTRY: dict[str, type[Objective]] = {
    "ce": CrossEntropy,
    "cross-entropy": CrossEntropy,
    "mse": MeanSquaredError,
    "mse_rescaled": RescaledSquareLoss,
    "hinge_ww": WestonWatkinsHinge,
    "hinge_cs": CrammerSingerHinge,
    "perceptron": Perceptron,
    "label_smoothing": LabelSmoothing,
    "focal": FocalLoss,
    "gce": GeneralizedCrossEntropy,
    "gce_truncated": TruncatedGCE,
    "sce": SymmetricCrossEntropy,
    "imae": IMAE,
    "ldce_approx": LDCEApprox,
    "logit_adjusted": LogitAdjustedLoss,
    "sam": SAM,
    "asam": ASAM,
    "hsic_bottleneck": HSICBottleneck,
    "hsic": HSICBottleneck,
    "gcl": GCL,
    "sampled_softmax": SampledSoftmax,
}


def register(name: str, cls: type[Objective]) -> None:
    """Make ``cls`` available under ``name`` (used by the objective modules themselves)."""
    REGISTRY[name] = cls


def get(name: str, **params: Any) -> Objective:
    """The objective called ``name`` with the given parameters (papers' parameter names).

    Example:
        >>> get("ce", temperature=2.0).params()
        {'temperature': 2.0}
    """
    try:
        cls = REGISTRY[name]
    except KeyError:
        raise unknown_name("objective", name, available()) from None
    try:
        return cls(**params)
    except TypeError as err:
        raise ConfigError(f"objective {name!r}: {err}; parameters: {parameters(name)}") from err


def available() -> list[str]:
    """Names of the registered objectives."""
    return sorted(REGISTRY)


def parameters(name: str) -> dict[str, Any]:
    """Parameter names of objective ``name`` with their defaults."""
    sig = inspect.signature(REGISTRY[name].__init__)
    return {p.name: (None if p.default is inspect.Parameter.empty else p.default)
            for p in list(sig.parameters.values())[1:]
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


__all__ = ["ASAM", "GCL", "IMAE", "REGISTRY", "SAM", "Batch", "CrammerSingerHinge", "CrossEntropy",
           "FocalLoss", "GeneralizedCrossEntropy", "HSICBottleneck", "LDCEApprox", "LabelSmoothing",
           "LogitAdjustedLoss", "LossObjective", "MeanSquaredError", "Objective", "Perceptron",
           "RescaledSquareLoss", "SampledSoftmax", "StepContext", "StepOutput",
           "SymmetricCrossEntropy", "TruncatedGCE", "WestonWatkinsHinge", "available",
           "balanced_accuracy", "get", "parameters", "posthoc_logit_adjustment", "register"]
