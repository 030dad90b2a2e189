"""Training sweeps: a Dask LocalCluster and a process pool train the serial study, a killed
worker's job resumes elsewhere, an interrupted run in the study is resumed, not restarted."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from landscape.data import load
from landscape.errors import StoreError
from landscape.models import build
from landscape.objectives import get
from landscape.train import TrainConfig, TrainJob, train, train_runs
from landscape.train.sweep import finished_runs

#: A per-epoch callback that kills its worker at the second epoch of run r1, once.
PLUGIN = """
import os
from pathlib import Path
MARKER = Path(os.environ["LANDSCAPE_TEST_MARKER"])
def kill_once(run, epoch, metrics):
    if run == "r1" and epoch == 2 and not MARKER.exists():
        MARKER.write_text("killed")
        os._exit(1)
"""


def _jobs(callback: object = None) -> list[TrainJob]:
    data = load("gaussian-mixture", "train")
    test = load("gaussian-mixture", "test")
    return [TrainJob(f"r{seed}", "mlp", {"width": 6, "depth": 1}, "ce", {},
                     data.describe(), test.describe(),
                     TrainConfig(epochs=4, batch_size=32, seed=seed, checkpoint_every=1),
                     callback=callback) for seed in range(3)]


def _weights(path: Path) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        def visit(name: str, obj: object) -> None:
            if isinstance(obj, h5py.Dataset) and ("/model/" in name or "/history/" in name) \
                    and "seconds" not in name and "time" not in name:
                out[name] = obj[()]
        f["runs"].visititems(visit)
    return out


def _serial(path: Path) -> None:
    for job in _jobs():
        data = load("gaussian-mixture", "train")
        model = build("mlp", data.input_shape, data.num_classes, seed=job.config.seed,
                      width=6, depth=1)
        train(model, get("ce"), data, load("gaussian-mixture", "test"), job.config,
              study=path, run=job.run, progress=False)


@pytest.mark.timeout(600)
def test_a_local_cluster_trains_the_serial_study_and_resumes_a_killed_job(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("distributed")
    from landscape.cluster import dask_executor

    (tmp_path / "killer.py").write_text(PLUGIN)
    monkeypatch.setenv("LANDSCAPE_TEST_MARKER", str(tmp_path / "killed"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.syspath_prepend(str(tmp_path))
    import killer  # type: ignore[import-not-found]

    serial, swept = tmp_path / "serial.h5", tmp_path / "swept.h5"
    _serial(serial)
    lines: list[str] = []
    with dask_executor("local:2") as executor:
        out = train_runs(swept, _jobs(killer.kill_once), executor=executor, log=lines.append)
    assert (tmp_path / "killed").exists()  # the job of r1 did lose its worker
    assert out["r1"].resumed_from == 2  # and went on from its shard's last epoch elsewhere
    assert sorted(out) == ["r0", "r1", "r2"] and len(lines) == 3
    assert finished_runs(swept) == {"r0", "r1", "r2"}
    a, b = _weights(serial), _weights(swept)
    assert a.keys() == b.keys() and len(a) > 9
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)  # bit-identical
    assert not Path(f"{swept}.shards").exists()
    assert train_runs(swept, _jobs(), workers=2) == {}  # finished runs are not trained again


@pytest.mark.timeout(300)
def test_a_process_pool_resumes_an_interrupted_run_of_the_study(tmp_path: Path) -> None:
    serial, swept = tmp_path / "serial.h5", tmp_path / "swept.h5"
    _serial(serial)
    jobs = _jobs()
    data = load("gaussian-mixture", "train")
    model = build("mlp", data.input_shape, data.num_classes, seed=0, width=6, depth=1)

    def stop(epoch: int, metrics: dict[str, float]) -> None:
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(model, get("ce"), data, load("gaussian-mixture", "test"), jobs[0].config,
              study=swept, run="r0", progress=False, callback=stop)
    assert finished_runs(swept) == set()
    out = train_runs(swept, jobs, workers=2, log=lambda line: None)
    assert sorted(out) == ["r0", "r1", "r2"]
    assert out["r0"].resumed_from == 2 and out["r1"].resumed_from is None  # resumed, not redone
    a, b = _weights(serial), _weights(swept)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_repeated_run_names_are_refused(tmp_path: Path) -> None:
    job = _jobs()[0]
    with pytest.raises(StoreError, match="repeated"):
        train_runs(tmp_path / "s.h5", [job, job])
