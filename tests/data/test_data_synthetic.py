"""Synthetic datasets: determinism, split streams, geometry of the mixture, the teacher."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from landscape._seeding import numpy_rng
from landscape.data import gaussian_mixture, teacher_student
from landscape.data.synthetic import gaussian_mixture_means
from landscape.errors import ConfigError


def test_gaussian_mixture_basic_fields():
    ds = gaussian_mixture(103, dim=3, num_classes=4, seed=2, split="test")
    assert ds.x.shape == (103, 3) and ds.x.dtype == torch.float32
    assert ds.class_counts.tolist() == [26, 26, 26, 25]
    assert ds.name == "gaussian-mixture/test" and ds.num_classes == 4
    assert torch.equal(ds.index, torch.arange(103)) and torch.equal(ds.y, ds.y_clean)
    assert ds.source["params"] == {"n": 103, "dim": 3, "num_classes": 4, "separation": 3.0,
                                   "seed": 2}


def test_gaussian_mixture_deterministic_and_split_streams():
    a = gaussian_mixture(50, seed=1)
    b = gaussian_mixture(50, seed=1)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert not torch.equal(a.x, gaussian_mixture(50, seed=2).x)
    assert not torch.equal(a.x, gaussian_mixture(50, seed=1, split="test").x)


@pytest.mark.parametrize(("dim", "num_classes"), [(1, 3), (2, 2), (5, 3), (7, 6)])
def test_means_neighbours_exactly_separation_apart(dim, num_classes):
    means = gaussian_mixture_means(dim, num_classes, separation=2.5, seed=3)
    assert means.shape == (num_classes, dim)
    order = range(num_classes) if dim > 1 else range(num_classes - 1)
    for c in order:
        gap = np.linalg.norm(means[c] - means[(c + 1) % num_classes])
        assert math.isclose(gap, 2.5, rel_tol=1e-12)
    assert np.allclose(means.mean(axis=0), 0.0, atol=1e-12)


def test_train_and_test_share_the_means():
    means = gaussian_mixture_means(4, 3, 3.0, seed=5)
    for split in ("train", "test"):
        ds = gaussian_mixture(30000, dim=4, num_classes=3, seed=5, split=split)
        for c in range(3):
            empirical = ds.x[ds.y == c].double().mean(0).numpy()
            assert np.abs(empirical - means[c]).max() < 0.06  # 6 standard errors
        std = (ds.x - torch.from_numpy(means[ds.y.numpy()]).float()).std()
        assert abs(float(std) - 1.0) < 0.02


def test_teacher_student_follows_the_documented_construction():
    n, dim, num_classes, hidden, seed = 300, 6, 3, 8, 4
    teacher = numpy_rng(seed, "teacher-student", "teacher")
    w1 = teacher.standard_normal((hidden, dim)) / math.sqrt(dim)
    b1 = teacher.standard_normal(hidden) / math.sqrt(dim)
    w2 = teacher.standard_normal((num_classes, hidden)) / math.sqrt(hidden)
    for split in ("train", "test"):  # the same teacher labels both splits
        ds = teacher_student(n, dim=dim, num_classes=num_classes, hidden=hidden, seed=seed,
                             split=split)
        x = numpy_rng(seed, "teacher-student", "samples", split).standard_normal((n, dim))
        assert torch.equal(ds.x, torch.from_numpy(x.astype(np.float32)))
        expected = np.argmax(np.tanh(x @ w1.T + b1) @ w2.T, axis=1)
        assert ds.y.tolist() == expected.tolist()
        assert ds.name == f"teacher-student/{split}" and ds.num_classes == num_classes


def test_teacher_student_deterministic_and_seed_dependent():
    a, b = teacher_student(200, seed=0), teacher_student(200, seed=0)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    c = teacher_student(200, seed=1)
    assert not torch.equal(a.x, c.x) and not torch.equal(a.y, c.y)
    assert len(set(a.y.tolist())) > 1


@pytest.mark.parametrize("kwargs", [
    {"n": 0}, {"n": 10, "dim": 0}, {"n": 10, "num_classes": 0}, {"n": 10, "separation": 0.0},
    {"n": 10, "separation": float("nan")}, {"n": 10, "split": "val"}, {"n": 10, "seed": -1},
])
def test_gaussian_mixture_rejects_bad_arguments(kwargs):
    n = kwargs.pop("n")
    with pytest.raises(ConfigError):
        gaussian_mixture(n, **kwargs)


def test_teacher_student_rejects_bad_hidden():
    with pytest.raises(ConfigError, match="hidden"):
        teacher_student(10, hidden=0)
