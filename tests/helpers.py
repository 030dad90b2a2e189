"""Helpers shared by the tests: tiny in-memory datasets and fresh interpreters."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from landscape.data._dataset import LabelledDataset

REPO = Path(__file__).resolve().parents[1]

FASHION_MNIST_INSTALL = "apt-get update && apt-get install -y dataset-fashion-mnist"
FASHION_MNIST_SKIP = ("Fashion-MNIST is not installed: it comes from the Debian package "
                      f"dataset-fashion-mnist; install it with `{FASHION_MNIST_INSTALL}` (as root; "
                      ".ci/run does this) to run these tests")


def blobs(n: int = 120, dim: int = 4, classes: int = 3, seed: int = 0,
          name: str = "blobs/train") -> LabelledDataset:
    """Well-separated Gaussian blobs (fixed centres; ``seed`` draws the samples), built here so
    these tests need no loader."""
    centres = 4.0 * torch.randn(classes, dim, generator=torch.Generator().manual_seed(1234))
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    x = centres[y] + torch.randn(n, dim, generator=gen)
    return LabelledDataset(x=x, y=y.clone(), y_clean=y.clone(), index=torch.arange(n),
                           num_classes=classes, name=name)


def run_python(code: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter with the repository importable."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def stored_measurements(path: Path) -> dict[str, object]:
    """Every stored measurement array of a study file by its HDF5 path (timings left out), to
    compare two studies value for value."""
    import h5py

    out: dict[str, object] = {}
    with h5py.File(path, "r") as f:
        def visit(name: str, obj: object) -> None:
            if isinstance(obj, h5py.Dataset) and "/measurements/" in name \
                    and "seconds" not in name:
                out[name] = obj[()]
        f.visititems(visit)
    return out
