"""Resumable arrays: NaN + mask, named axes as dimension scales, [ix, iy] on non-square grids."""

from __future__ import annotations

import signal
from pathlib import Path

import numpy as np
import pytest

from landscape.errors import StoreError
from landscape.store import Study, resumable_array
from tests.helpers import run_python


def test_resumable_array_on_a_non_square_grid(study_path: Path) -> None:
    xs, ys = np.linspace(-1, 1, 3), np.linspace(0, 2, 5)
    with Study(study_path, "a") as study:
        g = study.file.create_group("surface")
        arr = resumable_array(g, "loss", {"x": xs, "y": ys}, attrs={"metric": "loss"})
        assert arr.shape == (3, 5)
        assert np.isnan(arr.values()).all() and not arr.computed().any()
        assert len(arr.pending()) == 15
        for i, j in arr.pending()[:7]:
            arr[i, j] = 10 * xs[i] + ys[j]
    with Study(study_path, "a") as study:
        g = study.file["surface"]
        arr = resumable_array(g, "loss", {"x": xs, "y": ys})
        assert arr.axes == ["x", "y"]
        assert arr.pending()[0] == (1, 2)
        for i, j in arr.pending():
            arr[i, j] = 10 * xs[i] + ys[j]
        assert arr.complete
        gx, gy = np.meshgrid(xs, ys, indexing="ij")
        np.testing.assert_array_equal(arr.values(), 10 * gx + gy)
        ds = g["loss"]
        assert ds.dims[0].label == "x" and ds.dims[1].label == "y"
        np.testing.assert_array_equal(ds.dims[1][0][()], ys)
        assert "ij" in ds.attrs["index_convention"]
        assert ds.attrs["metric"] == "loss"


def test_reopening_with_other_axes_is_an_error(study_path: Path) -> None:
    with Study(study_path, "a") as study:
        g = study.file.create_group("m")
        resumable_array(g, "v", {"sigma": [0.1, 0.2]})
        with pytest.raises(StoreError, match="axis 'sigma'"):
            resumable_array(g, "w", {"sigma": [0.1, 0.3]})
        with pytest.raises(StoreError, match="exists with shape"):
            resumable_array(g, "v", {"sigma": [0.1, 0.2]}, trailing=(4,))


def test_a_killed_writer_loses_at_most_the_item_in_flight(study_path: Path) -> None:
    code = """
import sys, time, os, signal
import numpy as np
from landscape.store import Study, resumable_array
with Study(sys.argv[1], "a") as study:
    arr = resumable_array(study.file.require_group("m"), "v", {"i": np.arange(1000)})
    for (i,) in arr.pending():
        arr[i] = i * 0.5  # flushed by the array itself
        if i == 40:
            os.kill(os.getpid(), signal.SIGKILL)
"""
    proc = run_python(code, str(study_path))
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    with Study(study_path, "a") as study:
        arr = resumable_array(study.file["m"], "v", {"i": np.arange(1000)})
        mask, values = arr.computed(), arr.values()
        assert mask[:41].all() and not mask[41:].any()
        np.testing.assert_array_equal(values[:41], np.arange(41) * 0.5)
        assert np.isnan(values[41:]).all()
        assert arr.pending()[0] == (41,)
