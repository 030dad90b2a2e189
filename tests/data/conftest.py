"""Fixtures of the data tests: tiny IDX files written by hand, and toy datasets."""

from __future__ import annotations

import gzip
import struct
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
import torch

from landscape.data import LabelledDataset

# IDX type code of each NumPy dtype (big-endian on disk), written independently of the reader.
IDX_CODES = {np.dtype("uint8"): 0x08, np.dtype("int8"): 0x09, np.dtype("int16"): 0x0B,
             np.dtype("int32"): 0x0C, np.dtype("float32"): 0x0D, np.dtype("float64"): 0x0E}


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of ``array``: magic ``00 00 TT DD``, big-endian sizes, big-endian data."""
    array = np.asarray(array)
    header = struct.pack(">BBBB", 0, 0, IDX_CODES[array.dtype], array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def _write_idx(path: Path, array: np.ndarray, gz: bool = False) -> Path:
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.fixture
def encode_idx() -> Callable[[np.ndarray], bytes]:
    """``encode_idx(array)``: see :func:`idx_bytes`."""
    return idx_bytes


@pytest.fixture
def write_idx() -> Callable[..., Path]:
    """``write_idx(path, array, gz=False)`` writes ``array`` as an IDX file."""
    return _write_idx


@pytest.fixture
def tiny_idx(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """A directory of MNIST-named IDX files: 7 train and 4 test 5×6 uint8 images, 3 classes."""
    rng = np.random.default_rng(1234)
    arrays = {
        "train-images": rng.integers(0, 256, size=(7, 5, 6), dtype=np.uint8),
        "train-labels": np.array([0, 1, 2, 0, 1, 2, 2], dtype=np.uint8),
        "t10k-images": rng.integers(0, 256, size=(4, 5, 6), dtype=np.uint8),
        "t10k-labels": np.array([2, 0, 1, 1], dtype=np.uint8),
    }
    arrays["train-images"][0, 0, 0], arrays["train-images"][0, 0, 1] = 0, 255
    directory = tmp_path / "tiny-idx"
    directory.mkdir()
    for stem, array in arrays.items():
        rank = 3 if "images" in stem else 1
        _write_idx(directory / f"{stem}-idx{rank}-ubyte.gz", array, gz=True)
    return directory, arrays


def make_toy(counts: Sequence[int], seed: int = 0) -> LabelledDataset:
    """A dataset with ``counts[c]`` samples of class ``c`` in a shuffled order; x = position."""
    labels = np.repeat(np.arange(len(counts)), counts)
    labels = np.random.default_rng(seed).permutation(labels)
    y = torch.from_numpy(labels.astype(np.int64))
    n = len(labels)
    return LabelledDataset(x=torch.arange(n, dtype=torch.float32)[:, None], y=y, y_clean=y.clone(),
                           index=torch.arange(n), num_classes=len(counts), name="toy/train")


@pytest.fixture
def toy() -> Callable[..., LabelledDataset]:
    """``toy(counts, seed=0)``: see :func:`make_toy`."""
    return make_toy
