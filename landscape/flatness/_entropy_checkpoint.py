"""Per-γ checkpoints of the annealed SGLD chains of :func:`~.local_entropy.local_entropy`
(private).

The chains visit the γ values from large to small, each warm-started from the last state at the
previous γ, so a measurement cannot resume at an arbitrary γ from its records alone: it needs the
chains themselves. After every γ, :class:`StudyCheckpoint` writes into one of two slots
``progress/slot0`` and ``progress/slot1`` of the measurement's group

- ``records/{dist,loss}`` ``[k, C]`` and ``progress/records/{drift,cv}`` ``[k]`` with a
  ``done`` mask ``[k]`` (the per-γ results),
- ``state/<param>`` and ``shadow/<param>`` ``[C, *shape]`` (the chains and their
  flat shadow chains), the shadow variance ``v`` as an attribute, and
- ``rng/{noise,batch}`` ``[C, L]`` uint8 (the states of every chain's random streams),

then points the attribute ``progress.current`` at that slot. The slots alternate, so a job
killed while writing one leaves the other, the previous γ's checkpoint, intact and current; the
datasets are overwritten in place (HDF5 does not reclaim deleted space). A resumed run
restores all of it and continues with the next γ: it is bit-identical to an uninterrupted run on
the same machine and thread count, and finished γ values are never recomputed. The group carries
``partial = True`` until the complete result replaces it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["Records", "StudyCheckpoint"]


@dataclass
class Records:
    """Per-γ results so far: float64 ``dist``/``loss`` ``[k, C]``, ``drift``/``cv`` ``[k]``,
    and the ``done`` mask ``[k]``."""

    dist: np.ndarray
    loss: np.ndarray
    drift: np.ndarray
    cv: np.ndarray
    done: np.ndarray

    @classmethod
    def empty(cls, k: int, num_chains: int) -> Records:
        return cls(dist=np.full((k, num_chains), np.nan), loss=np.full((k, num_chains), np.nan),
                   drift=np.full(k, np.nan), cv=np.zeros(k), done=np.zeros(k, dtype=bool))


def _gen_states(gens: list[torch.Generator]) -> np.ndarray:
    return np.stack([g.get_state().numpy() for g in gens])


def _set_gen_states(gens: list[torch.Generator], states: np.ndarray) -> None:
    for g, s in zip(gens, states):
        g.set_state(torch.from_numpy(np.ascontiguousarray(s, dtype=np.uint8)))


class StudyCheckpoint:
    """Reads and writes the checkpoint of one local-entropy measurement in a study file.

    Args:
        path, run, name: the study file, the run and the measurement's name; the group
            ``runs/<run>/measurements/<name>`` must exist (created by the caller with its
            settings) and be marked ``partial``.
    """

    def __init__(self, path: str | os.PathLike[str], run: str, name: str) -> None:
        self.path, self.run, self.name = path, run, name

    def _group(self, study: Any) -> Any:
        from landscape.store._schema import MEASUREMENTS

        return study.run(self.run)[MEASUREMENTS][self.name]

    def load(self, chains: Any, k: int) -> tuple[Records, dict[str, torch.Tensor]] | None:
        """The stored records and chain state (and ``chains``' shadow chains and random streams
        restored), or ``None`` when no γ has been finished yet."""
        from landscape.errors import StoreError
        from landscape.store import Study

        with Study(self.path, "r") as study:
            g = self._group(study)
            if "progress" not in g or "current" not in g["progress"].attrs:
                return None
            p = g["progress"][f"slot{int(g['progress'].attrs['current'])}"]
            rec = Records(dist=p["records/dist"][()], loss=p["records/loss"][()],
                          drift=p["records/drift"][()], cv=p["records/cv"][()],
                          done=p["records/done"][()].astype(bool))
            if rec.dist.shape != (k, chains.num_chains) or not rec.done.any():
                raise StoreError(f"{g.name}: the stored checkpoint does not match this "
                                 "measurement; use overwrite=True to start again")
            kw = {"device": chains.device, "dtype": chains.dtype}
            state = {n: torch.as_tensor(p["state"][n][()], **kw) for n in chains.names}
            chains.u = {n: torch.as_tensor(p["shadow"][n][()], **kw) for n in chains.names}
            chains.v = float(p["shadow"].attrs["v"])
            _set_gen_states(chains.noise_gens, p["rng/noise"][()])
            _set_gen_states(chains.batch_gens, p["rng/batch"][()])
        return rec, state

    def save(self, records: Records, state: dict[str, torch.Tensor], chains: Any) -> None:
        """Write the records, the chains, their shadows and random streams (file closed after)."""
        from landscape.store import Study
        from landscape.store.arrays import write_array

        with Study(self.path, "a") as study:
            progress = self._group(study).require_group("progress")
            slot = 1 - int(progress.attrs.get("current", 1))
            p = progress.require_group(f"slot{slot}")
            for key in ("dist", "loss", "drift", "cv"):
                write_array(p, f"records/{key}", getattr(records, key))
            for n in chains.names:
                write_array(p, f"state/{n}", state[n].detach().cpu().numpy())
                write_array(p, f"shadow/{n}", chains.u[n].detach().cpu().numpy())
            p["shadow"].attrs["v"] = float(chains.v)
            write_array(p, "rng/noise", _gen_states(chains.noise_gens))
            write_array(p, "rng/batch", _gen_states(chains.batch_gens))
            write_array(p, "records/done", records.done.astype(np.uint8))
            study.file.flush()
            progress.attrs["current"] = slot
