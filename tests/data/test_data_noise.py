"""Label noise: exact per-class flip counts, targets, provenance, reproducibility."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from landscape.data import (
    CIFAR10_ASYMMETRIC_MAPPING,
    asymmetric_noise,
    digits,
    pairflip_noise,
    symmetric_noise,
)
from landscape.errors import ConfigError

COUNTS = [10, 7, 13, 5, 20, 3, 8, 11, 6, 9]
# round(0.35 · n_c), halves up, worked out by hand: 3.5, 2.45, 4.55, 1.75, 7, 1.05, 2.8, 3.85,
# 2.1, 3.15
FLIPS_035 = [4, 2, 5, 2, 7, 1, 3, 4, 2, 3]


def _flips_per_class(ds) -> list[int]:
    flipped = (ds.y != ds.y_clean).numpy()
    return np.bincount(ds.y_clean.numpy()[flipped], minlength=ds.num_classes).tolist()


def _unchanged(before, after) -> None:
    assert torch.equal(after.y_clean, before.y_clean)
    assert torch.equal(after.x, before.x) and torch.equal(after.index, before.index)
    assert (after.name, after.num_classes, after.source) == (before.name, before.num_classes,
                                                             before.source)


@pytest.mark.parametrize("noise", [symmetric_noise, pairflip_noise])
def test_exact_flip_counts_per_class(toy, noise):
    ds = toy(COUNTS)
    noisy = noise(ds, 0.35, seed=0)
    assert _flips_per_class(noisy) == FLIPS_035
    _unchanged(ds, noisy)
    assert torch.equal(ds.y, ds.y_clean)  # the input is not modified
    assert _flips_per_class(noise(ds, 0.0, seed=0)) == [0] * 10
    assert _flips_per_class(noise(ds, 1.0, seed=0)) == COUNTS


def test_symmetric_flips_to_other_classes_uniformly(toy):
    ds = toy([900] * 10)
    noisy = symmetric_noise(ds, 0.5, seed=3)
    flipped = noisy.y != noisy.y_clean
    assert int(flipped.sum()) == 4500 and noisy.noise_rate == 0.5
    for c in (0, 9):
        targets = np.bincount(noisy.y[flipped & (noisy.y_clean == c)].numpy(), minlength=10)
        assert targets[c] == 0 and targets.sum() == 450
        assert np.all(targets[np.arange(10) != c] > 25)  # expected 50 each, uniform


def test_pairflip_targets_are_next_class(toy):
    noisy = pairflip_noise(toy(COUNTS), 0.5, seed=1)
    flipped = noisy.y != noisy.y_clean
    assert torch.equal(noisy.y[flipped], (noisy.y_clean[flipped] + 1) % 10)
    assert int((flipped & (noisy.y_clean == 9)).sum()) == 5 and 0 in noisy.y[flipped].tolist()


def test_asymmetric_default_mapping(toy):
    ds = toy(COUNTS)
    noisy = asymmetric_noise(ds, 0.35, seed=2)
    expected = [FLIPS_035[c] if c in (9, 2, 3, 5, 4) else 0 for c in range(10)]
    assert _flips_per_class(noisy) == expected
    flipped = noisy.y != noisy.y_clean
    pairs = set(zip(noisy.y_clean[flipped].tolist(), noisy.y[flipped].tolist()))
    assert pairs == {(9, 1), (2, 0), (3, 5), (5, 3), (4, 7)}
    assert dict(CIFAR10_ASYMMETRIC_MAPPING) == {9: 1, 2: 0, 3: 5, 5: 3, 4: 7}
    assert noisy.transforms[-1]["mapping"] == [[2, 0], [3, 5], [4, 7], [5, 3], [9, 1]]
    _unchanged(ds, noisy)


@pytest.mark.parametrize("mapping", [{0: 2}, [[0, 2]], {"0": 2}, [(0, 2)]])
def test_asymmetric_custom_mapping_forms(toy, mapping):
    noisy = asymmetric_noise(toy([4, 6, 8]), 0.5, seed=0, mapping=mapping)
    assert _flips_per_class(noisy) == [2, 0, 0]
    assert noisy.class_counts.tolist() == [2, 6, 10]


@pytest.mark.parametrize("mapping", [{0: 3}, {3: 0}, {1: 1}, [[0, 1], [0, 2]], {"a": 1}])
def test_asymmetric_rejects_bad_mappings(toy, mapping):
    with pytest.raises(ConfigError, match="mapping"):
        asymmetric_noise(toy([4, 6, 8]), 0.5, seed=0, mapping=mapping)


def test_default_mapping_needs_ten_classes(toy):
    with pytest.raises(ConfigError, match="out of range"):
        asymmetric_noise(toy([4, 6, 8]), 0.5, seed=0)


@pytest.mark.parametrize("noise", [symmetric_noise, pairflip_noise, asymmetric_noise])
@pytest.mark.parametrize("rate", [-0.1, 1.5, float("nan"), "x"])
def test_rate_validation(toy, noise, rate):
    with pytest.raises(ConfigError, match="rate"):
        noise(toy(COUNTS), rate, seed=0)


@pytest.mark.parametrize("noise", [symmetric_noise, pairflip_noise, asymmetric_noise])
def test_reproducible_and_seed_dependent(toy, noise):
    ds = toy([50] * 10)
    a, b, c = noise(ds, 0.4, seed=7), noise(ds, 0.4, seed=7), noise(ds, 0.4, seed=8)
    assert torch.equal(a.y, b.y) and a.transforms == b.transforms
    assert not torch.equal(a.y, c.y)


def test_records_are_json_and_appended():
    ds = digits("train")
    once = symmetric_noise(ds, 0.2, seed=4)
    twice = pairflip_noise(once, 0.1, seed=5)
    assert once.transforms == ({"kind": "symmetric_noise", "rate": 0.2, "seed": 4,
                                "num_flipped": int((once.y != once.y_clean).sum())},)
    assert [t["kind"] for t in twice.transforms] == ["symmetric_noise", "pairflip_noise"]
    assert json.loads(json.dumps(twice.transforms)) == list(twice.transforms)
    assert torch.equal(twice.y_clean, ds.y)  # clean labels survive composition
    assert twice.describe()["noise_rate"] == twice.noise_rate > 0


def test_single_class_symmetric_noise_is_an_error(toy):
    with pytest.raises(ConfigError, match="2 classes"):
        symmetric_noise(toy([5]), 0.5, seed=0)
