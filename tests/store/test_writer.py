"""One writer process per study: a second writer is refused at once, with the first one's pid."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import h5py
import pytest

from landscape.errors import NotAStudyFileError, StoreError, StudyLockedError
from landscape.models import build
from landscape.objectives import get
from landscape.store import list_runs
from landscape.store.writer import lock_path, single_writer, writes_study
from landscape.train import TrainConfig, train
from tests.helpers import REPO, blobs

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="flock is POSIX")

HOLD = """
import sys, time
from landscape.store.writer import single_writer
with single_writer(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(120)
"""


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """Another process holding the writer lock of a study file."""
    path = tmp_path / "study.h5"
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE,
                            text=True, env=env)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    yield path, proc
    proc.kill()
    proc.wait()


def _train(path: Path) -> None:
    train(build("mlp", (4,), 3, seed=0, depth=1, width=8), get("ce"), blobs(), None,
          TrainConfig(epochs=1, batch_size=32), study=path, run="r", progress=False)


def test_a_second_writer_process_is_refused_and_nothing_is_written(holder, capsys) -> None:
    path, proc = holder
    with pytest.raises(StudyLockedError, match=f"another process \\(pid {proc.pid}"):
        _train(path)
    assert list_runs(path) == []
    from landscape.compare import measure_minimum

    with pytest.raises(StoreError):  # no study to read yet: refused before any writing
        measure_minimum(path, "r")
    # the short writers too: a shallow solution, a measurement, the flatness command
    from landscape.cli import main as cli
    from landscape.shallow import focusing_bp, random_patterns
    from landscape.store.shallow import save_measurement, save_solution

    xi, labels = random_patterns(21, 5, seed=0)
    with pytest.raises(StudyLockedError):
        save_solution(path, "s", focusing_bp(xi, labels), xi, labels)
    with pytest.raises(StudyLockedError):
        save_measurement(path, "s", "m", None)
    assert cli(["flatness", str(path), "--run", "r", "--quiet"]) == 2
    err = capsys.readouterr().err  # read first: no such run, refused before writing
    assert "no run 'r'" in err or f"another process (pid {proc.pid}" in err
    assert list_runs(path) == []


def test_the_lock_goes_with_its_process_however_it_ends(holder, capsys) -> None:
    path, proc = holder
    assert lock_path(path).read_text().strip() == str(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    _train(path)
    assert list_runs(path) == ["r"]
    notice = capsys.readouterr().err.strip().splitlines()
    assert notice == [f"landscape: taking over {lock_path(path)} left by pid {proc.pid}, which "
                      "is no longer running"]
    assert not lock_path(path).exists()  # removed when the writer ended


def test_a_hard_link_does_not_get_around_the_lock(holder) -> None:
    path, _proc = holder
    link = path.with_name("other-name.h5")
    os.link(path, link)
    with pytest.raises(StudyLockedError):
        _train(link)
    assert list_runs(path) == []


def test_refused_files_get_no_sidecar_and_no_empty_study_is_left(tmp_path: Path) -> None:
    text = tmp_path / "notes.h5"
    text.write_text("not a study")
    with pytest.raises(NotAStudyFileError):
        _train(text)
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = 1
    with pytest.raises(NotAStudyFileError):
        _train(foreign)
    assert not lock_path(text).exists() and not lock_path(foreign).exists()
    assert text.read_text() == "not a study"
    new = tmp_path / "new.h5"
    with pytest.raises(StoreError, match="invalid run name"):
        train(build("mlp", (4,), 3, seed=0, depth=1, width=8), get("ce"), blobs(), None,
              TrainConfig(epochs=1, batch_size=32), study=new, run="a/b", progress=False)
    assert not new.exists() and not lock_path(new).exists()


def test_re_entrant_released_on_error_and_none_is_free(tmp_path: Path) -> None:
    path = tmp_path / "s.h5"
    calls: list[str] = []

    @writes_study("where")
    def inner(where: Path | None) -> None:
        calls.append("inner")

    with single_writer(path):
        inner(path)  # the same process may nest writers
    with pytest.raises(RuntimeError), single_writer(path):
        raise RuntimeError
    inner(None)
    assert calls == ["inner", "inner"]
    # released: another process can take it now
    code = ("import sys\nfrom landscape.store.writer import single_writer\n"
            "with single_writer(sys.argv[1]):\n    print('ok')")
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                         text=True, env=env, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr
