"""A study file appears whole or not at all, whenever its creator is killed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import pytest

from landscape.store import Study
from landscape.store.create import create_whole
from tests.helpers import REPO

#: Creates a study at argv[1] and SIGKILLs itself while writing the new file's attributes.
KILLED_WHILE_CREATING = """
import os, signal, sys
import landscape.store.study as study
def killed(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
study.write_attrs = killed
study.Study(sys.argv[1], "a")
"""


def test_a_kill_while_creating_leaves_no_study_and_the_rerun_creates_it(tmp_path: Path) -> None:
    path = tmp_path / "s.h5"
    proc = subprocess.run([sys.executable, "-c", KILLED_WHILE_CREATING, str(path)],
                          env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=120,
                          capture_output=True)
    assert proc.returncode == -9
    assert not path.exists()  # before: a truncated file at the user's path, refused ever after
    (left,) = tmp_path.iterdir()
    assert left.name.startswith(".s.h5.creating-")
    with Study(path, "a"):
        pass
    with Study(path) as study:
        assert study.runs() == []
    assert list(tmp_path.iterdir()) == [path]  # the dead process's file removed


def test_a_failure_while_initialising_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "s.h5"

    def broken(f: h5py.File) -> None:
        f.attrs["format"] = "x"
        raise RuntimeError("disk gone")

    with pytest.raises(RuntimeError):
        create_whole(path, broken)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_file_is_kept_unless_replacing(tmp_path: Path) -> None:
    path = tmp_path / "s.h5"
    assert create_whole(path, lambda f: f.attrs.update(format="first"))
    before = path.read_bytes()
    assert not create_whole(path, lambda f: f.attrs.update(format="second"))
    assert path.read_bytes() == before
    assert create_whole(path, lambda f: f.attrs.update(format="second"), replace=True)
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == "second"
    assert list(tmp_path.iterdir()) == [path]


def test_a_file_of_a_live_process_being_created_is_left_alone(tmp_path: Path) -> None:
    live = tmp_path / f".s.h5.creating-{os.getppid()}"
    live.write_bytes(b"in progress")
    assert create_whole(tmp_path / "s.h5", lambda f: None)
    assert live.read_bytes() == b"in progress"
