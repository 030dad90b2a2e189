"""The checkpoint seam between long estimators and whatever keeps their progress.

A long estimator (the local-energy curve, one σ at a time; the annealed SGLD chains of the local
entropy, one γ at a time; a loss surface, one row at a time) takes an optional ``checkpoint``:
after every finished item it hands the checkpoint its whole progress as a flat mapping of names
to NumPy arrays, and at its start it asks for the last such mapping to continue from. The
estimator never knows where the arrays go: the measurement layer passes a checkpoint that
commits them into the study file (:class:`landscape.store.measurements.GroupCheckpoint`), a test
passes :class:`MemoryCheckpoint`.

A checkpoint must make each :meth:`Checkpoint.save` atomic: after a crash, :meth:`Checkpoint.load`
returns the previous complete mapping or the new one, never a mixture.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Checkpoint(Protocol):
    """Where an estimator keeps its progress (see the module docstring)."""

    def load(self) -> dict[str, np.ndarray] | None:
        """The last saved progress, or ``None`` when nothing was saved yet."""
        ...

    def save(self, state: Mapping[str, np.ndarray]) -> None:
        """Replace the saved progress by ``state``, atomically."""
        ...


class MemoryCheckpoint:
    """A checkpoint held in memory (tests; resuming within one process).

    Example:
        >>> c = MemoryCheckpoint()
        >>> c.load() is None
        True
        >>> c.save({"done": np.array([1, 0])}); c.load()["done"].tolist(), c.saves
        ([1, 0], 1)
    """

    def __init__(self) -> None:
        self.state: dict[str, np.ndarray] | None = None
        self.saves = 0

    def load(self) -> dict[str, np.ndarray] | None:
        """A copy of the last saved mapping."""
        return None if self.state is None else {k: v.copy() for k, v in self.state.items()}

    def save(self, state: Mapping[str, np.ndarray]) -> None:
        """Keep copies of ``state``'s arrays."""
        self.state = {k: np.array(v, copy=True) for k, v in state.items()}
        self.saves += 1
