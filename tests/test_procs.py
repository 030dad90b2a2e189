"""Worker processes die with their parent, even when the parent is killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from landscape._procs import die_with_parent
from tests.helpers import REPO

PARENT = """
import multiprocessing, os, sys, time
from concurrent.futures import ProcessPoolExecutor
from landscape._procs import die_with_parent
if __name__ == "__main__":
    use = sys.argv[1] == "1"
    pool = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"),
                               initializer=die_with_parent if use else None)
    pids = {pool.submit(os.getpid).result() for _ in range(8)}
    futures = [pool.submit(time.sleep, 120) for _ in range(2)]
    print(" ".join(map(str, sorted(pids))), flush=True)
    time.sleep(120)
"""


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] in "ZX"  # a zombie has ended
    except FileNotFoundError:
        return True


def _workers_after_parent_killed(tmp_path: Path, use: bool) -> list[int]:
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    parent = subprocess.Popen([sys.executable, str(script), "1" if use else "0"],
                              stdout=subprocess.PIPE, text=True, env=env)
    assert parent.stdout is not None
    pids = [int(p) for p in parent.stdout.readline().split()]
    assert pids
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not all(_gone(p) for p in pids):
        time.sleep(0.1)
    alive = [p for p in pids if not _gone(p)]
    for pid in alive:
        os.kill(pid, signal.SIGKILL)
    return alive


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and prctl")
def test_workers_die_when_their_parent_is_killed(tmp_path: Path) -> None:
    assert _workers_after_parent_killed(tmp_path, use=True) == []
    assert _workers_after_parent_killed(tmp_path, use=False)  # without it they stay


def test_returns_the_mechanism_used() -> None:
    code = ("from landscape._procs import die_with_parent; print(die_with_parent())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=60)
    assert out.stdout.strip() == ("prctl" if sys.platform.startswith("linux") else "watchdog")
    assert callable(die_with_parent)
