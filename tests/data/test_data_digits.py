"""scikit-learn digits: sizes, seeded stratified split, reproducibility."""

from __future__ import annotations

import importlib
import importlib.util

import numpy as np
import pytest
import torch

from landscape.data import digits
from landscape.errors import ConfigError, DataNotFoundError

sklearn_datasets = pytest.importorskip("sklearn.datasets", reason="scikit-learn not installed")

FULL_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]  # sklearn digits, per class


def _rows(ds) -> np.ndarray:
    """Each sample as one row of (16·pixels, label) integers, sorted: a multiset of samples."""
    pixels = np.rint(ds.x.numpy().reshape(len(ds), -1) * 16).astype(np.int64)
    rows = np.concatenate([pixels, ds.y.numpy()[:, None]], axis=1)
    return rows[np.lexsort(rows.T[::-1])]


def test_sizes_types_and_values():
    train, test = digits("train"), digits("test")
    assert (len(train), len(test)) == (1348, 449)
    assert train.input_shape == (1, 8, 8) and test.input_shape == (1, 8, 8)
    assert train.x.dtype == torch.float32 and train.y.dtype == torch.int64
    assert float(train.x.min()) == 0.0 and float(train.x.max()) == 1.0
    assert torch.equal(train.y, train.y_clean)
    assert torch.equal(test.index, torch.arange(449))
    assert (train.name, test.name, train.num_classes) == ("digits/train", "digits/test", 10)
    assert train.source["params"] == {"seed": 0, "test_fraction": 0.25}
    assert train.transforms == ()


def test_train_and_test_partition_the_full_dataset():
    bunch = sklearn_datasets.load_digits()
    full = np.concatenate([bunch.images.reshape(1797, -1).astype(np.int64),
                           bunch.target[:, None]], axis=1)
    full = full[np.lexsort(full.T[::-1])]
    for seed in (0, 5):
        train, test = digits("train", seed=seed), digits("test", seed=seed)
        joined = np.concatenate([_rows(train), _rows(test)])
        joined = joined[np.lexsort(joined.T[::-1])]
        np.testing.assert_array_equal(joined, full)
        assert (train.class_counts + test.class_counts).tolist() == FULL_COUNTS


def test_split_is_stratified():
    test = digits("test")
    exact = 449 * np.array(FULL_COUNTS) / 1797
    assert test.class_counts.sum() == 449
    assert np.all(np.abs(test.class_counts - exact) < 1)
    assert digits("test", test_fraction=0.5).class_counts.sum() == 899  # 898.5 rounds up


def test_same_seed_same_split_other_seed_other_split():
    a, b, c = digits("train", seed=3), digits("train", seed=3), digits("train", seed=4)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert a.source == b.source
    assert not torch.equal(a.x, c.x)
    assert a.source["source_rows_sha256"] != c.source["source_rows_sha256"]
    assert a.source["params"]["seed"] == 3


def test_bad_arguments():
    with pytest.raises(ConfigError, match="split"):
        digits("validation")
    with pytest.raises(ConfigError, match="test_fraction"):
        digits("train", test_fraction=1.0)


def test_missing_scikit_learn_says_how_to_install(monkeypatch):
    module = importlib.import_module("landscape.data.digits")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "sklearn" else real(name, *a))
    module._load_raw.cache_clear()
    try:
        with pytest.raises(DataNotFoundError, match="pip install scikit-learn"):
            digits("train")
    finally:
        module._load_raw.cache_clear()
