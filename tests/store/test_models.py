"""Models in study files: names, rebuilt models give identical outputs, hashes catch damage."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from torch import nn

from landscape.errors import StoreError
from landscape.models import LeNet, build
from landscape.store import Study, load_model, param_hash, write_state


def _store(path: Path, model: nn.Module, run: str = "r") -> None:
    with Study(path, "a") as study:
        group = study.create_run(run)
        write_state(group.create_group("model"), model)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_lenet_with_batchnorm_round_trip_gives_identical_outputs(study_path: Path,
                                                                  dtype: torch.dtype) -> None:
    model = LeNet(1, 10, image_size=8, batchnorm=True).to(dtype)
    model.train()
    model(torch.randn(16, 1, 8, 8, dtype=dtype))  # move the BatchNorm running statistics
    model.eval()
    _store(study_path, model)
    rebuilt = load_model(study_path, "r")
    x = torch.randn(5, 1, 8, 8, dtype=dtype)
    assert not rebuilt.training
    assert rebuilt.conv1.weight.dtype == dtype
    assert torch.equal(rebuilt(x), model(x))
    with h5py.File(study_path) as f:
        params = f["runs/r/model/parameters"]
        assert set(params) == {n for n, _ in model.named_parameters()}
        assert "bn1.running_var" in f["runs/r/model/buffers"]
        assert f["runs/r/model"].attrs["param_hash"] == param_hash(model)


def test_user_model_needs_a_factory(study_path: Path) -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    _store(study_path, model)
    with pytest.raises(StoreError, match="pass model="):
        load_model(study_path, "r")
    rebuilt = load_model(study_path, "r", model=lambda: nn.Sequential(
        nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)))
    x = torch.randn(2, 3)
    assert torch.equal(rebuilt(x), model(x))
    with pytest.raises(StoreError, match="do not fit"):
        load_model(study_path, "r", model=nn.Linear(3, 2))


def test_damaged_weights_fail_the_hash_check(study_path: Path) -> None:
    model = build("mlp", (4,), 3, seed=0, width=8)
    _store(study_path, model)
    with h5py.File(study_path, "a") as f:
        ds = f["runs/r/model/parameters/out.bias"]
        ds[0] = ds[0] + np.float32(1e-3)
    with pytest.raises(StoreError, match="stored hash"):
        load_model(study_path, "r")
    assert load_model(study_path, "r", verify=False) is not None


def test_loading_a_run_without_a_final_model(study_path: Path) -> None:
    with Study(study_path, "a") as study:
        study.create_run("r")
    with pytest.raises(StoreError, match="no final model"):
        load_model(study_path, "r")
    with pytest.raises(StoreError, match="no trajectory"):
        load_model(study_path, "r", checkpoint=0)


def test_loading_in_another_precision_still_verifies(study_path: Path) -> None:
    model = build("mlp", (4,), 3, seed=0, width=8)
    _store(study_path, model)
    wide = load_model(study_path, "r", dtype=torch.float64)
    assert wide.out.weight.dtype == torch.float64
    assert torch.equal(wide.out.weight.float(), model.out.weight)
