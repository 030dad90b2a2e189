"""Every registered measure runs on a stored session_gnn run, from the command line."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from landscape.cli import main
from landscape.compare import MeasureConfig, load_minimum
from landscape.data.sessions import synthetic_sessions
from landscape.models import build
from landscape.objectives import get
from landscape.train import TrainConfig, train


def test_train_store_and_measure_a_session_run(tmp_path: Path, capsys) -> None:
    out = tmp_path / "s.h5"
    kw = {"seed": 0, "num_sessions": 120, "num_items": 25, "num_clusters": 5}
    train_data, test_data = synthetic_sessions("train", **kw), synthetic_sessions("test", **kw)
    model = build("session_gnn", train_data.input_shape, 25, seed=0, hidden=8)
    train(model, get("ce"), train_data, test_data, TrainConfig(epochs=2, batch_size=32),
          study=out, run="r")
    with h5py.File(out, "r") as f:
        history = {k: f[f"runs/r/history/{k}"][()] for k in ("test_recall_at_20", "test_acc")}
    assert np.all(history["test_recall_at_20"] >= history["test_acc"])  # Recall@1 <= @20
    assert main(["measure", str(out), "--quick", "--quiet"]) == 0
    m = load_minimum(out, "r", config=MeasureConfig.quick())
    scalars = m.scalars()
    for name in ("local_energy_error", "width", "sharpness", "local_entropy", "lambda_max",
                 "trace"):
        assert name in scalars and np.isfinite(scalars[name]), name
    assert 0 <= scalars["local_energy_error"] <= 1
