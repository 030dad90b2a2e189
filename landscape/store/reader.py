"""Reading study files back: attributes and arrays as plain Python and NumPy objects.

Each function opens the file read-only for the duration of the call, so it can be used while a
training job writes to the same file between its epochs.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Literal

import h5py
import numpy as np

from landscape.errors import StoreError
from landscape.store import _schema as S
from landscape.store.study import Study, read_attrs

if TYPE_CHECKING:
    from landscape.data import LabelledDataset

PathLike = str | os.PathLike[str]


def list_runs(path: PathLike) -> list[str]:
    """Names of the runs in a study file."""
    with Study(path) as study:
        return study.runs()


def run_attrs(path: PathLike, run: str) -> dict[str, Any]:
    """The decoded provenance attributes of ``run`` (JSON-valued ones as dicts/lists)."""
    with Study(path) as study:
        return study.run_attrs(run)


def read_arrays(path: PathLike, group: str) -> dict[str, np.ndarray]:
    """Every dataset directly under ``group`` (e.g. ``"runs/r/history"``) as a NumPy array."""
    with Study(path) as study:
        if group not in study.file or not isinstance(study.file[group], h5py.Group):
            raise StoreError(f"{path} has no group {group!r}")
        return {k: ds[()] for k, ds in study.file[group].items()
                if isinstance(ds, h5py.Dataset)}


def read_group_attrs(path: PathLike, group: str) -> dict[str, Any]:
    """The decoded attributes of any group or dataset in the file."""
    with Study(path) as study:
        if group not in study.file:
            raise StoreError(f"{path} has no object {group!r}")
        return read_attrs(study.file[group])


def read_history(path: PathLike, run: str) -> dict[str, np.ndarray]:
    """Per-epoch metrics of ``run``: ``{"epoch": [E+1], "train_loss": [E+1], ...}`` (NaN where an
    epoch is not computed yet; index 0 is the initialisation)."""
    arrays = read_arrays(path, f"{S.RUNS}/{run}/{S.HISTORY}")
    return {k: v for k, v in arrays.items() if not k.endswith(S.COMPUTED_SUFFIX)}


def load_run_data(path: PathLike, run: str, split: Literal["train", "test"] = "train", *,
                  data_dir: PathLike | None = None) -> LabelledDataset:
    """Rebuild the training (or test) set of ``run`` from its recorded provenance.

    The source is loaded again and the recorded transforms (label noise, long tail, subsets) are
    re-applied with their seeds; the result is checked against the stored size and hash of the
    sample indices, so a measurement sees exactly the data the model was trained on.

    Args:
        path: study file.
        run: run name.
        split: ``"train"`` or ``"test"``.
        data_dir: where the dataset's files are now, if they moved since training.
    """
    from landscape.data import rebuild

    key = {"train": "dataset", "test": "test_dataset"}[split]
    description = run_attrs(path, run).get(key)
    if not isinstance(description, dict):
        raise StoreError(f"run {run!r} in {path} records no {split} dataset to rebuild")
    return rebuild(description, data_dir=data_dir)
