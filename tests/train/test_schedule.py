"""The learning-rate schedule never wastes an epoch; a zero-epoch run says it trained nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from landscape.models import build
from landscape.objectives import get
from landscape.train import TrainConfig, lr_factor, train


@pytest.mark.parametrize("epochs", [1, 2, 3, 20, 200])
def test_cosine_starts_at_lr_and_ends_above_the_floor(epochs: int) -> None:
    for lr_min in (0.0, 1e-3):
        config = TrainConfig(epochs=epochs, lr=0.05, lr_min=lr_min)
        lrs = np.array([config.lr * lr_factor(e, config) for e in range(epochs)])
        assert lrs[0] == config.lr
        assert (lrs > lr_min).all() and (lrs > 0).all()
        assert (np.diff(lrs) < 0).all()
        # torch's CosineAnnealingLR(T_max=epochs) stepped once per epoch
        expected = lr_min + (0.05 - lr_min) * (1 + np.cos(np.pi * np.arange(epochs) / epochs)) / 2
        np.testing.assert_allclose(lrs, expected, rtol=1e-12)


def test_a_two_epoch_run_trains_in_both_epochs(data) -> None:
    model = build("mlp", (4,), 3, seed=0, depth=1, width=8)
    h = train(model, get("ce"), *data, TrainConfig(epochs=2, batch_size=40), progress=False).history
    np.testing.assert_allclose(h["lr"], [np.nan, 0.05, 0.025])
    assert h["train_loss"][2] != h["train_loss"][1]


def test_lr_min_above_lr_is_refused() -> None:
    from landscape.errors import ConfigError

    with pytest.raises(ConfigError, match="lr_min"):
        TrainConfig(lr=0.01, lr_min=0.1)


def test_zero_epochs_says_nothing_was_trained(tmp_path: Path, capsys) -> None:
    from landscape.cli import main

    args = ["train", "--dataset", "gaussian-mixture", "--epochs", "0", "--width", "8",
            "--out", str(tmp_path / "s.h5"), "--run", "zero", "--quiet"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "zero: nothing trained (--epochs 0)" in out and ": trained" not in out
    assert main([*args[:4], "2", *args[5:], "--run", "two"]) == 0
    assert "two: trained 2 epochs" in capsys.readouterr().out


def test_track_curvature_option(tmp_path: Path, capsys) -> None:
    from landscape.cli import main
    from landscape.store.reader import read_history

    out = tmp_path / "s.h5"
    args = ["train", "--dataset", "gaussian-mixture", "--epochs", "3", "--width", "8",
            "--out", str(out), "--run", "t", "--quiet", "--track-curvature", "2epochs",
            "--track-samples", "64", "--plot", str(tmp_path / "c.png")]
    assert main(args) == 0
    assert "lambda_max" in capsys.readouterr().out
    lam = read_history(out, "t")["lambda_max"]
    np.testing.assert_array_equal(np.isfinite(lam), [True, False, True, True])
    assert (tmp_path / "c.png").stat().st_size > 10_000
    with pytest.raises(SystemExit):
        main([*args[:-2], "--track-curvature", "2 batches"])
    assert "expected N, Nepochs or Nsteps" in capsys.readouterr().err
