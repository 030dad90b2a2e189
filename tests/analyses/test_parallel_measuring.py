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
    # a reader keeps the study locked when the first run comes back: its merge waits, the
    # others go on, and it is merged at the end
    import landscape.store.transfer as T
    from landscape.errors import StudyLockedError

    copy, refused = T.copy_measurements, []

    def locked_once(src: str, dst: str, run: str) -> list[str]:
        if not refused:
            refused.append(run)
            raise StudyLockedError(f"{dst} is open in another process")
        return copy(src, dst, run)

    monkeypatch.setattr(T, "copy_measurements", locked_once)
    two, _ = D.measure_runs(str(parallel), specs, config, quiet=True, workers=2)
    assert len(refused) == 1
    assert [r.run for r in two] == [s.name for s in specs]
    assert all(r.recomputed for r in two)  # measured by the workers, reported as such
    assert not (tmp_path / "parallel.h5.shards").exists()  # shards merged and removed
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a.local_energy.samples, b.local_energy.samples)
        np.testing.assert_array_equal(a.local_entropy.phi_excess, b.local_entropy.phi_excess)
        np.testing.assert_array_equal(a.spectrum.top.eigenvalues, b.spectrum.top.eigenvalues)
    again, _ = D.measure_runs(str(parallel), specs, config, quiet=True, workers=2)
    assert not any(r.recomputed for r in again)  # everything is in the study now


def test_interrupted_shards_resume_and_an_unreadable_one_is_remeasured(
        tmp_path: Path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "analyses"))
    import _deep_common as D

    from landscape.compare import load_minimum, measure_minimum
    from landscape.store.transfer import copy_runs

    train_data, test_data = load_splits("digits", seed=0)
    specs = [D.RunSpec("mlp", "ce", seed, 64, 0.05) for seed in (0, 1, 2, 3)]
    path = tmp_path / "s.h5"
    for spec in specs:
        train(build("mlp", train_data.input_shape, 10, seed=spec.seed, depth=1, width=16),
              get("ce"), train_data, test_data, TrainConfig(epochs=2, batch_size=64),
              study=path, run=spec.name, progress=False)
    config = MeasureConfig.quick()
    a, b, c, d = (s.name for s in specs)
    # a per-run shard left by an interrupted call, and an unreadable one
    shards = tmp_path / "s.h5.shards"
    shards.mkdir()
    copy_runs(path, shards / f"{c}.h5", [c])
    done_c = measure_minimum(shards / f"{c}.h5", c, config=config)
    (shards / f"{d}.h5").write_bytes(b"cut off in the middle of a write")
    out, _ = D.measure_runs(str(path), specs, config, quiet=True, workers=2)
    recomputed = {r.run: r.recomputed for r in out}
    assert recomputed[c] == ()  # its shard was measured already: merged, not recomputed
    assert recomputed[a] and recomputed[b] and recomputed[d]
    assert not shards.exists()
    np.testing.assert_array_equal(load_minimum(path, c, config=config).spectrum.top.eigenvalues,
                                  done_c.spectrum.top.eigenvalues)
