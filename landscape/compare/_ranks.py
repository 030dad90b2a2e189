"""The ranks of a data-parallel measurement (private): who writes the study, what each holds.

Under an initialised ``torch.distributed`` process group of more than one rank (``landscape
measure --distributed`` under ``torchrun``), :func:`~landscape.compare.measure_minimum` runs on
every rank: each rank measures its shard of the run's samples (the operators and the flatness
evaluator all-reduce, :mod:`landscape.distributed`), and rank 0 alone takes the study's writer
lock and commits each result. The ranks agree after each step that can fail on one of them (the
lock, a commit), so a failure on one rank raises on all of them instead of leaving the others
waiting in the next collective.

Example:
    >>> Ranks.current().world           # no process group here
    1
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from landscape.distributed import resolve_group, shard
from landscape.errors import DistributedError


@dataclass(frozen=True)
class Ranks:
    """The process group of a measurement (``group=None``: one process).

    Attributes:
        group: the ``torch.distributed`` group, or ``None``.
        rank, world: this process's rank and the number of ranks.
    """

    group: Any = None
    rank: int = 0
    world: int = 1

    @classmethod
    def current(cls) -> Ranks:
        """The default process group when one is initialised with more than one rank."""
        group = resolve_group("auto")
        if group is None:
            return cls()
        import torch.distributed as dist

        return cls(group, dist.get_rank(group), dist.get_world_size(group))

    @property
    def writer(self) -> bool:
        """Whether this rank writes the study (rank 0)."""
        return self.rank == 0

    def shard(self, data: Any) -> Any:
        """This rank's contiguous share of a :class:`~landscape.data.LabelledDataset`."""
        if self.world == 1:
            return data
        part = shard(len(data), self.rank, self.world)
        return data.select(range(part.start, part.stop))

    def gather(self, value: Any) -> list[Any]:
        """``value`` of every rank (a picklable object), in rank order."""
        if self.world == 1:
            return [value]
        import torch.distributed as dist

        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, value, group=self.group)
        return out

    def agree(self, failure: BaseException | None = None) -> None:
        """Raise on every rank when any rank failed: its own error on the failing rank, a
        :class:`DistributedError` naming it on the others."""
        notes = self.gather(None if failure is None else f"{type(failure).__name__}: {failure}")
        if failure is not None:
            raise failure
        bad = [(r, note) for r, note in enumerate(notes) if note is not None]
        if bad:
            r, note = bad[0]
            raise DistributedError(f"rank {r} failed, so every rank stops: {note}")

    @contextlib.contextmanager
    def writer_lock(self, path: str | os.PathLike[str]) -> Iterator[None]:
        """Rank 0 holds the study's writer lock for the block; every rank enters only when it
        got it (a study locked by another process raises on every rank)."""
        from landscape.store.writer import single_writer

        with contextlib.ExitStack() as stack:
            failure = None
            if self.writer:
                try:
                    stack.enter_context(single_writer(path))
                except Exception as err:  # every rank must learn of it
                    failure = err
            self.agree(failure)
            yield
