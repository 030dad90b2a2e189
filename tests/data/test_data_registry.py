"""The dataset registry: names, errors, argument passing."""

from __future__ import annotations

import pytest
import torch

from landscape.data import DATASETS, available, digits, load, load_splits
from landscape.errors import ConfigError, DataNotFoundError

NAMES = {"digits", "fashion-mnist", "mnist", "idx", "cifar10", "gaussian-mixture",
         "teacher-student", "synthetic-sessions", "diginetica", "yoochoose"}


def test_available_lists_every_dataset():
    assert set(available()) == NAMES and set(DATASETS) == NAMES
    assert list(available()) == sorted(NAMES)
    assert all(isinstance(text, str) and text for text in DATASETS.values())


def test_unknown_name_lists_valid_ones():
    with pytest.raises(ConfigError, match="unknown dataset 'imagenet'") as info:
        load("imagenet")
    for name in NAMES:
        assert name in str(info.value)


def test_load_matches_the_loader():
    a, b = load("digits", "test", seed=3), digits("test", seed=3)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y) and a.source == b.source


def test_load_splits_and_synthetic_defaults():
    train, test = load_splits("gaussian_mixture", seed=1, dim=3)
    assert (train.name, test.name) == ("gaussian-mixture/train", "gaussian-mixture/test")
    assert len(train) == len(test) == 1000 and train.x.shape[1] == 3
    assert not torch.equal(train.x, test.x)
    ts = load("teacher-student", "test", n=40, hidden=5, num_classes=3)
    assert ts.x.shape == (40, 10) and ts.num_classes == 3


def test_idx_needs_a_directory(tiny_idx):
    directory, arrays = tiny_idx
    with pytest.raises(ConfigError, match="data_dir"):
        load("idx")
    ds = load("idx", "test", data_dir=directory, name="tiny")
    assert ds.name == "tiny/test" and ds.y.tolist() == arrays["t10k-labels"].tolist()


def test_file_datasets_pass_data_dir(tmp_path):
    for name in ("fashion-mnist", "mnist", "cifar10"):
        with pytest.raises(DataNotFoundError, match=str(tmp_path / "missing")):
            load(name, data_dir=tmp_path / "missing")


@pytest.mark.parametrize(("name", "kwargs", "match"), [
    ("digits", {"split": "val"}, "split"),
    ("digits", {"n": 5}, "takes no argument"),
    ("cifar10", {"test_fraction": 0.1}, "takes no argument"),
    ("digits", {"data_dir": "/tmp"}, "data_dir"),
    ("gaussian-mixture", {"data_dir": "/tmp"}, "data_dir"),
])
def test_bad_arguments(name, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        load(name, **kwargs)
