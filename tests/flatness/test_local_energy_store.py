"""Local energy in study files: result round trip, writing per σ, resuming after a kill."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from torch import nn

from landscape.errors import StoreError
from landscape.flatness import (
    LocalEnergyResult,
    local_energy,
    local_energy_to_study,
    read_local_energy,
)
from landscape.store import Study, load_result, save_result
from tests.flatness._util import CountingLoss, Killed, cls_data, mlp

CE = nn.CrossEntropyLoss()
SIGMAS = [0.0, 0.05, 0.1, 0.2, 0.4, 0.8]



def _study(path: Path) -> None:
    with Study(path, "a") as study:
        study.create_run("r0")


def test_result_round_trip_through_save_result(study_path: Path) -> None:
    r = local_energy(mlp(), CE, cls_data(), [0.0, 0.1], 4)
    _study(study_path)
    with Study(study_path, "a") as study:
        save_result(study.run("r0"), "le", r)
    with Study(study_path) as study:
        back = load_result(study.run("r0")["le"])
    assert isinstance(back, LocalEnergyResult)
    for f in ("sigmas", "samples", "mean", "stderr", "error_samples", "error_mean"):
        np.testing.assert_array_equal(getattr(back, f), getattr(r, f))
    assert (back.base, back.noise, back.estimator, back.seed) == (r.base, r.noise, r.estimator,
                                                                  r.seed)
    np.testing.assert_array_equal(back.delta, r.delta)


def test_study_write_kill_and_resume(study_path: Path) -> None:
    model, data = mlp(), cls_data(30)
    _study(study_path)
    full = local_energy(model, CE, data, SIGMAS, 5, chunk_size=5)
    # one vmapped call per σ > 0 and one for the base: die while computing the 4th σ value
    killer = CountingLoss(kill_at=1 + 3)
    with pytest.raises(Killed):
        local_energy_to_study(study_path, "r0", "le", model, killer, data, SIGMAS, 5,
                              chunk_size=5)
    part = read_local_energy(study_path, "r0", "le")
    done = ~np.isnan(part.samples).any(axis=1)
    assert done.tolist() == [True, True, True, False, False, False]
    np.testing.assert_array_equal(part.samples[done], full.samples[done])
    with Study(study_path) as study:
        mask = study.run("r0")["measurements/le/loss.computed"][()]
        assert mask.tolist() == done.tolist()
    counter = CountingLoss()
    res = local_energy_to_study(study_path, "r0", "le", model, counter, data, SIGMAS, 5,
                                chunk_size=5)
    assert counter.calls == 1 + 3  # the base and the three missing σ values only
    np.testing.assert_array_equal(res.samples, full.samples)
    np.testing.assert_array_equal(res.error_samples, full.error_samples)
    assert res.base == full.base
    again = CountingLoss()
    local_energy_to_study(study_path, "r0", "le", model, again, data, SIGMAS, 5, chunk_size=5)
    assert again.calls == 0


def test_study_refuses_other_settings_unless_overwrite(study_path: Path) -> None:
    model, data = mlp(), cls_data(20)
    _study(study_path)
    local_energy_to_study(study_path, "r0", "le", model, CE, data, [0.1], 3)
    with pytest.raises(StoreError, match="noise"):
        local_energy_to_study(study_path, "r0", "le", model, CE, data, [0.1], 3,
                              noise="additive")
    with pytest.raises(StoreError, match="sigmas"):
        local_energy_to_study(study_path, "r0", "le", model, CE, data, [0.1, 0.2], 3)
    other = mlp(seed=1)
    with pytest.raises(StoreError, match="param_hash"):
        local_energy_to_study(study_path, "r0", "le", other, CE, data, [0.1], 3)
    r = local_energy_to_study(study_path, "r0", "le", model, CE, data, [0.1], 3,
                              noise="additive", overwrite=True)
    assert r.noise == "additive"
    with pytest.raises(StoreError, match="no run"):
        local_energy_to_study(study_path, "nope", "le", model, CE, data, [0.1], 3)
    with pytest.raises(StoreError, match="no measurement"):
        read_local_energy(study_path, "r0", "missing")
