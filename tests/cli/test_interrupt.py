"""Ctrl-C: during a command it exits 130 with one line; after the command ended, too."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import run_python

LATE = """
import atexit, os, signal, sys, time
from landscape.cli import main
def late():  # Ctrl-C while Python shuts down, after the command finished
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(5)
atexit.register(late)
sys.exit(main(sys.argv[1:]))
"""


def test_ctrl_c_after_the_command_ended_exits_130_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "s.h5"
    out = run_python(LATE, "train", "--out", str(path), "--run", "r", "--epochs", "1",
                     "--subset", "100", "--width", "8", "--depth", "1", "--quiet")
    assert out.returncode == 130, out.stderr
    assert "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines() == [
        "landscape: interrupted after the command finished; everything it stored is complete"]
    assert "r: trained 1 epochs" in out.stdout
