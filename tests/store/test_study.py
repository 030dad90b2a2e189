"""Study files: provenance on creation, clear errors for foreign, corrupt and newer files."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import pytest

from landscape.errors import (
    NotAStudyFileError,
    SchemaVersionError,
    StoreError,
    StudyLockedError,
)
from landscape.store import SCHEMA_VERSION, Study


def test_new_study_has_root_provenance(study_path: Path) -> None:
    with Study(study_path, "a") as study:
        study.create_run("r0", {"seed": 3, "settings": {"a": [1, 2]}})
    with Study(study_path) as study:
        attrs = study.attrs
        for key in ("format", "schema_version", "created", "landscape_version", "torch_version",
                    "numpy_version", "h5py_version", "python_version", "git_commit",
                    "index_convention"):
            assert key in attrs, key
        assert attrs["format"] == "landscape-study"
        assert attrs["schema_version"] == SCHEMA_VERSION
        assert study.runs() == ["r0"]
        run = study.run_attrs("r0")
        assert run["seed"] == 3 and run["settings"] == {"a": [1, 2]}
        assert "created" in run


def test_foreign_hdf5_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "foreign.h5"
    with h5py.File(path, "w") as f:
        f["data"] = np.arange(5)
    before = path.read_bytes()
    for mode in ("r", "a"):
        with pytest.raises(NotAStudyFileError, match="not a landscape study"):
            Study(path, mode)  # type: ignore[arg-type]
    assert path.read_bytes() == before


@pytest.mark.parametrize("content", [b"", b"this is not hdf5" * 100])
def test_non_hdf5_file_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.h5"
    path.write_bytes(content)
    with pytest.raises(NotAStudyFileError, match=str(path.name)):
        Study(path, "a")
    assert path.read_bytes() == content


def test_truncated_study_file_is_refused(study_path: Path) -> None:
    with Study(study_path, "a") as study:
        study.create_run("r0")
        study.file.create_dataset("runs/r0/big", data=np.random.default_rng(0).random(50_000))
    raw = study_path.read_bytes()
    study_path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(NotAStudyFileError), Study(study_path) as study:
        study.file["runs/r0/big"][()]


def test_newer_schema_is_refused(study_path: Path) -> None:
    with Study(study_path, "a"):
        pass
    with h5py.File(study_path, "a") as f:
        f.attrs["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(SchemaVersionError, match="upgrade"):
        Study(study_path)


def test_missing_file_and_missing_run(study_path: Path) -> None:
    with pytest.raises(StoreError, match="no study file"):
        Study(study_path)
    with Study(study_path, "a") as study:
        study.create_run("a")
        with pytest.raises(StoreError, match="no run 'b'"):
            study.run("b")
        with pytest.raises(StoreError, match="already exists"):
            study.create_run("a")
        study.create_run("a", {"x": 1}, overwrite=True)
        assert study.run_attrs("a")["x"] == 1
        with pytest.raises(StoreError, match="invalid run name"):
            study.create_run("a/b")


@contextlib.contextmanager
def _held_open(path: Path, mode: str, seconds: float) -> Iterator[None]:
    """Another process holds ``path`` open in ``mode`` for ``seconds`` (from when we resume)."""
    with Study(path, "a"):
        pass
    holder = subprocess.Popen(
        [sys.executable, "-c", "import h5py, sys, time; f = h5py.File(sys.argv[1], sys.argv[2]);"
         " print('open', flush=True); time.sleep(float(sys.argv[3])); f.close()",
         str(path), mode, str(seconds)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        yield
    finally:
        holder.kill()
        holder.wait()


def test_second_writer_gets_a_clear_lock_error(study_path: Path) -> None:
    with _held_open(study_path, "a", 30):
        t0 = time.monotonic()
        with pytest.raises(StudyLockedError, match="one writer"):
            Study(study_path, "a", lock_timeout=1.0)
        assert 1.0 <= time.monotonic() - t0 < 20


def test_a_writer_waits_for_a_brief_reader(study_path: Path) -> None:
    with _held_open(study_path, "r", 1.5):
        t0 = time.monotonic()
        with Study(study_path, "a", lock_timeout=20) as study:
            study.create_run("after-reader")
        assert time.monotonic() - t0 < 15


def test_space_of_deleted_items_is_reused_across_opens(study_path: Path) -> None:
    """A checkpoint written, deleted in a later session and written again (as the SGLD
    checkpoints of local entropy are, run after run) does not grow the file each time."""
    block = np.random.default_rng(0).random(250_000)  # 2 MB
    sizes = []
    for i in range(4):
        with Study(study_path, "a") as st:
            st.file.create_dataset("checkpoint", data=block)
            st.file.create_dataset(f"result{i}", data=block[:1000])
        with Study(study_path, "a") as st:
            del st.file["checkpoint"]
        sizes.append(study_path.stat().st_size)
    assert sizes[-1] < sizes[0] + 0.5 * block.nbytes, sizes
