"""The long estimators resume from a checkpoint: killed mid-way, continued, bit-identical.

The checkpoint is the study layer's :class:`GroupCheckpoint` (the commit of each save is what a
kill must not tear) or :class:`MemoryCheckpoint`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from torch import nn

from landscape._checkpoint import MemoryCheckpoint
from landscape.errors import ConfigError
from landscape.flatness import local_energy, local_entropy
from landscape.store import Study
from landscape.store.measurements import GroupCheckpoint
from tests.flatness._util import CountingLoss, Killed, cls_data, mlp

CE = nn.CrossEntropyLoss()
SIGMAS = [0.0, 0.05, 0.1, 0.2, 0.4, 0.8]
GAMMAS = [200.0, 50.0, 10.0, 2.0]
OPTS = {"beta": 30.0, "num_chains": 3, "num_steps": 6, "burn_in": 4, "step_size": 0.02,
        "seed": 3}
CALLS_PER_GAMMA = OPTS["num_steps"] + OPTS["burn_in"]   # one vmapped loss call per SGLD step


def _checkpoint(path: Path, key: str = "k") -> GroupCheckpoint:
    if not path.exists():
        with Study(path, "a") as study:
            study.create_run("r0")
    return GroupCheckpoint(path, "r0", "m", key, settings={"a": 1}, identity={"n": 2})


def _same_entropy(a, b) -> None:
    for f in ("sq_dist_chains", "loss_chains", "cv_coefficients", "phi_excess_chains",
              "sq_dist_drift"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)


def test_local_energy_killed_resumes_per_sigma_bit_identical(study_path: Path) -> None:
    model, data = mlp(), cls_data(30)
    full = local_energy(model, CE, data, SIGMAS, 5, chunk_size=5)
    ck = _checkpoint(study_path)
    # one vmapped call per σ > 0 and one for the base: die while computing the 4th σ value
    with pytest.raises(Killed):
        local_energy(model, CountingLoss(kill_at=1 + 3), data, SIGMAS, 5, chunk_size=5,
                     checkpoint=ck)
    saved = ck.load()
    assert saved is not None and saved["done"].tolist() == [1, 1, 1, 0, 0, 0]
    np.testing.assert_array_equal(saved["loss"][:3], full.samples[:3])
    counter = CountingLoss()
    res = local_energy(model, counter, data, SIGMAS, 5, chunk_size=5, checkpoint=ck)
    assert counter.calls == 1 + 3  # the base and the three missing σ values only
    np.testing.assert_array_equal(res.samples, full.samples)
    np.testing.assert_array_equal(res.error_samples, full.error_samples)
    assert res.base == full.base


def test_local_energy_refuses_a_checkpoint_of_other_sigmas() -> None:
    model, data = mlp(), cls_data(12)
    ck = MemoryCheckpoint()
    local_energy(model, CE, data, SIGMAS, 3, checkpoint=ck)
    with pytest.raises(ConfigError, match="other sigmas"):
        local_energy(model, CE, data, SIGMAS[:3], 3, checkpoint=ck)


def test_local_entropy_killed_mid_gamma_resumes_bit_identical(study_path: Path) -> None:
    model, data = mlp(), cls_data(24)
    full = local_entropy(model, CountingLoss(), data, GAMMAS, **OPTS)
    ck = _checkpoint(study_path)
    # the base loss is one call; die in the middle of the third γ (two γ values finished)
    with pytest.raises(Killed):
        local_entropy(model, CountingLoss(kill_at=1 + 2 * CALLS_PER_GAMMA + 5), data, GAMMAS,
                      checkpoint=ck, **OPTS)
    assert ck.load()["records/done"].tolist() == [0, 0, 1, 1]   # γ ascending: 2, 10, 50, 200
    counter = CountingLoss()
    resumed = local_entropy(model, counter, data, GAMMAS, checkpoint=ck, **OPTS)
    assert counter.calls == 1 + 2 * CALLS_PER_GAMMA   # only the two unfinished γ values
    _same_entropy(resumed, full)


def test_local_entropy_killed_twice_still_identical(study_path: Path) -> None:
    model, data = mlp(), cls_data(24)
    full = local_entropy(model, CountingLoss(), data, GAMMAS, **OPTS)
    ck = _checkpoint(study_path)
    for kill_at in (1 + CALLS_PER_GAMMA + 2, 1 + CALLS_PER_GAMMA + 3):
        with pytest.raises(Killed):
            local_entropy(model, CountingLoss(kill_at), data, GAMMAS, checkpoint=ck, **OPTS)
    _same_entropy(local_entropy(model, CountingLoss(), data, GAMMAS, checkpoint=ck, **OPTS),
                  full)


def test_group_checkpoint_alternates_slots_and_keeps_the_last_commit(study_path: Path) -> None:
    ck = _checkpoint(study_path)
    assert ck.load() is None
    ck.save({"x": np.arange(3.0)})
    ck.save({"x": np.arange(4.0), "y/z": np.ones(2)})
    got = ck.load()
    assert got["x"].tolist() == [0, 1, 2, 3] and got["y/z"].tolist() == [1, 1]
    with Study(study_path) as study:
        g = study.file["runs/r0/measurements/m/k"]
        assert not g.attrs["complete"] and set(g["checkpoint"]) == {"slot0", "slot1"}
        # the other slot still holds the previous save
        assert g["checkpoint/slot0/x"][()].tolist() == [0, 1, 2]
