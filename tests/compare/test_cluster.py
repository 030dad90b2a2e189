"""Dask sweeps on a LocalCluster: the serial numbers, a killed job re-run, bad addresses."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from landscape.cli import main
from landscape.cluster import parse_scheduler
from landscape.errors import ConfigError
from tests.helpers import stored_measurements

pytest.importorskip("distributed")

#: A plugin measure whose first call kills its worker process (the marker file says it did).
PLUGIN = """
import os
from pathlib import Path
from landscape.compare import register_measure
MARKER = Path(os.environ["LANDSCAPE_TEST_MARKER"])
def doomed_norm(model, loss_fn, batches):
    if not MARKER.exists():
        MARKER.write_text("killed once")
        os._exit(1)
    return float(sum(w.detach().double().pow(2).sum() for w in model.parameters()))
register_measure("doomed_norm", doomed_norm, flatter="lower", replace=True)
"""


@pytest.mark.timeout(600)
def test_a_local_cluster_measures_like_one_process_and_reruns_a_killed_job(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "doomed.py").write_text(PLUGIN)
    monkeypatch.setenv("LANDSCAPE_TEST_MARKER", str(tmp_path / "killed"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(tmp_path), os.environ.get("PYTHONPATH", "")]))  # the workers import the plugin
    monkeypatch.syspath_prepend(str(tmp_path))
    serial = tmp_path / "serial.h5"
    for seed in range(3):
        assert main(["train", "--dataset", "gaussian-mixture", "--width", "4", "--depth", "1",
                     "--epochs", "2", "--seed", str(seed), "--out", str(serial),
                     "--run", f"r{seed}", "--quiet"]) == 0
    cluster = tmp_path / "cluster.h5"
    shutil.copy(serial, cluster)
    args = ["--plugin", "doomed", "--measures",
            "local_energy,hessian_top,hessian_density,doomed_norm",  # density: block products
            "--samples", "100", "--quick", "--quiet"]
    (tmp_path / "killed").write_text("not in the serial run")
    assert main(["measure", str(serial), *args]) == 0
    (tmp_path / "killed").unlink()  # the first job on the cluster kills its worker
    assert main(["measure", str(cluster), *args, "--scheduler", "local:2"]) == 0
    assert (tmp_path / "killed").read_text() == "killed once"
    want, got = stored_measurements(serial), stored_measurements(cluster)
    assert want.keys() == got.keys() and len(want) > 6
    for key, value in want.items():
        assert np.array_equal(value, got[key], equal_nan=value.dtype.kind == "f"), key


def test_scheduler_specs_and_an_address_that_does_not_answer(tiny_study: Path, capsys) -> None:
    assert parse_scheduler("local:3") == ("local", 3)
    for bad in ("local:0", "local:x", "dask://h:1", "tcp://nohost"):
        with pytest.raises(ConfigError):
            parse_scheduler(bad)
    code = main(["measure", str(tiny_study), "--scheduler", "tcp://127.0.0.1:9", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "no Dask scheduler answers at tcp://127.0.0.1:9" in err
