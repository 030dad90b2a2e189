"""A tiny study with trained runs of two objectives, measured once per test session."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from landscape.cli import main
from landscape.compare import MeasureConfig

#: Smaller still than MeasureConfig.quick(): the tiny MLP of these tests has 2 × 6 + 6 × 2 + 8
#: weights, measured on 200 of its 1000 training samples.
TINY = dataclasses.replace(MeasureConfig.quick(), num_samples=200, gammas=(3e3, 3e4),
                           entropy_burn_in=10, entropy_steps=10, topk=2, trace_matvecs=9,
                           density_steps=8)

RUNS = (("ce", 0), ("mse", 0), ("ce", 1))


@pytest.fixture(scope="session")
def tiny_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A study with three finished runs (CE seeds 0 and 1, MSE seed 0) on a Gaussian mixture."""
    path = tmp_path_factory.mktemp("compare") / "study.h5"
    for objective, seed in RUNS:
        assert main(["train", "--dataset", "gaussian-mixture", "--width", "6", "--depth", "1",
                     "--epochs", "3", "--objective", objective, "--seed", str(seed),
                     "--out", str(path), "--run", f"{objective}-{seed}", "--quiet"]) == 0
    return path


@pytest.fixture(scope="session")
def measured(tiny_study: Path) -> list:
    """The :class:`MinimumMeasures` of every run of :func:`tiny_study` under :data:`TINY`."""
    from landscape.compare import measure_minimum

    return [measure_minimum(tiny_study, f"{o}-{s}", config=TINY) for o, s in RUNS]
