"""SIGKILL at random moments of training and of measuring: every kill leaves a readable file
whose states agree, and every resumed run ends bit-identical to the uninterrupted one.

Slow (minutes): ``pytest -m slow tests/store/test_crash.py -s`` prints the counts. The number of
kills is ``LANDSCAPE_STRESS_KILLS`` (default 110: 70 while training, 40 while measuring).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from landscape.store import Study
from landscape.store import _schema as S
from landscape.store.commit import verify
from landscape.store.integrity import scan
from landscape.store.models import _row_digest, trajectory_epochs
from tests.helpers import REPO

pytestmark = pytest.mark.slow

TRAIN = ["train", "--run", "r", "--epochs", "30", "--subset", "200", "--width", "16",
         "--depth", "1", "--batch-size", "32", "--checkpoint-every", "1", "--quiet"]
#: Values that depend on the clock, not on the computation.
CLOCK = ("epoch_seconds", "seconds", "created", "finished", "time")


def _cli(*args: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "landscape", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _run(*args: str) -> float:
    t0 = time.perf_counter()
    proc = _cli(*args)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err.decode()
    return time.perf_counter() - t0


def _kill_at(delay: float, *args: str) -> float | None:
    """Start the command and SIGKILL it after ``delay`` s; ``None`` if it was killed, else the
    seconds it took to finish (the machine's load changes: the caller adapts its kill times)."""
    t0 = time.perf_counter()
    proc = _cli(*args)
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return None
    assert proc.returncode == 0, proc.stderr.read().decode() if proc.stderr else ""
    return time.perf_counter() - t0


def _torn(path: Path) -> list[str]:
    """The states in the file whose parts disagree."""
    found: list[str] = []
    with Study(path) as study:
        for run in study.runs():
            group = study.run(run)
            for name in (S.RESUME, S.MODEL):
                if name in group and not verify(group[name]):
                    found.append(f"{run}/{name}")
            if S.TRAJECTORY in group and "digest" in group[S.TRAJECTORY]:
                traj = group[S.TRAJECTORY]
                epochs = trajectory_epochs(traj)
                if len(set(epochs.tolist())) != len(epochs):
                    found.append(f"{run}/trajectory epochs {epochs.tolist()}")
                for k, epoch in enumerate(epochs):
                    state = {n: ds[k] for n, ds in traj["state"].items()}
                    if traj["digest"][k] != _row_digest(int(epoch), state):
                        found.append(f"{run}/trajectory row {k}")

            def sealed(name: str, obj: h5py.HLObject, run: str = run) -> None:
                if isinstance(obj, h5py.Group) and "digest" in obj.attrs and not verify(obj) \
                        and not name.endswith((".new", ".old")):
                    found.append(f"{run}/{name}")

            group.visititems(sealed)
    return found


def _readable(path: Path) -> bool:
    try:
        with Study(path) as study:
            study.runs()
    except Exception:
        return False
    return scan(path, data=True).ok


def _arrays(path: Path, where: str) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        def visit(name: str, obj: h5py.HLObject) -> None:
            if isinstance(obj, h5py.Dataset) and not any(c in name for c in CLOCK) \
                    and ".new/" not in name and ".old/" not in name:
                out[name] = obj[()]
        f[where].visititems(visit)
        if where.endswith("/r"):
            out["param_hash"] = np.array(str(f[where].attrs["param_hash"]))
    return out


def _same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> list[str]:
    def differ(k: str) -> bool:
        if k not in a or k not in b or a[k].shape != b[k].shape:
            return True
        return not np.array_equal(a[k], b[k], equal_nan=a[k].dtype.kind == "f")

    return sorted(k for k in a.keys() | b.keys() if differ(k))


def _after_start(rng: random.Random, t_start: float, t_total: float) -> float:
    """A kill time uniform over the work after start-up (``t_start``) of a ``t_total`` s command."""
    return t_start + rng.uniform(0.05, 1.0) * max(t_total - t_start, 0.1)


def test_kills_while_training_and_measuring_lose_nothing(tmp_path: Path) -> None:
    total = int(os.environ.get("LANDSCAPE_STRESS_KILLS", "110"))
    train_kills, measure_kills = round(total * 0.64), total - round(total * 0.64)
    rng = random.Random(0)
    ref = tmp_path / "ref.h5"
    t_start = _run("--version")  # interpreter and imports: a kill there tests nothing
    t_train = _run(*TRAIN, "--out", str(ref))
    reference = _arrays(ref, "runs/r")
    measured = tmp_path / "measured.h5"
    shutil.copy(ref, measured)
    t_measure = _run("measure", str(measured), "--quick", "--quiet")
    reference_m = _arrays(measured, "runs/r/measurements")
    counts = {"kills_training": 0, "kills_measuring": 0, "torn": 0, "unreadable": 0,
              "runs_completed": 0, "measures_completed": 0, "differing": 0}
    problems: list[str] = []

    def after_kill(path: Path) -> None:
        print(f"crash stress so far: {counts}", flush=True)
        if not _readable(path):
            counts["unreadable"] += 1
            problems.append(f"unreadable after kill: {path.name}")
            return
        torn = _torn(path)
        counts["torn"] += bool(torn)
        problems.extend(torn)

    def finish(path: Path, args: list[str], where: str, want: dict[str, np.ndarray], key: str
               ) -> None:
        _run(*args)
        diff = _same(want, _arrays(path, where))
        counts["differing"] += bool(diff)
        problems.extend(f"{path.name}: {d} differs" for d in diff[:5])
        counts[key] += 1

    attempt = 0
    while counts["kills_training"] < train_kills:
        path = tmp_path / f"train{attempt}.h5"
        attempt += 1
        args = [*TRAIN, "--out", str(path)]
        for k in range(6):  # a few kills into each run, then let it finish
            if counts["kills_training"] >= train_kills:
                break
            took = _kill_at(_after_start(rng, t_start, t_train), *args)
            if took is not None:  # finished first: the machine got faster, aim earlier
                t_train = took if k == 0 else t_train  # (a resumed run has less to do)
            else:
                counts["kills_training"] += 1
                if path.exists():
                    after_kill(path)
        if path.exists():
            finish(path, args, "runs/r", reference, "runs_completed")
    attempt = 0
    while counts["kills_measuring"] < measure_kills:
        path = tmp_path / f"measure{attempt}.h5"
        attempt += 1
        shutil.copy(ref, path)
        args = ["measure", str(path), "--quick", "--quiet"]
        for k in range(4):
            if counts["kills_measuring"] >= measure_kills:
                break
            took = _kill_at(_after_start(rng, t_start, t_measure), *args)
            if took is not None:
                t_measure = took if k == 0 else t_measure
            else:
                counts["kills_measuring"] += 1
                after_kill(path)
        finish(path, args, "runs/r/measurements", reference_m, "measures_completed")
    print(f"\ncrash stress: {counts}; start-up {t_start:.1f} s, training {t_train:.1f} s, "
          f"measuring {t_measure:.1f} s")
    assert counts["torn"] == 0 and counts["unreadable"] == 0 and counts["differing"] == 0, \
        (counts, problems[:20])
