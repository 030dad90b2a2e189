"""Every per-sample loss of issue 6: the registry with the papers' parameter names, finite
gradients at extreme logits, ConfigError on bad parameters, and a short training run each."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from landscape.errors import ConfigError
from landscape.models import build
from landscape.objectives import REGISTRY, Batch, LossObjective, get, parameters
from landscape.train import TrainConfig, train
from tests.helpers import blobs

PARAMETERS = {
    "mse_rescaled": {"k": 1.0, "M": 1.0},
    "hinge_ww": {"margin": 1.0},
    "hinge_cs": {"margin": 1.0},
    "perceptron": {},
    "label_smoothing": {"epsilon": 0.1},
    "focal": {"gamma": 2.0, "alpha": None},
    "gce": {"q": 0.7},
    "gce_truncated": {"q": 0.7, "k": 0.5, "start_prune": 40, "prune_every": 10},
    "sce": {"alpha": 0.1, "beta": 1.0, "A": -4.0},
    "imae": {"T": 8.0, "direction": "ce"},
    "logit_adjusted": {"class_counts": None, "tau": 1.0},  # class_counts is required
}
COUNTS = {"class_counts": [40, 40, 40]}


def _make(name: str, **params: Any) -> LossObjective:
    extra = COUNTS if name == "logit_adjusted" else {}
    objective = get(name, **extra, **params)
    assert isinstance(objective, LossObjective)
    return objective


def test_registry_names_and_the_papers_parameter_names() -> None:
    for name, expected in PARAMETERS.items():
        assert name in REGISTRY
        assert parameters(name) == expected, name
        assert REGISTRY[name].name == name
    described = {
        "mse_rescaled": get("mse_rescaled", k=15, M=30).describe(),
        "focal": get("focal", gamma=1, alpha=[1, 2, 3]).describe(),
        "gce": get("gce", q=0.5).describe(),
        "sce": get("sce", alpha=0.01, beta=1, A=-6).describe(),
        "imae": get("imae", T=4).describe(),
        "label_smoothing": get("label_smoothing", epsilon=0.2).describe(),
        "logit_adjusted": get("logit_adjusted", class_counts=(5, 1), tau=0.5).describe(),
    }
    assert described == {
        "mse_rescaled": {"name": "mse_rescaled", "params": {"k": 15.0, "M": 30.0}},
        "focal": {"name": "focal", "params": {"gamma": 1.0, "alpha": [1.0, 2.0, 3.0]}},
        "gce": {"name": "gce", "params": {"q": 0.5}},
        "sce": {"name": "sce", "params": {"alpha": 0.01, "beta": 1.0, "A": -6.0}},
        "imae": {"name": "imae", "params": {"T": 4.0, "direction": "ce"}},
        "label_smoothing": {"name": "label_smoothing", "params": {"epsilon": 0.2}},
        "logit_adjusted": {"name": "logit_adjusted",
                           "params": {"tau": 0.5, "class_counts": [5, 1]}},
    }


VARIANTS = [(name, {}) for name in PARAMETERS] + [
    ("focal", {"gamma": 0.5}), ("focal", {"gamma": 0.0}), ("gce", {"q": 1e-6}),
    ("gce", {"q": 1.0}), ("imae", {"T": 0.0}), ("imae", {"T": 100.0}),
    ("imae", {"T": 8.0, "direction": "ce"}), ("imae", {"T": 100.0, "direction": "ce"}),
    ("label_smoothing", {"epsilon": 0.0}), ("sce", {"A": math.log(1e-4)}),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gradients_are_finite_at_extreme_logits(dtype: torch.dtype) -> None:
    # a sample far on the wrong side, one far on the right side, one at a tie
    logits = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0], [0.0, 0.0, 0.0]], dtype=dtype,
                          requires_grad=True)
    y = torch.tensor([1, 1, 2])
    for name, params in VARIANTS:
        objective = _make(name, **params)
        batch = Batch(logits.detach(), y, y, torch.arange(3))
        for loss in (objective(logits, y), objective.loss(logits, batch, None)):
            (grad,) = torch.autograd.grad(loss, logits)
            assert torch.isfinite(loss), (name, params, loss)
            assert torch.isfinite(grad).all(), (name, params, grad)
        # the loss does depend on the logits (truncated GCE's per_sample is flat on all three:
        # two samples are beyond the threshold k and one has p_y = 1)
        assert grad.abs().sum() > 0, (name, params)


@pytest.mark.parametrize("name, params, match", [
    ("mse_rescaled", {"k": 0}, "k must be positive"),
    ("mse_rescaled", {"M": -1}, "M must be positive"),
    ("mse_rescaled", {"k": math.nan}, "k must be finite"),
    ("hinge_ww", {"margin": -1}, "margin"),
    ("hinge_cs", {"margin": "wide"}, "margin must be a number"),
    ("label_smoothing", {"epsilon": 1.0}, "epsilon"),
    ("label_smoothing", {"epsilon": -0.1}, "epsilon"),
    ("focal", {"gamma": -1}, "gamma"),
    ("focal", {"alpha": 0}, "alpha must be positive"),
    ("focal", {"alpha": [1.0, -1.0]}, "alpha must be positive"),
    ("focal", {"alpha": "x"}, "alpha"),
    ("gce", {"q": 0}, r"q must lie in \(0, 1\]"),
    ("gce", {"q": 1.5}, r"q must lie in \(0, 1\]"),
    ("gce", {"gamma": 2}, "q"),  # an unknown name lists the right ones
    ("gce_truncated", {"k": 1.0}, r"k must lie in \(0, 1\)"),
    ("gce_truncated", {"k": 0.0}, r"k must lie in \(0, 1\)"),
    ("gce_truncated", {"start_prune": 0}, "start_prune"),
    ("gce_truncated", {"prune_every": 1.5}, "prune_every"),
    ("sce", {"alpha": -1}, "alpha and beta"),
    ("sce", {"alpha": 0, "beta": 0}, "alpha and beta"),
    ("sce", {"A": 0}, "A stands for log 0"),
    ("imae", {"T": -1}, "T must lie"),
    ("imae", {"T": 1000}, "T must lie"),
    ("logit_adjusted", {"class_counts": [3, 0]}, "positive"),
    ("logit_adjusted", {"class_counts": []}, "one entry per class"),
    ("logit_adjusted", {"class_counts": [1.5, 2]}, "whole numbers"),
    ("logit_adjusted", {"class_counts": 7}, "sequence"),
    ("logit_adjusted", {"class_counts": [3, 1], "tau": -1}, "tau"),
])
def test_bad_parameters_raise_config_error(name: str, params: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        get(name, **params)


def test_bad_shapes_raise_config_error() -> None:
    for name in PARAMETERS:
        objective = _make(name)
        with pytest.raises(ConfigError, match=r"logits \[N"):
            objective(torch.zeros(3), torch.zeros(3, dtype=torch.long))
        with pytest.raises(ConfigError):
            objective(torch.zeros(2, 3), torch.zeros(3, dtype=torch.long))


@pytest.mark.parametrize("name", list(PARAMETERS))
def test_each_loss_trains_a_tiny_mlp(name: str) -> None:
    train_data, test_data = blobs(120, seed=0), blobs(60, seed=1, name="blobs/test")
    params = {"start_prune": 2, "prune_every": 1} if name == "gce_truncated" else {}
    objective = _make(name, **params)
    model = build("mlp", (4,), 3, seed=0, depth=1, width=8)
    before = [p.detach().clone() for p in model.parameters()]
    result = train(model, objective, train_data, test_data,
                   TrainConfig(epochs=2, batch_size=32, seed=0), progress=False)
    assert all(math.isfinite(v) for v in result.history["train_loss"])
    assert all(math.isfinite(v) for v in result.history["test_acc"])
    assert any(not torch.equal(a, b) for a, b in zip(before, result.model.parameters()))
