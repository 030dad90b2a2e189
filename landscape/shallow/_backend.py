"""Array backends of the BP kernels (private): ``"numpy"`` (SciPy) or ``"torch"`` (any device).

The kernels keep their messages on the backend and hand everything else (fields, free
entropies, weights) back as float64 NumPy arrays, so the learners above them never see the
backend. ``"torch"`` runs in float64 on the device given (default ``"cpu"``); on one CPU thread
it is the faster of the two (vectorised ``erfc``/``tanh``, see :mod:`landscape.shallow._bp_torch`).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from landscape.errors import ConfigError

Backend = Literal["numpy", "torch"]
BACKENDS = ("numpy", "torch")
DEFAULT_BACKEND: Backend = "torch"


def resolve(backend: str, device: str | torch.device | None) -> torch.device | None:
    """Check a backend/device pair; returns the torch device (``None`` for ``"numpy"``).

    Raises:
        ConfigError: unknown backend, a device with ``"numpy"``, or a CUDA device without CUDA.
    """
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; use 'numpy' or 'torch'")
    if backend == "numpy":
        if device is not None and str(device) != "cpu":
            raise ConfigError(f"backend 'numpy' runs on the CPU only, got device {device!r}")
        return None
    try:
        dev = torch.device("cpu" if device is None else device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"not a torch device: {device!r}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} asked for, but CUDA is not available")
    return dev


def to_backend(array: np.ndarray, device: torch.device | None) -> np.ndarray | torch.Tensor:
    """A float64 copy of ``array`` on the backend (NumPy when ``device`` is ``None``)."""
    if device is None:
        return np.array(array, dtype=np.float64)
    return torch.tensor(np.asarray(array, dtype=np.float64), dtype=torch.float64, device=device)


def to_numpy(array: np.ndarray | torch.Tensor) -> np.ndarray:
    """A float64 NumPy view or copy of a backend array."""
    if isinstance(array, torch.Tensor):
        return array.detach().to("cpu", torch.float64).numpy()
    return np.asarray(array, dtype=np.float64)
