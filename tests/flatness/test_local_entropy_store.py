"""Local entropy in study files: checkpoint after every γ, resume after a kill, reuse, clashes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from landscape.errors import StoreError
from landscape.flatness import local_entropy, local_entropy_to_study
from landscape.store import Study
from tests.flatness._util import CountingLoss, Killed, cls_data, mlp

GAMMAS = [200.0, 50.0, 10.0, 2.0]
OPTS = {"beta": 30.0, "num_chains": 3, "num_steps": 6, "burn_in": 4, "step_size": 0.02,
        "seed": 3}
CALLS_PER_GAMMA = OPTS["num_steps"] + OPTS["burn_in"]   # one vmapped loss call per SGLD step


def _study(path: Path) -> None:
    with Study(path, "a") as study:
        study.create_run("r0")


def _same(a, b) -> None:
    for f in ("sq_dist_chains", "loss_chains", "cv_coefficients", "phi_excess_chains",
              "sq_dist_drift"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)


def test_kill_mid_gamma_resumes_bit_identical_without_recomputing(study_path: Path) -> None:
    model, data = mlp(), cls_data(24)
    _study(study_path)
    full = local_entropy(model, CountingLoss(), data, GAMMAS, **OPTS)
    # the base loss is one call; die in the middle of the third γ (two γ values finished)
    killer = CountingLoss(kill_at=1 + 2 * CALLS_PER_GAMMA + 5)
    with pytest.raises(Killed):
        local_entropy_to_study(study_path, "r0", "S", model, killer, data, GAMMAS, **OPTS)
    with Study(study_path) as study:
        g = study.run("r0")["measurements/S"]
        assert g.attrs["partial"]
        slot = g["progress"][f"slot{int(g['progress'].attrs['current'])}"]
        assert slot["records/done"][()].tolist() == [0, 0, 1, 1]   # γ ascending: 2, 10, 50, 200
    counter = CountingLoss()
    resumed = local_entropy_to_study(study_path, "r0", "S", model, counter, data, GAMMAS, **OPTS)
    assert counter.calls == 1 + 2 * CALLS_PER_GAMMA   # only the two unfinished γ values
    _same(resumed, full)
    again = CountingLoss()
    stored = local_entropy_to_study(study_path, "r0", "S", model, again, data, GAMMAS, **OPTS)
    assert again.calls == 0
    _same(stored, full)
    with Study(study_path) as study:
        g = study.run("r0")["measurements/S"]
        assert "progress" not in g and not g.attrs.get("partial", False)


def test_killed_twice_still_identical(study_path: Path) -> None:
    model, data = mlp(), cls_data(24)
    _study(study_path)
    full = local_entropy(model, CountingLoss(), data, GAMMAS, **OPTS)
    for kill_at in (1 + CALLS_PER_GAMMA + 2, 1 + CALLS_PER_GAMMA + 3):
        with pytest.raises(Killed):
            local_entropy_to_study(study_path, "r0", "S", model, CountingLoss(kill_at), data,
                                   GAMMAS, **OPTS)
    _same(local_entropy_to_study(study_path, "r0", "S", model, CountingLoss(), data, GAMMAS,
                                 **OPTS), full)


def test_other_settings_clash_unless_overwrite(study_path: Path) -> None:
    model, data = mlp(), cls_data(24)
    _study(study_path)
    with pytest.raises(Killed):
        local_entropy_to_study(study_path, "r0", "S", model, CountingLoss(3), data, GAMMAS,
                               **OPTS)
    other = {**OPTS, "seed": 4}
    with pytest.raises(StoreError, match="other settings"):
        local_entropy_to_study(study_path, "r0", "S", model, CountingLoss(), data, GAMMAS,
                               **other)
    r = local_entropy_to_study(study_path, "r0", "S", model, CountingLoss(), data, GAMMAS,
                               overwrite=True, **other)
    _same(r, local_entropy(model, CountingLoss(), data, GAMMAS, **other))
