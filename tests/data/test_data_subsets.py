"""Fixed subsets: exact sizes, stratification, index preservation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from landscape.data import digits, long_tail, subset
from landscape.errors import ConfigError


@pytest.mark.parametrize(("counts", "size", "expected"), [
    ([50, 30, 20], 10, [5, 3, 2]),
    ([7, 7, 6], 10, [4, 3, 3]),  # 3.5, 3.5, 3: the one left over goes to the lower class
    ([1, 1, 98], 5, [0, 0, 5]),
    ([3, 3, 3], 9, [3, 3, 3]),
])
def test_stratified_counts(toy, counts, size, expected):
    assert subset(toy(counts), size, seed=0).class_counts.tolist() == expected


def test_stratified_keeps_proportions_on_digits():
    ds = digits("train")
    sub = subset(ds, 200, seed=3)
    exact = 200 * ds.class_counts / len(ds)
    assert sub.class_counts.sum() == 200 and np.all(np.abs(sub.class_counts - exact) < 1)


def test_index_identifies_source_rows(toy):
    source = toy([60, 40, 80])
    tail = long_tail(source, 4, seed=0)  # index is no longer the position
    sub = subset(tail, 25, seed=1)
    assert set(sub.index.tolist()) <= set(tail.index.tolist())
    assert torch.equal(sub.x[:, 0], source.x[sub.index, 0])  # x = source position in toy
    assert torch.equal(sub.y, source.y[sub.index])
    assert np.all(np.diff(sub.index.numpy()) > 0)
    assert sub.transforms[-1] == {"kind": "subset", "size": 25, "seed": 1, "stratified": True}


def test_unstratified(toy):
    ds = toy([90, 10])
    a, b = subset(ds, 30, seed=5, stratified=False), subset(ds, 30, seed=5, stratified=False)
    assert len(a) == 30 and len(set(a.index.tolist())) == 30
    assert torch.equal(a.index, b.index) and a.indices_hash() == b.indices_hash()
    assert not torch.equal(a.index, subset(ds, 30, seed=6, stratified=False).index)
    assert a.transforms[-1]["stratified"] is False


def test_different_seeds_differ(toy):
    ds = toy([40, 40])
    assert not torch.equal(subset(ds, 10, seed=0).index, subset(ds, 10, seed=1).index)


@pytest.mark.parametrize("size", [0, 11, -1, 2.5, True])
def test_bad_size(toy, size):
    with pytest.raises(ConfigError, match="size"):
        subset(toy([5, 5]), size, seed=0)
