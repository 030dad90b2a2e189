"""Datasets stored as IDX files: any directory of them, Fashion-MNIST and MNIST.

The expected file names are those of the MNIST distribution: for the training split
``train-images-idx3-ubyte`` and ``train-labels-idx1-ubyte``, for the test split
``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each optionally gzip-compressed
(``.gz``); the spelling ``train-images.idx3-ubyte`` of some mirrors is accepted too. Nothing is
ever downloaded.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from landscape.data._common import Split, check_split, labels_tensor, resolve_dir, user_cache_dir
from landscape.data._dataset import LabelledDataset
from landscape.data._idx import read_idx, read_idx_hashed
from landscape.errors import ConfigError, DataFormatError, DataNotFoundError

__all__ = [
    "FASHION_MNIST_CLASSES", "FASHION_MNIST_DEFAULT_DIR", "MNIST_DEFAULT_DIR", "fashion_mnist",
    "idx_dataset", "mnist", "read_idx",
]

DEFAULT_PREFIXES: Mapping[str, str] = {"train": "train", "test": "t10k"}
"""File-name prefix of each split (MNIST convention)."""

FASHION_MNIST_DEFAULT_DIR = Path("/usr/share/datasets/fashion-mnist")
"""Where the Debian package ``dataset-fashion-mnist`` installs the four IDX files."""

MNIST_DEFAULT_DIR = user_cache_dir("mnist")
"""Default MNIST directory, ``$XDG_CACHE_HOME/landscape/mnist`` (``~/.cache/...`` when unset)."""

FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
"""Class names of Fashion-MNIST, by label (Xiao et al. 2017)."""

_FASHION_HINT = (
    "Install the Debian package: `apt-get update && apt-get install -y dataset-fashion-mnist` "
    f"(it puts the files in {FASHION_MNIST_DEFAULT_DIR}/), or pass data_dir=/--data-dir "
    "pointing at a directory holding the four IDX files, or set LANDSCAPE_FASHION_MNIST_DIR."
)
_MNIST_HINT = (
    "Put the four MNIST IDX files train-images-idx3-ubyte, train-labels-idx1-ubyte, "
    "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (each raw or .gz) in {dir}, or pass "
    "data_dir=/--data-dir pointing at the directory holding them, or set LANDSCAPE_MNIST_DIR. "
    "They are never downloaded, and no package registry ships MNIST in IDX form: fetch them "
    "by hand from an MNIST mirror."
)


def _candidates(directory: Path, prefix: str, kind: str, rank: int) -> list[Path]:
    return [directory / f"{prefix}-{kind}{sep}idx{rank}-ubyte{ext}"
            for sep in ("-", ".") for ext in ("", ".gz")]


def _find(directory: Path, prefix: str, kind: str, rank: int, label: str, hint: str) -> Path:
    candidates = _candidates(directory, prefix, kind, rank)
    for path in candidates:
        if path.is_file():
            return path
    where = (f"directory {directory} does not exist" if not directory.is_dir()
             else "looked for " + ", ".join(str(p) for p in candidates))
    raise DataNotFoundError(f"{label} {kind} file not found: {where}. {hint}")


def _images_to_tensor(images: np.ndarray, origin: str) -> torch.Tensor:
    if images.ndim < 2:
        raise DataFormatError(f"{origin}: images need at least 2 dimensions [N, ...], got shape "
                              f"{list(images.shape)}")
    if images.ndim == 3:
        images = images[:, None]  # [N, H, W] -> [N, 1, H, W]
    x = images.astype(np.float32)
    if images.dtype == np.uint8:
        x /= np.float32(255.0)
    return torch.from_numpy(np.ascontiguousarray(x))


def _load_split(directory: Path, split: str, *, dataset: str, label: str, hint: str,
                num_classes: int | None, prefixes: Mapping[str, str] | None,
                params: dict[str, Any]) -> LabelledDataset:
    split = check_split(split)
    prefixes = dict(DEFAULT_PREFIXES if prefixes is None else prefixes)
    if split not in prefixes:
        raise ConfigError(f"split_prefixes has no entry for split {split!r}: {prefixes}")
    prefix = prefixes[split]
    images_path = _find(directory, prefix, "images", 3, label, hint)
    labels_path = _find(directory, prefix, "labels", 1, label, hint)
    images, images_hash = read_idx_hashed(images_path)
    labels, labels_hash = read_idx_hashed(labels_path)
    if labels.ndim != 1:
        raise DataFormatError(f"{labels_path}: labels must be 1-d, got shape {list(labels.shape)}")
    if images.ndim == 0 or images.shape[0] != labels.shape[0]:
        raise DataFormatError(f"{images_path} holds {images.shape[0] if images.ndim else 0} "
                              f"images but {labels_path} holds {labels.shape[0]} labels")
    if num_classes is None:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    y = labels_tensor(labels, num_classes, str(labels_path))
    x = _images_to_tensor(images, str(images_path))
    source = {
        "dataset": dataset, "split": split, "params": {**params, "data_dir": str(directory)},
        "images_file": str(images_path), "labels_file": str(labels_path),
        "images_sha256": images_hash, "labels_sha256": labels_hash,
    }
    return LabelledDataset(x=x, y=y, y_clean=y.clone(), index=torch.arange(len(y)),
                           num_classes=num_classes, name=f"{label}/{split}",
                           source=source)


def idx_dataset(directory: str | os.PathLike[str], split: Split = "train", *, name: str = "idx",
                num_classes: int | None = None,
                split_prefixes: Mapping[str, str] | None = None) -> LabelledDataset:
    """Load one split of an image classification dataset stored as IDX files in ``directory``.

    Images are read from ``{prefix}-images-idx3-ubyte[.gz]`` and labels from
    ``{prefix}-labels-idx1-ubyte[.gz]``, where the prefix is ``"train"`` for the training split
    and ``"t10k"`` for the test split (the MNIST convention; override with ``split_prefixes``).
    Images ``[N, H, W]`` become ``[N, 1, H, W]`` (``[N, D]`` and ``[N, C, H, W]`` stay as they
    are); uint8 pixels are divided by 255, other element types are converted to float32 as they
    are. ``index`` is the position in the file.

    Args:
        directory: the directory holding the files.
        split: ``"train"`` or ``"test"``.
        name: dataset id prefix; the id is ``f"{name}/{split}"``.
        num_classes: number of classes; default: largest label of this split plus one.
        split_prefixes: file-name prefix per split; default ``{"train": "train", "test": "t10k"}``.

    Raises:
        DataNotFoundError: the directory or a file is missing (the message lists the paths).
        DataFormatError: a file is not valid IDX, is truncated, or images and labels disagree.

    Example:
        >>> ds = idx_dataset("/usr/share/datasets/fashion-mnist", "test")  # doctest: +SKIP
        >>> ds.name, ds.input_shape  # doctest: +SKIP
        ('idx/test', (1, 28, 28))
    """
    directory = Path(directory).expanduser()
    params: dict[str, Any] = {"name": name}
    if num_classes is not None:
        params["num_classes"] = int(num_classes)
    if split_prefixes is not None:
        params["split_prefixes"] = dict(split_prefixes)
    hint = f"Put the IDX files in {directory} or pass another directory."
    return _load_split(directory, split, dataset="idx", label=name, hint=hint,
                       num_classes=num_classes, prefixes=split_prefixes, params=params)


def fashion_mnist(split: Split = "train", *,
                  data_dir: str | os.PathLike[str] | None = None) -> LabelledDataset:
    """Load the official 60 000 / 10 000 train / test split of Fashion-MNIST (Xiao et al. 2017).

    x is float32 ``[N, 1, 28, 28]`` in ``[0, 1]``, labels 0-9 (:data:`FASHION_MNIST_CLASSES`).

    Args:
        split: ``"train"`` (60 000 images) or ``"test"`` (10 000 images).
        data_dir: directory holding the four IDX files; default ``$LANDSCAPE_FASHION_MNIST_DIR``
            if set, else :data:`FASHION_MNIST_DEFAULT_DIR` (where the Debian package
            ``dataset-fashion-mnist`` installs them).

    Raises:
        DataNotFoundError: the files are missing; the message names the paths looked at and
            how to install them.

    Example:
        >>> ds = fashion_mnist("test")  # doctest: +SKIP
        >>> len(ds), ds.class_counts.tolist()[:3]  # doctest: +SKIP
        (10000, [1000, 1000, 1000])
    """
    directory = resolve_dir(data_dir, "LANDSCAPE_FASHION_MNIST_DIR", FASHION_MNIST_DEFAULT_DIR)
    return _load_split(directory, split, dataset="fashion-mnist", label="fashion-mnist",
                       hint=_FASHION_HINT, num_classes=10, prefixes=None, params={})


def mnist(split: Split = "train", *,
          data_dir: str | os.PathLike[str] | None = None) -> LabelledDataset:
    """Load the official 60 000 / 10 000 train / test split of MNIST from IDX files you provide.

    x is float32 ``[N, 1, 28, 28]`` in ``[0, 1]``, labels 0-9.

    Args:
        split: ``"train"`` or ``"test"``.
        data_dir: directory holding the four IDX files; default ``$LANDSCAPE_MNIST_DIR`` if set,
            else :data:`MNIST_DEFAULT_DIR`.

    Raises:
        DataNotFoundError: the files are missing; the message says where to put them.

    Example:
        >>> ds = mnist("test", data_dir="~/data/mnist")  # doctest: +SKIP
        >>> ds.input_shape  # doctest: +SKIP
        (1, 28, 28)
    """
    directory = resolve_dir(data_dir, "LANDSCAPE_MNIST_DIR", MNIST_DEFAULT_DIR)
    return _load_split(directory, split, dataset="mnist", label="mnist",
                       hint=_MNIST_HINT.format(dir=directory), num_classes=10, prefixes=None,
                       params={})
