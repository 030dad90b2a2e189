"""Reading a run's stored training trajectory (the checkpoints of ``runs/<run>/trajectory``)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from landscape.errors import StoreError
from landscape.store import _schema as S
from landscape.store.models import trajectory_epochs
from landscape.store.study import Study


@dataclass(frozen=True, eq=False)
class Trajectory:
    """The stored checkpoints of a run, float64 and by parameter name.

    Attributes:
        epochs: ``[K]``, the checkpoints' epochs.
        states: ``{name: [K, *shape]}``, the parameters at each checkpoint.
        final: ``{name: array}``, the run's final parameters (``None`` when it has none yet).
    """

    epochs: np.ndarray
    states: dict[str, np.ndarray]
    final: dict[str, np.ndarray] | None


def read_trajectory(path: str | os.PathLike[str], run: str) -> Trajectory:
    """The trajectory of ``run`` (every stored checkpoint; one open of the file).

    Raises:
        StoreError: the run has no trajectory checkpoints.
    """
    with Study(path, "r") as study:
        group = study.run(run)
        if S.TRAJECTORY not in group or "state" not in group[S.TRAJECTORY]:
            raise StoreError(f"run {run!r} in {path} has no trajectory checkpoints")
        traj = group[S.TRAJECTORY]
        epochs = trajectory_epochs(traj)  # committed checkpoints only
        states = {n: np.asarray(ds[: len(epochs)], dtype=np.float64)
                  for n, ds in traj["state"].items()}
        final = group.get(f"{S.MODEL}/{S.PARAMETERS}")
        return Trajectory(epochs=np.asarray(epochs), states=states,
                          final=None if final is None else
                          {n: np.asarray(ds[()], dtype=np.float64) for n, ds in final.items()})
