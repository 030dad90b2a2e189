"""``measure_runs(..., workers=2)`` measures in shard files and brings back exactly what a serial
call computes (slow: two fresh processes import torch)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from landscape.compare import MeasureConfig
from landscape.data import load_splits
from landscape.models import build
from landscape.objectives import get
from landscape.train import TrainConfig, train

pytestmark = pytest.mark.slow


def test_two_workers_give_the_serial_measurements(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "analyses"))
    import _deep_common as D

    train_data, test_data = load_splits("digits", seed=0)
    specs = [D.RunSpec("mlp", "ce", seed, 64, 0.05) for seed in (0, 1, 2)]
    serial = tmp_path / "serial.h5"
    for spec in specs:
        train(build("mlp", train_data.input_shape, 10, seed=spec.seed, depth=1, width=16),
              get("ce"), train_data, test_data, TrainConfig(epochs=2, batch_size=64),
              study=serial, run=spec.name, progress=False)
    parallel = tmp_path / "parallel.h5"
    shutil.copy(serial, parallel)
    config = MeasureConfig.quick()
    one, _ = D.measure_runs(str(serial), specs, config, quiet=True)
    two, _ = D.measure_runs(str(parallel), specs, config, quiet=True, workers=2)
    assert [r.run for r in two] == [s.name for s in specs]
    assert all(r.recomputed for r in two)  # measured by the workers, reported as such
    assert not list(tmp_path.glob("parallel.h5.shard*.h5"))  # shards merged and removed
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a.local_energy.samples, b.local_energy.samples)
        np.testing.assert_array_equal(a.local_entropy.phi_excess, b.local_entropy.phi_excess)
        np.testing.assert_array_equal(a.spectrum.top.eigenvalues, b.spectrum.top.eigenvalues)
    again, _ = D.measure_runs(str(parallel), specs, config, quiet=True, workers=2)
    assert not any(r.recomputed for r in again)  # everything is in the study now
