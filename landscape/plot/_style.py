"""Shared plotting plumbing: a non-interactive backend and one way to save figures."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

if os.environ.get("MPLBACKEND") is None:
    matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.figure import Figure


def save(fig: Figure, path: str | os.PathLike[str], *, dpi: int = 150) -> Path:
    """Save ``fig`` to ``path`` (parent folders created), close it, return the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return out


__all__ = ["plt", "save"]
