"""``landscape measure --distributed`` on 2 gloo ranks (loopback): the single-process study,
one writer, a dead rank stopping every rank in one line, and the rerun resuming."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from landscape.cli import main
from tests.helpers import stored_measurements

MEASURES = "local_energy,sharpness,hessian_top,hessian_trace,local_entropy"

#: A plugin measure that kills rank 1 while rank 0 waits for it in a collective.
PLUGIN = """
import os
import torch.distributed as dist
from landscape.compare import register_measure
def rank_killer(model, loss_fn, batches):
    if dist.get_rank() == 1:
        os._exit(3)
    dist.barrier()
    return 0.0
register_measure("rank_killer", rank_killer, flatter="lower", replace=True)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(tmp_path: Path) -> dict[str, str]:
    root = str(Path(__file__).resolve().parents[2])
    path = os.pathsep.join([str(tmp_path), root, os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}


@pytest.fixture()
def study(tmp_path: Path) -> Path:
    path = tmp_path / "serial.h5"
    assert main(["train", "--dataset", "gaussian-mixture", "--width", "6", "--depth", "1",
                 "--epochs", "2", "--dtype", "float64", "--out", str(path), "--quiet"]) == 0
    return path


@pytest.mark.timeout(300)
def test_torchrun_on_two_ranks_writes_the_single_process_study(study: Path,
                                                                 tmp_path: Path) -> None:
    dist = tmp_path / "dist.h5"
    shutil.copy(study, dist)
    assert main(["measure", str(study), "--quick", "--measures", MEASURES, "--quiet"]) == 0
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
           "--master_addr=127.0.0.1", f"--master_port={_free_port()}", "-m", "landscape",
           "measure", str(dist), "--quick", "--measures", MEASURES, "--quiet", "--distributed",
           "--dist-timeout", "60"]
    done = subprocess.run(cmd, env=_env(tmp_path), capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("lambda_max") == 1  # rank 0 alone reports
    serial, parallel = stored_measurements(study), stored_measurements(dist)
    assert serial.keys() == parallel.keys() and len(serial) > 10
    for name, value in serial.items():
        np.testing.assert_allclose(parallel[name], value, rtol=1e-9, atol=1e-12, err_msg=name)
    with h5py.File(dist, "r") as f:
        ranks = []
        f.visititems(lambda n, o: ranks.append(o.attrs["ranks"]) if "ranks" in o.attrs else None)
        assert ranks and set(ranks) == {2}


@pytest.mark.timeout(300)
def test_a_dead_rank_stops_every_rank_in_one_line_and_the_rerun_resumes(
        study: Path, tmp_path: Path) -> None:
    (tmp_path / "rank_killer.py").write_text(PLUGIN)
    env, port = _env(tmp_path), _free_port()
    args = [sys.executable, "-m", "landscape", "measure", str(study), "--quick", "--plugin",
            "rank_killer", "--measures", "local_energy,rank_killer", "--quiet", "--distributed",
            "--dist-timeout", "60"]
    procs = [subprocess.Popen(args, env={**env, "RANK": str(r), "LOCAL_RANK": str(r),
                                         "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1",
                                         "MASTER_PORT": str(port)},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for r in (0, 1)]  # what torchrun starts, without its agent killing rank 0
    outs = [p.communicate(timeout=240) for p in procs]
    assert procs[1].returncode == 3
    assert procs[0].returncode == 2
    err = outs[0][1].strip()
    assert len(err.splitlines()) == 1 and "collective failed" in err and "Traceback" not in err
    assert not (study.parent / f"{study.name}.writer").exists()
    # local_energy was committed by rank 0 before the failure: the rerun reads it back
    done = subprocess.run([sys.executable, "-m", "landscape", "measure", str(study), "--quick",
                           "--measures", "local_energy", "--quiet"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "read back" in done.stdout, done.stdout + done.stderr


def test_distributed_outside_torchrun_is_one_clear_error(study: Path, capsys,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(key, raising=False)
    assert main(["measure", str(study), "--quick", "--distributed", "--quiet"]) == 2
    assert "torchrun" in capsys.readouterr().err
    assert main(["measure", str(study), "--quick", "--distributed", "--workers", "2"]) == 2


def test_each_rank_measures_its_own_contiguous_shard() -> None:
    from landscape.compare._ranks import Ranks
    from landscape.data import load

    data = load("gaussian-mixture", "train")
    parts = [Ranks(group=None, rank=r, world=3).shard(data) for r in range(3)]
    assert [len(p) for p in parts] == [len(range(len(data))[s]) for s in
                                       (slice(0, None, 3), slice(1, None, 3), slice(2, None, 3))]
    joined = np.concatenate([p.index.numpy() for p in parts])
    np.testing.assert_array_equal(joined, data.index.numpy())  # every sample once, in order
    assert Ranks().shard(data) is data
