"""Runs and measurements moved between study files (shards for parallel measurement)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from landscape.errors import StoreError
from landscape.flatness import local_energy
from landscape.models import build
from landscape.objectives import get
from landscape.store import Study, load_model, read_history
from landscape.store.measurements import commit_result, list_variants, read_result
from landscape.store.transfer import copy_measurements, copy_runs
from landscape.train import TrainConfig, train


def _study(path: Path, data, runs: tuple[str, ...] = ("a", "b")) -> None:
    for i, run in enumerate(runs):
        train(build("mlp", (4,), 3, seed=i, depth=1, width=8), get("ce"), *data,
              TrainConfig(epochs=2, batch_size=32, checkpoint_every=1), study=path, run=run,
              progress=False)


def _energy(path: Path, run: str, data) -> np.ndarray:
    """A measurement of ``run`` stored under its settings (computed once, then read back)."""
    with Study(path) as st:
        found = read_result(st, run, "local_energy", "k")
    if found is not None:
        return found[0]["samples"]
    model = load_model(path, run)
    x, y = data[0].x, data[0].y
    samples = local_energy(model, nn.CrossEntropyLoss(), (x, y), [0.0, 0.1, 0.2], 4).samples
    commit_result(path, run, "local_energy", "k", settings={"num_draws": 4}, identity={},
                  arrays={"samples": samples}, attrs={})
    return samples


def test_measure_in_a_shard_and_bring_the_measurements_back(data, tmp_path: Path) -> None:
    main, shard = tmp_path / "main.h5", tmp_path / "shard.h5"
    _study(main, data)
    assert copy_runs(main, shard, ["b"]) == ["b"]
    with Study(shard) as st:
        assert st.runs() == ["b"]
    for key, values in read_history(main, "b").items():
        np.testing.assert_array_equal(read_history(shard, "b")[key], values)
    for p, q in zip(load_model(shard, "b").parameters(), load_model(main, "b").parameters()):
        assert torch.equal(p, q)
    in_shard = _energy(shard, "b", data)
    assert copy_measurements(shard, main, "b") == ["local_energy"]
    with Study(main) as st:
        (variant,) = list_variants(st, "b")
        assert variant.measure == "local_energy" and variant.complete
    # the copied measurement is found complete: nothing is recomputed in main
    np.testing.assert_array_equal(_energy(main, "b", data), in_shard)
    # a shard keeps its own progress unless told to replace it
    assert copy_runs(main, shard, ["a", "b"]) == ["a"]
    assert copy_runs(main, shard, ["b"], replace=True) == ["b"]


def test_missing_runs_are_clear_errors(data, tmp_path: Path) -> None:
    main, shard = tmp_path / "main.h5", tmp_path / "shard.h5"
    _study(main, data, ("a",))
    with pytest.raises(StoreError, match="no run"):
        copy_runs(main, shard, ["a", "zz"])
    copy_runs(main, shard, ["a"])
    with pytest.raises(StoreError, match="no run"):
        copy_measurements(shard, main, "zz")
    assert copy_measurements(shard, main, "a") == []
