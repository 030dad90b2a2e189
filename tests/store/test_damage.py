"""Damaged study files: every reader and writer reports the damaged object in one line, leaves
the file byte-identical and says what can still be read; checksums catch flipped values."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from landscape.data import load_splits, subset
from landscape.errors import StudyDamagedError
from landscape.models import build
from landscape.objectives import get
from landscape.store import Study, load_model, read_history
from landscape.store.integrity import scan
from landscape.train import TrainConfig, train
from tests.helpers import run_python

CLI = "import sys; from landscape.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.fixture(scope="module")
def clean_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("damage") / "clean.h5"
    train_data, test_data = load_splits("digits")
    train_data = subset(train_data, 100, seed=0)
    for run in ("r0", "r1"):
        train(build("mlp", (1, 8, 8), 10, seed=0, width=8, depth=1), get("ce"), train_data,
              test_data, TrainConfig(epochs=2, batch_size=20, checkpoint_every=1), study=path,
              run=run, progress=False)
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _overwrite_header(path: Path, obj: str) -> None:
    """Overwrite bytes in the middle of the file: the object header of ``obj``."""
    with h5py.File(path, "r") as f:
        addr = h5py.h5o.get_info(f[obj].id).addr
    with open(path, "r+b") as fh:
        fh.seek(addr + 8)
        fh.write(b"\xff" * 24)


def _flip_values(path: Path, obj: str) -> None:
    """Flip bytes of the stored values of ``obj`` (not its header)."""
    with h5py.File(path, "r") as f:
        offset = f[obj].id.get_chunk_info(0).byte_offset
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 0x5A]))


def test_damaged_header_reported_in_one_line_and_file_unchanged(clean_study: Path,
                                                                 tmp_path: Path) -> None:
    path = tmp_path / "s.h5"
    shutil.copy(clean_study, path)
    damaged = "/runs/r1/model/parameters/out.weight"
    _overwrite_header(path, damaged)
    before = _sha(path)
    with pytest.raises(StudyDamagedError, match=f"damaged at {damaged} .*runs still readable: r0"
                       ) as err:
        load_model(path, "r1")
    assert "\n" not in str(err.value)
    assert load_model(path, "r0") is not None  # an intact run still loads
    info = run_python(CLI, "info", str(path))
    assert info.returncode == 2
    assert "r0: finished" in info.stdout and f"r1: DAMAGED at {damaged}" in info.stdout
    for command in (["info", str(path)],
                    ["measure", str(path), "--quick", "--quiet"],
                    ["train", "--out", str(path), "--run", "r2", "--epochs", "1", "--quiet",
                     "--subset", "100", "--width", "8", "--depth", "1"]):
        out = run_python(CLI, *command)
        lines = out.stderr.strip().splitlines()
        assert out.returncode == 2 and len(lines) == 1, (command, out.stderr)
        assert str(path) in lines[0] and damaged in lines[0]
        assert "intact runs still readable: r0" in lines[0]
    assert _sha(path) == before
    assert not Path(f"{path}.writer").exists()


def test_flipped_values_fail_their_checksum_naming_the_array(clean_study: Path,
                                                              tmp_path: Path) -> None:
    path = tmp_path / "s.h5"
    shutil.copy(clean_study, path)
    array = "runs/r0/history/test_loss"
    with h5py.File(path) as f:
        assert f[array].fletcher32 and f["runs/r0/trajectory/state/out.weight"].fletcher32
    _flip_values(path, array)
    before = _sha(path)
    with pytest.raises(StudyDamagedError, match=f"/{array} ") as err:
        read_history(path, "r0")
    assert "\n" not in str(err.value) and "intact runs still readable: r1" in str(err.value)
    assert not scan(path).damaged  # the metadata is fine: only reading the values finds it
    assert scan(path, data=True).damaged[0][0] == f"/{array}"
    out = run_python(CLI, "info", "--check", str(path))
    assert out.returncode == 2 and f"r0: DAMAGED at /{array}" in out.stdout
    assert _sha(path) == before


def test_files_without_checksums_still_read(study_path: Path) -> None:
    with Study(study_path, "a") as study:
        group = study.create_run("old").create_group("history")
        group.create_dataset("train_loss", data=np.arange(3.0))  # as written before
    np.testing.assert_array_equal(read_history(study_path, "old")["train_loss"], np.arange(3.0))
