"""scikit-learn's 8×8 handwritten digits, with a seeded stratified train/test split."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
from pathlib import Path

import numpy as np
import torch

from landscape.data._common import Split, check_seed, check_split, round_half_up
from landscape.data._dataset import LabelledDataset
from landscape.data._sampling import choose_per_class, proportional_allocation
from landscape.errors import ConfigError, DataNotFoundError

__all__ = ["DIGITS_NUM_SAMPLES", "digits", "digits_split_indices"]

DIGITS_NUM_SAMPLES = 1797
"""Size of the whole digits dataset (UCI optical recognition of handwritten digits, test part)."""


@functools.lru_cache(maxsize=1)
def _load_raw() -> tuple[np.ndarray, np.ndarray]:
    """Images ``[1797, 8, 8]`` (0..16) and labels, read once per process.

    The CSV that scikit-learn ships (``sklearn/datasets/data/digits.csv.gz``) is read directly,
    which avoids importing scikit-learn (seconds); ``load_digits()`` is the fallback.
    """
    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        raise DataNotFoundError(
            "the digits dataset ships with scikit-learn, which is not installed: "
            "`pip install scikit-learn` (or `pip install landscape[digits]`)")
    csv = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
    try:
        table = np.loadtxt(csv, delimiter=",", dtype=np.float64)
        if table.shape != (DIGITS_NUM_SAMPLES, 65):
            raise ValueError(f"unexpected shape {table.shape}")
        images, target = table[:, :64].reshape(-1, 8, 8), table[:, 64].astype(np.int64)
    except (OSError, ValueError):
        from sklearn.datasets import load_digits

        bunch = load_digits()
        images, target = np.asarray(bunch.images), np.asarray(bunch.target)
    images.setflags(write=False)
    target.setflags(write=False)
    return images, target


def digits_split_indices(labels: np.ndarray, split: Split, *, seed: int = 0,
                         test_fraction: float = 0.25) -> np.ndarray:
    """Sorted positions (in the full dataset) of the seeded stratified ``split`` of ``labels``.

    The test split has ``round(test_fraction · N)`` samples (halves up), spread over classes in
    proportion to their sizes (largest remainder); which samples of each class go to the test
    split is drawn from ``numpy_rng(seed, "digits-split", c)``. The train split is the rest.

    Example:
        >>> y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
        >>> len(digits_split_indices(y, "test", test_fraction=0.5))
        4
    """
    split = check_split(split)
    if not 0.0 < float(test_fraction) < 1.0:
        raise ConfigError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    labels = np.asarray(labels)
    counts = np.bincount(labels)
    n_test = proportional_allocation(counts, round_half_up(float(test_fraction) * labels.size))
    test = np.concatenate(choose_per_class(labels, n_test, check_seed(seed), "digits-split"))
    if split == "test":
        return np.sort(test)
    return np.setdiff1d(np.arange(labels.size), test)  # sorted


def digits(split: Split = "train", *, seed: int = 0,
           test_fraction: float = 0.25) -> LabelledDataset:
    """scikit-learn's 8×8 digits (1797 images, 10 classes) split into train and test by ``seed``.

    Pixels (0-16) are divided by 16, so x is float32 ``[N, 1, 8, 8]`` in ``[0, 1]``. The split is
    stratified and seeded (:func:`digits_split_indices`); with the defaults the test split has
    449 and the train split 1348 samples. The same ``seed`` and ``test_fraction`` always give
    the same split, and its train and test parts are disjoint and together cover all 1797.
    ``index`` is the position within the split; the split itself is recorded in ``source``
    (seed, test fraction and the positions' SHA-256).

    Args:
        split: ``"train"`` or ``"test"``.
        seed: seed of the train/test split (default 0).
        test_fraction: fraction of the samples in the test split (default 0.25, as
            ``sklearn.model_selection.train_test_split``).

    Raises:
        DataNotFoundError: scikit-learn is not installed.

    Example:
        >>> train, test = digits("train"), digits("test")
        >>> len(train), len(test), train.input_shape
        (1348, 449, (1, 8, 8))
    """
    split = check_split(split)
    images, target = _load_raw()
    rows = digits_split_indices(target, split, seed=seed, test_fraction=test_fraction)
    x = torch.from_numpy((images[rows].astype(np.float32) / np.float32(16.0))[:, None])
    y = torch.from_numpy(target[rows].astype(np.int64))
    source = {
        "dataset": "digits", "split": split,
        "params": {"seed": int(seed), "test_fraction": float(test_fraction)},
        "origin": "sklearn.datasets.load_digits", "num_source_samples": int(target.size),
        "source_rows_sha256": _hash_rows(rows),
    }
    return LabelledDataset(x=x, y=y, y_clean=y.clone(), index=torch.arange(len(rows)),
                           num_classes=10, name=f"digits/{split}", source=source)


def _hash_rows(rows: np.ndarray) -> str:
    return hashlib.sha256(np.asarray(rows, dtype="<i8").tobytes()).hexdigest()[:16]
