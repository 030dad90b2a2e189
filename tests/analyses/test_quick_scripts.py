"""Each Fashion-MNIST analysis script runs end to end in its ``--quick`` mode (slow: 1-2 minutes
each on 2 CPU cores), writing its study file and every figure as PNG and PDF; a second run
reads everything back from the study instead of recomputing it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import h5py
import pytest

from tests.helpers import FASHION_MNIST_SKIP

ROOT = Path(__file__).resolve().parents[2]
ANALYSES = ROOT / "analyses"

#: script → the figure stems its --quick run writes.
SCRIPTS = {
    "flatness_generalisation.py": ["flatness_generalisation_correlations",
                                   "flatness_generalisation_correlations_by_model",
                                   "flatness_generalisation_granulated",
                                   "flatness_generalisation_scatter",
                                   "flatness_generalisation_local_energy",
                                   "flatness_generalisation_spectra"],
    "objectives_minima.py": [f"objectives_minima_{m}" for m in (
        "local_energy", "width", "sharpness", "local_entropy", "lambda_max", "trace", "gap")],
    "spectra_objectives.py": ["spectra_objectives_mlp", "spectra_objectives_mlp_overlay"],
}


def _fashion_mnist_available() -> bool:
    from landscape.data import load
    from landscape.errors import DataNotFoundError

    try:
        load("fashion-mnist", "test")
    except DataNotFoundError:
        return False
    return True


def _run(script: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    return subprocess.run(
        [sys.executable, str(ANALYSES / script), "--quick", "--quiet",
         "--out", str(tmp_path / "study.h5"), "--figures", str(tmp_path / "figures")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900, check=False)


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_quick_run_writes_study_and_figures(script: str, tmp_path: Path) -> None:
    if not _fashion_mnist_available():
        pytest.skip(FASHION_MNIST_SKIP)
    done = _run(script, tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    study = tmp_path / "study.h5"
    assert study.is_file()
    with h5py.File(study, "r") as f:
        assert len(f["runs"]) >= 8
    for stem in SCRIPTS[script]:
        for ext in ("png", "pdf"):
            out = tmp_path / "figures" / f"{stem}.{ext}"
            assert out.is_file() and out.stat().st_size > 5_000, out
    tables = list((tmp_path / "figures").glob("*.md"))
    assert tables and "|" in tables[0].read_text()
    assert "done in" in done.stdout
    assert re.search(r"trained [1-9]\d* runs, 0 found", done.stdout), done.stdout[-2000:]
    # a rerun trains and measures nothing: it reads the study back and redraws the figures
    again = _run(script, tmp_path)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert re.search(r"trained 0 runs, [1-9]\d* found", again.stdout), again.stdout[-2000:]
    assert re.search(r"measured 0 \w+, read [1-9]\d* back", again.stdout), again.stdout[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize("script", ["shallow_flat_minima.py", "shallow_ce_minimisers.py"])
def test_shallow_quick_run_writes_study_and_figure(script: str, tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    figure = tmp_path / "figure.png"
    args = [sys.executable, str(ANALYSES / script), "--quick", "--out",
            str(tmp_path / "study.h5"), "--figure", str(figure)]
    done = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=900, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert figure.is_file() and figure.with_suffix(".pdf").is_file()
    with h5py.File(tmp_path / "study.h5", "r") as f:
        runs = list(f["runs"])
        assert any("teacher" in r for r in runs) and len(runs) >= 8
        assert all("measurements" in f["runs"][r] for r in runs
                   if f["runs"][r].attrs.get("solved"))
    again = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=900, check=False)
    assert again.returncode == 0
    assert "solved=" not in again.stdout   # every solution read back, none recomputed
