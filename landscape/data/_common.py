"""Private plumbing shared by the loaders: split names, data directories, label checks."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import torch

from landscape.errors import ConfigError, DataFormatError

Split = Literal["train", "test"]
"""The two splits every loader knows."""

SPLITS: tuple[str, ...] = get_args(Split)


def check_split(split: str) -> Split:
    """``split`` if it is ``"train"`` or ``"test"``, else :class:`ConfigError`."""
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; choose one of {list(SPLITS)}")
    return split  # type: ignore[return-value]


def resolve_dir(data_dir: str | os.PathLike[str] | None, env_var: str, default: Path) -> Path:
    """The directory to read: ``data_dir`` if given, else ``$env_var`` if set, else ``default``."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    from_env = os.environ.get(env_var)
    if from_env:
        return Path(from_env).expanduser()
    return default


def user_cache_dir(name: str) -> Path:
    """``$XDG_CACHE_HOME/landscape/<name>`` (``~/.cache/landscape/<name>`` when unset)."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path("~/.cache").expanduser())
    return Path(root) / "landscape" / name


def check_rate(rate: float, what: str = "rate") -> float:
    """``rate`` as a float if it lies in ``[0, 1]``, else :class:`ConfigError`."""
    try:
        value = float(rate)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be a number in [0, 1], got {rate!r}") from None
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise ConfigError(f"{what} must lie in [0, 1], got {rate!r}")
    return value


def check_seed(seed: int) -> int:
    """``seed`` as an int if it is a non-negative integer, else :class:`ConfigError`."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def round_half_up(value: float) -> int:
    """``value`` rounded to the nearest integer, halves upwards (``2.5 → 3``, unlike ``round``)."""
    return math.floor(value + 0.5)


def labels_tensor(labels: np.ndarray, num_classes: int, origin: str) -> torch.Tensor:
    """Integer ``labels`` as an int64 tensor, or :class:`DataFormatError` naming ``origin``."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DataFormatError(f"{origin}: labels must be a 1-d integer array, got "
                              f"{labels.dtype} of shape {list(labels.shape)}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise DataFormatError(f"{origin}: labels must lie in [0, {num_classes}), got "
                              f"[{int(labels.min())}, {int(labels.max())}]")
    return torch.from_numpy(labels.astype(np.int64, copy=True))
