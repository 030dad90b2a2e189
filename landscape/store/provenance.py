"""Provenance: what produced a result (software versions, git commit, model, parameters' hash)."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import platform
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch import nn

from landscape.models import model_config, registry_name


def now_iso() -> str:
    """Current UTC time as ISO 8601 with seconds."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@lru_cache(maxsize=1)
def git_commit() -> str:
    """The git commit of the ``landscape`` source tree (with ``-dirty``), or ``""`` if unknown."""
    root = Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--",
                                "landscape"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    return sha + ("-dirty" if dirty.strip() else "")


def environment() -> dict[str, str]:
    """Versions of the software that produced a file: package, torch, numpy, h5py, Python, git."""
    from landscape import __version__

    return {
        "landscape_version": __version__,
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "h5py_version": h5py.__version__,
        "hdf5_version": h5py.version.hdf5_version,
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": git_commit(),
    }


def param_hash(model: nn.Module) -> str:
    """SHA-256 (first 16 hex chars) over parameter names, shapes, dtypes and values.

    Two models with the same hash have bit-identical parameters under the same names.
    """
    h = hashlib.sha256()
    for name, p in model.named_parameters():
        t = p.detach().cpu().contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype};".encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return h.hexdigest()[:16]


def model_provenance(model: nn.Module) -> dict[str, Any]:
    """Model class, constructor arguments, sizes, dtype, device and parameter hash."""
    params = list(model.parameters())
    cfg = model_config(model)
    cls = type(model)
    return {
        "model_class": f"{cls.__module__}.{cls.__qualname__}",
        "model_name": registry_name(cls) or "",
        "model_kwargs": json.dumps(cfg["kwargs"] if cfg else None, sort_keys=True),
        "num_params": int(sum(p.numel() for p in params)),
        "num_trainable_params": int(sum(p.numel() for p in params if p.requires_grad)),
        "dtype": str(params[0].dtype).replace("torch.", "") if params else "",
        "device": str(params[0].device) if params else "",
        "param_hash": param_hash(model),
    }


def to_attr(value: Any) -> Any:
    """Convert a Python value into something HDF5 attributes hold (dicts/lists become JSON)."""
    if value is None:
        return "null"
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, default=str)
    if isinstance(value, str):
        return str(value)  # plain str: subclasses such as torch's TorchVersion confuse h5py
    if isinstance(value, (bool, int, float, np.integer, np.floating, np.bool_)):
        return value
    return str(value)
