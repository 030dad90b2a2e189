"""Compacting a study: the lost space goes, every run, result and dimension scale stays."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from landscape.errors import NotAStudyFileError
from landscape.models import build
from landscape.objectives import get
from landscape.store import Study, compact, read_history
from landscape.train import TrainConfig, train


def _old_style_study(path: Path, data) -> None:
    """A study as files were made before free-space tracking, with a deleted 4 MB item."""
    h5py.File(path, "w").close()  # HDF5's default: freed space is lost at close
    train(build("mlp", (4,), 3, seed=0, depth=1, width=8), get("ce"), *data,
          TrainConfig(epochs=3, batch_size=32, checkpoint_every=1), study=path, run="r",
          progress=False)
    with Study(path, "a") as st:
        st.file.create_dataset("checkpoint", data=np.zeros(500_000))
        st.file.create_dataset("result", data=np.arange(10.0))
    with Study(path, "a") as st:
        del st.file["checkpoint"]


def test_compact_reclaims_lost_space_and_keeps_everything(data, tmp_path: Path) -> None:
    path = tmp_path / "old.h5"
    _old_style_study(path, data)
    history = read_history(path, "r")
    with Study(path) as st:
        attrs = dict(st.attrs)
    before, after = compact(path)
    assert before > 4_000_000 and after < before - 3_500_000, (before, after)
    assert after == path.stat().st_size
    assert not path.with_name(path.name + ".compact").exists()
    again = read_history(path, "r")
    assert again.keys() == history.keys()
    for key in history:
        np.testing.assert_array_equal(again[key], history[key])
    with Study(path) as st:
        assert dict(st.attrs) == attrs
        np.testing.assert_array_equal(st.file["result"][()], np.arange(10.0))
        acc = st.file["runs/r/history/train_acc"]
        assert acc.dims[0][0].name.endswith("/epoch")  # the dimension scale is still attached
    # the finished run loads from the compacted file, with the weights it was stored with
    model = build("mlp", (4,), 3, seed=5, depth=1, width=8)
    result = train(model, get("ce"), *data, TrainConfig(epochs=3, batch_size=32,
                   checkpoint_every=1), study=path, run="r", progress=False)
    assert result.resumed_from == 3
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_compact_refuses_a_foreign_file_and_leaves_it(tmp_path: Path) -> None:
    path = tmp_path / "foreign.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=np.arange(3))
    size = path.stat().st_size
    with pytest.raises(NotAStudyFileError):
        compact(path)
    assert path.stat().st_size == size
    assert not path.with_name(path.name + ".compact").exists()
