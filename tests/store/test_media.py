"""A full disk and read-only media: writes fail in one line before touching the file, reads work.

Run as root these tests mount a real 3 MB tmpfs and a read-only bind mount; elsewhere they make
the free-space check see a full disk and the study's file system read-only (monkeypatched).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from landscape.errors import NoSpaceError, ReadOnlyStudyError
from landscape.store import Study, load_model, space
from landscape.store import study as study_module
from landscape.store.integrity import scan
from landscape.store.writer import lock_path
from tests.helpers import run_python

CLI = "import sys; from landscape.cli import main; sys.exit(main(sys.argv[1:]))"
TRAIN = ["train", "--run", "r", "--epochs", "200", "--checkpoint-every", "1", "--subset", "300",
         "--quiet"]


def _mount(*args: str) -> bool:
    if sys.platform != "linux" or os.geteuid() != 0:
        return False
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path | None]:
    """A 3 MB tmpfs (``None`` where mounting is impossible)."""
    where = tmp_path / "small"
    where.mkdir()
    mounted = _mount("-t", "tmpfs", "-o", "size=3m", "tmpfs", str(where))
    yield where if mounted else None
    if mounted:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _epochs_done(path: Path) -> int:
    with Study(path) as study:
        return int(study.run_attrs("r")["epochs_done"])


def test_training_into_a_full_disk_stops_cleanly(small_disk: Path | None, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    if small_disk is None:  # simulate: the disk fills up after 1.5 MB
        path = tmp_path / "s.h5"
        monkeypatch.setattr(space, "free_bytes", lambda p: (3 << 20) - (
            Path(path).stat().st_size if Path(path).exists() else 0))
        from landscape.cli import main

        assert main([*TRAIN, "--out", str(path)]) == 2
        assert scan(path, data=True).ok and 0 < _epochs_done(path) < 200
        return
    path = small_disk / "s.h5"
    out = run_python(CLI, *TRAIN, "--out", str(path), timeout=600)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1, out.stderr
    assert lines[0].startswith(f"landscape train: error: no space left on {small_disk}")
    assert lines[0].endswith("nothing lost; free space and rerun")
    report = scan(path, data=True)
    assert report.ok and report.intact_runs == ["r"]
    done = _epochs_done(path)
    assert 0 < done < 200
    from landscape.store.commit import read_committed

    with Study(path) as study:  # the resume state is that of the last stored epoch
        group = study.run("r")
        assert int(read_committed(group, "resume").attrs["epoch"]) == done
        assert group["trajectory/epoch"][: group["trajectory"].attrs["count"]].max() == done
    # with space (the file moved to a larger disk) the same command resumes and finishes
    moved = tmp_path / "s.h5"
    shutil.copy(path, moved)
    out = run_python(CLI, *TRAIN, "--out", str(moved), timeout=600)
    assert out.returncode == 0, out.stderr
    assert _epochs_done(moved) == 200


def test_measuring_on_a_nearly_full_disk_stops_cleanly_and_resumes(
        small_disk: Path | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trained = tmp_path / "t.h5"
    assert run_python(CLI, "train", "--out", str(trained), "--run", "r", "--epochs", "3",
                      "--subset", "200", "--width", "16", "--depth", "1", "--quiet"
                      ).returncode == 0
    measure = ["measure", "--quick", "--quiet"]
    if small_disk is None:
        monkeypatch.setattr(space, "free_bytes", lambda p: space.MARGIN + 1000)
        from landscape.cli import main

        before = _sha(trained)
        assert main([measure[0], str(trained), *measure[1:]]) == 2
        assert _sha(trained) == before
        return
    path = small_disk / "m.h5"
    shutil.copy(trained, path)
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * (shutil.disk_usage(small_disk).free - space.MARGIN - 50_000))
    out = run_python(CLI, measure[0], str(path), *measure[1:], timeout=600)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "no space left on" in out.stderr and "nothing lost" in out.stderr
    assert scan(path, data=True).ok
    assert run_python(CLI, "info", str(path)).returncode == 0
    filler.unlink()
    out = run_python(CLI, measure[0], str(path), *measure[1:], timeout=600)
    assert out.returncode == 0, out.stderr
    assert scan(path, data=True).ok


@pytest.fixture
def read_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Path]]:
    """``(source dir, the same dir read-only)``: a read-only bind mount, else monkeypatched."""
    src, view = tmp_path / "src", tmp_path / "ro"
    src.mkdir()
    view.mkdir()
    mounted = _mount("--bind", str(src), str(view)) and _mount(
        "-o", "remount,bind,ro", str(view))
    if not mounted:
        subprocess.run(["umount", str(view)], capture_output=True, check=False)
        view.rmdir()
        view.symlink_to(src)
        monkeypatch.setattr(study_module, "_read_only_media", lambda p: True)
    yield src, view
    if mounted:
        subprocess.run(["umount", "-l", str(view)], check=False)


def test_read_only_media_read_and_refuse_writes_in_one_line(read_only, tmp_path: Path) -> None:
    src, view = read_only
    path = src / "m.h5"
    assert run_python(CLI, "train", "--out", str(path), "--run", "r", "--epochs", "2",
                      "--subset", "200", "--width", "8", "--depth", "1", "--quiet"
                      ).returncode == 0
    from landscape.cli import main

    assert main(["measure", str(path), "--quick", "--quiet"]) == 0
    before = _sha(path)
    ro = view / "m.h5"
    assert load_model(ro, "r") is not None
    assert main(["info", str(ro)]) == 0
    assert main(["measure", str(ro), "--quick", "--quiet"]) == 0  # all stored: reads only
    assert not lock_path(ro).exists() and not lock_path(path).exists()
    with pytest.raises(ReadOnlyStudyError, match="cannot be written"), Study(ro, "a") as st:
        st.create_run("x")
    for args in (["train", "--out", str(ro), "--run", "r2", "--epochs", "1", "--quiet"],
                 ["train", "--out", str(view / "new.h5"), "--run", "r", "--epochs", "1",
                  "--quiet"]):
        out = run_python(CLI, *args)
        assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
        assert "cannot be written (read-only file system or no permission)" in out.stderr
    assert _sha(path) == before


def test_no_space_error_is_raised_before_the_file_is_touched(study_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    with Study(study_path, "a") as st:
        st.create_run("r")
    before = _sha(study_path)
    monkeypatch.setattr(space, "free_bytes", lambda p: space.MARGIN - 1)
    with pytest.raises(NoSpaceError, match="nothing lost; free space and rerun"):
        Study(study_path, "a")
    assert _sha(study_path) == before
