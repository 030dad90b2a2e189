"""CIFAR-10 from the files of its "python version" (``cifar-10-python.tar.gz``, extracted).

The archive extracts to ``cifar-10-batches-py/`` holding ``data_batch_1`` ... ``data_batch_5``
(10 000 training images each) and ``test_batch`` (10 000 test images): pickled dicts with
``b"data"`` (uint8 ``[N, 3072]``, each row the 1024 red, then green, then blue values of a 32×32
image, row-major) and ``b"labels"`` (N ints in 0-9), as described on the CIFAR-10 page
(Krizhevsky 2009). Nothing is ever downloaded.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from landscape.data._common import Split, check_split, labels_tensor, resolve_dir, user_cache_dir
from landscape.data._dataset import LabelledDataset
from landscape.errors import DataFormatError, DataNotFoundError

__all__ = ["CIFAR10_CLASSES", "CIFAR10_DEFAULT_DIR", "cifar10"]

CIFAR10_DEFAULT_DIR = user_cache_dir("cifar10")
"""Default directory, ``$XDG_CACHE_HOME/landscape/cifar10`` (``~/.cache/...`` when unset)."""

CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
"""Class names of CIFAR-10, by label."""

_SUBDIR = "cifar-10-batches-py"
_FILES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
_HINT = (
    "Download cifar-10-python.tar.gz by hand from the CIFAR-10 page "
    "(https://www.cs.toronto.edu/~kriz/cifar.html; nothing is downloaded here) and extract it "
    "(`tar xzf cifar-10-python.tar.gz`), then pass data_dir=/--data-dir pointing at the "
    f"extracted {_SUBDIR}/ directory or its parent, or set LANDSCAPE_CIFAR10_DIR."
)

# The only globals a CIFAR-10 batch needs: NumPy array reconstruction (NumPy 1 and 2 spellings,
# pickle protocols 2 to 5) and the bytes codec of protocol-2 pickles written by Python 3.
_ALLOWED_GLOBALS = frozenset({
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),
})


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickles plain containers and NumPy arrays only; any other global is refused."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")
        if module.startswith("numpy."):
            tail = module.split(".", 2)[2]
            for package in ("numpy._core", "numpy.core"):
                try:
                    return getattr(importlib.import_module(f"{package}.{tail}"), name)
                except (ImportError, AttributeError):
                    continue
        return super().find_class(module, name)


def _resolve(directory: Path) -> Path:
    """``directory`` if it holds the batches, else its ``cifar-10-batches-py`` child."""
    for candidate in (directory, directory / _SUBDIR):
        if (candidate / "test_batch").is_file() or (candidate / "data_batch_1").is_file():
            return candidate
    if not directory.is_dir():
        raise DataNotFoundError(f"CIFAR-10 directory {directory} does not exist. {_HINT}")
    raise DataNotFoundError(f"no CIFAR-10 batches in {directory} nor in {directory / _SUBDIR} "
                            f"(looked for data_batch_1..5 and test_batch). {_HINT}")


def _load_batch(path: Path) -> tuple[np.ndarray, np.ndarray, str]:
    """``(data uint8 [N, 3072], labels int64 [N], sha256)`` of one batch file."""
    if not path.is_file():
        raise DataNotFoundError(f"CIFAR-10 batch file {path} is missing. {_HINT}")
    raw = path.read_bytes()
    try:
        batch = _RestrictedUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as err:  # any unpickling failure means the file is not a batch
        raise DataFormatError(f"{path} is not a CIFAR-10 python batch: {err}") from err
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        keys = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise DataFormatError(f"{path} is not a CIFAR-10 python batch: expected a dict with "
                              f"b'data' and b'labels', got {keys}")
    data = batch[b"data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != 3072:
        what = (f"{data.dtype} {list(data.shape)}" if isinstance(data, np.ndarray)
                else type(data).__name__)
        raise DataFormatError(f"{path}: b'data' must be uint8 [N, 3072], got {what}")
    try:
        labels = np.asarray(batch[b"labels"])
    except Exception as err:
        raise DataFormatError(f"{path}: b'labels' is not a list of ints: {err}") from err
    if labels.shape != (data.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise DataFormatError(f"{path}: b'labels' must be {data.shape[0]} integers, got "
                              f"{labels.dtype} {list(labels.shape)}")
    return data, labels.astype(np.int64), hashlib.sha256(raw).hexdigest()[:16]


def cifar10(split: Split = "train", *,
            data_dir: str | os.PathLike[str] | None = None) -> LabelledDataset:
    """Load the official 50 000 / 10 000 train / test split of CIFAR-10 (Krizhevsky 2009).

    x is float32 ``[N, 3, 32, 32]`` in ``[0, 1]`` (uint8 / 255), labels 0-9
    (:data:`CIFAR10_CLASSES`); the training split concatenates ``data_batch_1`` ... ``_5`` in
    order, and ``index`` is the position in that concatenation.

    Args:
        split: ``"train"`` or ``"test"``.
        data_dir: the extracted ``cifar-10-batches-py`` directory or its parent; default
            ``$LANDSCAPE_CIFAR10_DIR`` if set, else :data:`CIFAR10_DEFAULT_DIR`.

    Raises:
        DataNotFoundError: the directory or a batch file is missing (the message names it).
        DataFormatError: a batch file is not a CIFAR-10 python pickle.

    Example:
        >>> ds = cifar10("test", data_dir="~/data")  # doctest: +SKIP
        >>> ds.input_shape  # doctest: +SKIP
        (3, 32, 32)
    """
    split = check_split(split)
    given = resolve_dir(data_dir, "LANDSCAPE_CIFAR10_DIR", CIFAR10_DEFAULT_DIR)
    directory = _resolve(given)
    batches = [_load_batch(directory / name) for name in _FILES[split]]
    data = np.concatenate([b[0] for b in batches])
    labels = np.concatenate([b[1] for b in batches])
    origin = str(directory / _FILES[split][0]) if len(batches) == 1 else str(directory)
    y = labels_tensor(labels, 10, origin)
    x = torch.from_numpy(data.reshape(-1, 3, 32, 32).astype(np.float32) / np.float32(255.0))
    source = {
        "dataset": "cifar10", "split": split, "params": {"data_dir": str(given)},
        "directory": str(directory), "files": list(_FILES[split]),
        "files_sha256": [b[2] for b in batches],
    }
    return LabelledDataset(x=x, y=y, y_clean=y.clone(), index=torch.arange(len(y)),
                           num_classes=10, name=f"cifar10/{split}", source=source)
