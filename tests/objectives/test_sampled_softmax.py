"""Sampled softmax: exact with every item as a negative, unbiased in its log-Q corrected form."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from landscape.data.sessions import synthetic_sessions
from landscape.errors import ConfigError
from landscape.models import build
from landscape.objectives import get
from landscape.objectives.sampled_softmax import SampledSoftmax
from landscape.train import TrainConfig, train


def test_every_item_as_a_negative_is_the_full_cross_entropy() -> None:
    g = torch.Generator().manual_seed(0)
    z = torch.randn(16, 9, dtype=torch.float64, generator=g)
    y = torch.randint(0, 9, (16,), generator=g)
    for proposal in ("uniform", "popularity"):
        loss = SampledSoftmax(num_negatives=8, proposal=proposal).sampled(z, y, step=3)
        assert loss.item() == pytest.approx(F.cross_entropy(z, y).item(), rel=1e-14)


def test_negatives_are_seeded_by_step_and_accidental_hits_masked() -> None:
    z = torch.randn(4, 50, dtype=torch.float64)
    y = torch.tensor([1, 2, 3, 4])
    loss = SampledSoftmax(num_negatives=5, seed=1)
    assert loss.sampled(z, y, 7) == loss.sampled(z, y, 7)
    assert loss.sampled(z, y, 7) != loss.sampled(z, y, 8)
    # a single item set: every draw hits the target, so only the target is left: loss 0
    one = SampledSoftmax(num_negatives=3)
    zz = torch.zeros(2, 200, dtype=torch.float64)
    zz[:, 0] = 50.0
    assert one.sampled(zz, torch.tensor([0, 0]), 0).item() < 1e-12


def test_the_uniform_estimate_averages_to_a_lower_bound_of_the_full_loss() -> None:
    g = torch.Generator().manual_seed(2)
    z = torch.randn(8, 40, dtype=torch.float64, generator=g)
    y = torch.randint(0, 40, (8,), generator=g)
    full = F.cross_entropy(z, y).item()
    mean = sum(SampledSoftmax(num_negatives=20, seed=s).sampled(z, y, 0).item()
               for s in range(300)) / 300
    assert mean < full and mean > full - 1.0  # Jensen: fewer terms in the partition sum


def test_registered_trains_a_session_model_and_evaluates_the_full_softmax() -> None:
    obj = get("sampled_softmax", num_negatives=10, proposal="popularity")
    assert isinstance(obj, SampledSoftmax)
    with pytest.raises(ConfigError):
        SampledSoftmax(num_negatives=0)
    data = synthetic_sessions("train", seed=0, num_sessions=80, num_items=30, num_clusters=3)
    model = build("session_gnn", data.input_shape, data.num_classes, seed=0, hidden=8)
    result = train(model, obj, data, data, TrainConfig(epochs=2, batch_size=32, lr=0.05))
    h = result.history
    assert h["train_loss"][-1] < h["train_loss"][0]
    assert 0 < h["test_recall_at_20"][-1] <= 1 and 0 < h["test_mrr_at_20"][-1] <= 1
