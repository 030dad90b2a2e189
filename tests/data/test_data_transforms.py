"""apply_transforms and rebuild: reproducing a dataset from its recorded provenance."""

from __future__ import annotations

import json

import pytest
import torch

from landscape.data import (
    TRANSFORMS,
    apply_transforms,
    asymmetric_noise,
    digits,
    gaussian_mixture,
    load,
    long_tail,
    rebuild,
    subset,
    symmetric_noise,
)
from landscape.errors import ConfigError, DataFormatError


def _same(a, b) -> None:
    for field in ("x", "y", "y_clean", "index"):
        assert torch.equal(getattr(a, field), getattr(b, field)), field
    assert a.transforms == b.transforms and a.name == b.name


@pytest.fixture(scope="module")
def chain():
    ds = digits("train", seed=2)
    out = long_tail(symmetric_noise(ds, 0.3, seed=1), 5, profile="step", seed=2)
    return subset(asymmetric_noise(out, 0.4, seed=3), 300, seed=4, stratified=False)


def test_apply_transforms_reproduces(chain):
    records = json.loads(json.dumps(list(chain.transforms)))  # as stored in a study file
    _same(apply_transforms(digits("train", seed=2), records), chain)


def test_rebuild_from_description(chain):
    _same(rebuild(json.loads(chain.describe_json())), chain)
    mixture = symmetric_noise(gaussian_mixture(80, num_classes=3, seed=6, split="test"), 0.25,
                              seed=0)
    _same(rebuild(mixture.describe()), mixture)


def test_rebuild_detects_different_data(chain):
    description = chain.describe()
    description["indices_sha256"] = "0" * 16
    with pytest.raises(DataFormatError, match="indices_sha256"):
        rebuild(description)
    with pytest.raises(ConfigError, match="source"):
        rebuild({"transforms": []})


def test_unknown_kind_lists_known_ones():
    with pytest.raises(ConfigError, match="unknown transform kind 'mixup'") as info:
        apply_transforms(digits(), [{"kind": "mixup", "seed": 0}])
    for kind in TRANSFORMS:
        assert kind in str(info.value)
    assert set(TRANSFORMS) == {"symmetric_noise", "pairflip_noise", "asymmetric_noise",
                               "long_tail", "subset"}


@pytest.mark.parametrize("record", [
    {"kind": "subset", "seed": 0}, {"rate": 0.1}, "subset", {"kind": "long_tail", "seed": 0},
])
def test_malformed_records(record):
    with pytest.raises(ConfigError):
        apply_transforms(digits(), [record])


def test_unknown_field_and_result_mismatch():
    ds = load("digits")
    record = dict(long_tail(ds, 10, seed=0).transforms[-1])
    with pytest.raises(ConfigError, match="unknown field"):
        apply_transforms(ds, [{**record, "colour": "red"}])
    with pytest.raises(ConfigError, match="counts"):
        apply_transforms(ds, [{**record, "counts": [1] * 10}])
    minimal = {"kind": "long_tail", "imbalance_factor": 10, "seed": 0}
    _same(apply_transforms(ds, [minimal]), long_tail(ds, 10, seed=0))
