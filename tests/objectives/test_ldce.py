"""``ldce_approx``: label propagation on a graph computed by hand, the kNN graph, the detection
AUC, clean/noisy detection on noisy blobs, the weights, and its state across a resume."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import landscape.objectives.ldce as ldce_module
from landscape.data import symmetric_noise
from landscape.errors import ConfigError
from landscape.models import build
from landscape.objectives import REGISTRY, Batch, LDCEApprox, StepContext, get
from landscape.objectives.ldce import (
    detection_auc,
    knn_affinity,
    label_distribution,
    label_propagation,
)
from landscape.train import TrainConfig, train
from tests.helpers import blobs

# Path graph 0 — 1 — 2 with unit weights, labels [0, 0, 1], α = ½. Degrees [1, 2, 1], so
# S = D^{−1/2} W D^{−1/2} has S_01 = S_12 = 1/√2. With a = α/√2 = √2/4 (a² = 1/8):
# (I − αS)^{−1} = (4/3)·[[7/8, a, 1/8], [a, 1, a], [1/8, a, 7/8]] (det = 1 − 2a² = 3/4), so
# F* = ½·(I − αS)^{−1}·Y has rows (2/3)·[7/8 + a, 1/8], (2/3)·[1 + a, a], (2/3)·[1/8 + a, 7/8].
PATH = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
A = math.sqrt(2) / 4
F_STAR = (2 / 3) * np.array([[7 / 8 + A, 1 / 8], [1 + A, A], [1 / 8 + A, 7 / 8]])
# confidences of the observed labels [0, 0, 1]
CONFIDENCE = [(7 / 8 + A) / (1 + A), (1 + A) / (1 + 2 * A), (7 / 8) / (1 + A)]


def test_registered_under_its_own_name_and_documented_as_an_approximation() -> None:
    assert REGISTRY["ldce_approx"] is LDCEApprox
    assert "ldce" not in REGISTRY
    doc = (ldce_module.__doc__ or "") + (LDCEApprox.__doc__ or "")
    assert "not public" in doc and "approximation" in doc and "not the paper's" in doc
    assert get("ldce_approx").params() == {
        "warmup_epochs": 10, "k": 10, "alpha": 0.99, "iterations": None, "mode": "weight",
        "threshold": 0.5, "refresh_every": 5, "normalize": True}
    for bad in ({"mode": "ldce"}, {"alpha": 1.0}, {"k": 0}, {"threshold": 2.0},
                {"iterations": -1}, {"refresh_every": 0}):
        with pytest.raises(ConfigError):
            get("ldce_approx", **bad)


def test_label_propagation_closed_form_by_hand() -> None:
    f = label_propagation(PATH, [0, 0, 1], 2, alpha=0.5)
    np.testing.assert_allclose(f, F_STAR, rtol=0, atol=1e-12)
    d = label_distribution(f)
    np.testing.assert_allclose(d[[0, 1, 2], [0, 0, 1]], CONFIDENCE, rtol=0, atol=1e-12)
    np.testing.assert_allclose(d.sum(1), 1.0)


def test_label_propagation_iterations_by_hand() -> None:
    s = 1 / math.sqrt(2)
    # one step of F ← αSF + (1 − α)Y from F = Y: ½·S·Y + ½·Y
    one = label_propagation(PATH, [0, 0, 1], 2, alpha=0.5, iterations=1)
    np.testing.assert_allclose(one, 0.5 * np.array([[1 + s, 0], [1 + s, s], [s, 1]]),
                               rtol=0, atol=1e-15)
    assert np.array_equal(label_propagation(PATH, [0, 0, 1], 2, alpha=0.5, iterations=0),
                          np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))
    # the iteration converges to the closed form (contraction factor α = ½)
    many = label_propagation(PATH, [0, 0, 1], 2, alpha=0.5, iterations=80)
    np.testing.assert_allclose(many, F_STAR, rtol=0, atol=1e-12)


def test_knn_affinity_on_points_on_a_line() -> None:
    x = torch.tensor([[0.0], [1.0], [3.0], [7.0]], dtype=torch.float64)
    w, sigma = knn_affinity(x, 1, normalize=False)
    # nearest neighbours: 0→1 (1), 1→0 (1), 2→1 (2), 3→2 (4); σ = median(1, 1, 2, 4) = 1.5
    assert sigma == 1.5
    g = lambda d: math.exp(-d * d / (2 * 1.5 ** 2))  # noqa: E731
    expected = np.zeros((4, 4))
    expected[0, 1] = expected[1, 0] = 2 * g(1)  # both directions: A + Aᵀ
    expected[1, 2] = expected[2, 1] = g(2)
    expected[2, 3] = expected[3, 2] = g(4)
    np.testing.assert_allclose(w.toarray(), expected, rtol=0, atol=1e-15)


def test_detection_auc_by_hand() -> None:
    # clean scores {0.9, 0.8}, noisy {0.1, 0.8}: pairs 1 + 1 + 1 + ½ out of 4
    assert detection_auc([0.9, 0.8, 0.1, 0.8], [True, True, False, False]) == 0.875
    assert detection_auc([0.1, 0.9], [True, False]) == 0.0
    assert math.isnan(detection_auc([0.1, 0.9], [True, True]))


def _noisy_blobs() -> tuple:
    train_clean = blobs(240, dim=4, classes=3, seed=0)
    return symmetric_noise(train_clean, 0.4, seed=0), blobs(60, seed=1, name="blobs/test")


def test_detection_auc_on_noisy_blobs_after_warm_up() -> None:
    noisy, test = _noisy_blobs()
    assert 0.35 < noisy.noise_rate < 0.45
    objective = get("ldce_approx", warmup_epochs=3)
    aucs: dict[int, float] = {}
    train(build("mlp", (4,), 3, seed=0, depth=1, width=16), objective, noisy, test,
          TrainConfig(epochs=4, batch_size=32, seed=0), progress=False,
          callback=lambda e, _: aucs.__setitem__(e, objective.detection_auc(noisy)))
    assert [e for e, _ in objective.auc_history] == [3]  # one refresh, before 0-based epoch 3
    assert math.isnan(aucs[3 - 1])  # nothing estimated during warm-up
    auc = objective.auc_history[0][1]
    assert auc > 0.85, auc
    assert aucs[4] == auc  # the stored confidences give the logged AUC
    # confidences weight the clean samples more than the noisy ones
    w = objective.weights(noisy.index)
    clean = noisy.y == noisy.y_clean
    assert float(w[clean].mean()) > 2 * float(w[~clean].mean())


def test_weights_and_selection_by_index() -> None:
    objective = get("ldce_approx", mode="select", threshold=0.5)
    objective.confidence = torch.tensor([0.9, float("nan"), 0.2, 0.5], dtype=torch.float64)
    assert objective.weights(torch.tensor([0, 1, 2, 3, 7])).tolist() == [1, 1, 0, 1, 1]
    weighted = get("ldce_approx")
    weighted.confidence = objective.confidence
    assert weighted.weights(torch.tensor([3, 2, 1, 9])).tolist() == [0.5, 0.2, 1.0, 1.0]
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    batch = Batch(torch.zeros(2, 1), torch.tensor([0, 0]), torch.tensor([0, 0]),
                  torch.tensor([2, 3]))
    ctx = StepContext(nn.Linear(1, 2), torch.optim.SGD(nn.Linear(1, 2).parameters(), lr=0.1),
                      0, 0, 2)
    ce = torch.nn.functional.cross_entropy(logits, batch.y, reduction="none")
    torch.testing.assert_close(weighted.loss(logits, batch, ctx), (0.2 * ce[0] + 0.5 * ce[1]) / 2)
    torch.testing.assert_close(objective.loss(logits, batch, ctx), ce[1] / 2)


def test_state_round_trips() -> None:
    noisy, _ = _noisy_blobs()
    objective = get("ldce_approx", warmup_epochs=0)
    objective.refresh(build("mlp", (4,), 3, seed=0, depth=1, width=8), noisy, epoch=0)
    buf = io.BytesIO()
    torch.save(objective.state_dict(), buf)  # as the training loop stores it
    restored = get("ldce_approx", warmup_epochs=0)
    restored.load_state_dict(torch.load(io.BytesIO(buf.getvalue()), weights_only=True))
    assert torch.equal(restored.confidence, objective.confidence)
    assert torch.equal(restored.distribution, objective.distribution)
    assert restored.auc_history == objective.auc_history
    assert restored.detection_auc(noisy) == objective.auc_history[0][1]


def test_state_survives_a_resume_bit_exact(study_path: Path) -> None:
    noisy, test = _noisy_blobs()
    config = TrainConfig(epochs=5, batch_size=32, seed=1, schedule="constant")

    def objective() -> LDCEApprox:  # refreshes before the 0-based epochs 2 and 4
        return get("ldce_approx", warmup_epochs=2, refresh_every=2)  # type: ignore[return-value]

    def model() -> nn.Module:
        return build("mlp", (4,), 3, seed=0, depth=1, width=8)

    reference = objective()
    ref = train(model(), reference, noisy, test, config, progress=False)
    assert [e for e, _ in reference.auc_history] == [2, 4]

    def stop(epoch: int, _: dict) -> None:
        if epoch == 3:  # after the first refresh, before the second
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(model(), objective(), noisy, test, config, study=study_path, run="r",
              callback=stop, progress=False)
    resumed = objective()
    out = train(model(), resumed, noisy, test, config, study=study_path, run="r", progress=False)
    assert out.resumed_from == 3
    assert torch.equal(resumed.confidence, reference.confidence)
    assert torch.equal(resumed.distribution, reference.distribution)
    assert resumed.auc_history == reference.auc_history
    for a, b in zip(ref.model.parameters(), out.model.parameters()):
        assert torch.equal(a, b)
