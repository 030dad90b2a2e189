"""Long-tailed subsampling: closed-form class sizes and exact per-class counts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from landscape.data import long_tail, long_tail_counts
from landscape.errors import ConfigError

# floor(5000 · IF^(−c/9)) by hand, c = 0..9 (the CIFAR-10-LT sizes of Cao et al. 2019)
EXP_IF10 = [5000, 3871, 2997, 2320, 1796, 1391, 1077, 834, 645, 500]
EXP_IF100 = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]


def test_exp_profile_closed_form():
    assert long_tail_counts(10, 5000, 10).tolist() == EXP_IF10
    assert long_tail_counts(10, 5000, 100, "exp").tolist() == EXP_IF100
    assert sum(EXP_IF10) == 20431 and sum(EXP_IF100) == 12406  # published CIFAR-10-LT sizes
    assert long_tail_counts(100, 500, 100).sum() == 10847  # published CIFAR-100-LT size
    assert long_tail_counts(100, 500, 10).sum() == 19573


def test_step_profile_closed_form():
    assert long_tail_counts(10, 5000, 10, "step").tolist() == [5000] * 5 + [500] * 5
    assert long_tail_counts(10, 5000, 100, "step").tolist() == [5000] * 5 + [50] * 5
    assert long_tail_counts(5, 600, 7, "step").tolist() == [600] * 3 + [85] * 2
    assert long_tail_counts(10, 100, 10, "step", step_fraction=0.2).tolist() == [100] * 8 + [10] * 2
    assert long_tail_counts(4, 100, 10, "step", step_fraction=0.0).tolist() == [100] * 4


def test_balanced_and_single_class_edge_cases():
    assert long_tail_counts(3, 17, 1).tolist() == [17, 17, 17]
    assert long_tail_counts(1, 17, 10).tolist() == [17]


@pytest.mark.parametrize(("args", "match"), [
    ((10, 5000, 0.5), "imbalance_factor"), ((10, 5000, float("inf")), "imbalance_factor"),
    ((10, 50, 100), "empty"), ((10, 5000, 10, "linear"), "profile"), ((0, 10, 2), "num_classes"),
    ((10, 0, 2), "n_max"), ((10, 100, 2, "step", 1.5), "step_fraction"),
])
def test_counts_reject_bad_arguments(args, match):
    with pytest.raises(ConfigError, match=match):
        long_tail_counts(*args)


@pytest.mark.parametrize(("profile", "imbalance"), [("exp", 10), ("exp", 100), ("step", 10)])
def test_long_tail_exact_class_counts(toy, profile, imbalance):
    counts = [130, 120, 200, 150, 125, 180, 110, 140, 160, 170]  # n_max = min = 110
    ds = toy(counts)
    lt = long_tail(ds, imbalance, profile=profile, seed=0)
    expected = long_tail_counts(10, 110, imbalance, profile).tolist()
    assert lt.class_counts.tolist() == expected
    assert expected[0] == 110 and expected[-1] == 110 // imbalance
    assert torch.equal(lt.y, lt.y_clean)
    assert lt.transforms[-1] == {"kind": "long_tail", "imbalance_factor": float(imbalance),
                                 "profile": profile, "step_fraction": 0.5, "seed": 0,
                                 "n_max": 110, "counts": expected}
    # a subset of the input rows, in input order, with x and index carried along
    rows = lt.index.numpy()
    assert np.all(np.diff(rows) > 0)
    assert torch.equal(lt.x[:, 0], ds.x[rows, 0]) and torch.equal(lt.y, ds.y[rows])


def test_long_tail_reproducible_and_seed_dependent(toy):
    ds = toy([100] * 10)
    a, b, c = (long_tail(ds, 10, seed=1), long_tail(ds, 10, seed=1), long_tail(ds, 10, seed=2))
    assert torch.equal(a.index, b.index)
    assert not torch.equal(a.index, c.index)
    assert a.class_counts.tolist() == c.class_counts.tolist()


def test_long_tail_needs_every_class(toy):
    with pytest.raises(ConfigError, match="every class"):
        long_tail(toy([10, 0, 10]), 2, seed=0)
