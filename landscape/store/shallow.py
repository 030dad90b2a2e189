"""Shallow models in a study file: instances, solutions and their measurements (one run per
instance + learner).

Layout of run ``runs/<name>`` (see :mod:`landscape.store`):

* attributes: ``kind = "shallow"``, ``N``, ``P``, ``alpha`` (``P / (N K)``), ``K``,
  ``instance_seed``, ``seed`` (the learner's), ``learner``, ``protocol``, ``learner_settings``
  (JSON), ``solved``, ``errors``, ``pattern_kind`` and any extra ``attrs``;
* ``instance/xi`` ``[P, N]`` and ``instance/labels`` ``[P]`` (int8 when ±1, float64 otherwise),
  ``instance/teacher`` when given;
* ``solution``: the :class:`~landscape.shallow.results.LearnerResult`
  (:func:`landscape.store.save_result`);
* ``measurements/<name>``: e.g. a :class:`~landscape.shallow.bp.LocalEntropyResult` or a
  :class:`~landscape.shallow.local_energy.LocalEnergyResult`, with the measurement settings.

Example:
    >>> import os, tempfile
    >>> from landscape.shallow import focusing_bp, random_patterns
    >>> from landscape.store.shallow import load_solution, save_solution
    >>> xi, labels = random_patterns(101, 30, seed=0)
    >>> path = os.path.join(tempfile.mkdtemp(), "s.h5")
    >>> _ = save_solution(path, "r0", focusing_bp(xi, labels), xi, labels, instance_seed=0)
    >>> sol = load_solution(path, "r0")
    >>> sol.result.solved, sol.xi.shape, sol.attrs["alpha"]
    (True, (30, 101), 0.297029702970297)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np

from landscape.errors import StoreError
from landscape.shallow.results import LearnerResult
from landscape.store import Study, load_result, read_attrs, save_result, write_array
from landscape.store.writer import writes_study

__all__ = [
    "Solution",
    "list_measurements",
    "load_measurement",
    "load_solution",
    "save_measurement",
    "save_solution",
]

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class Solution:
    """A stored run: the learner's result, the instance and the run attributes."""

    result: LearnerResult
    xi: np.ndarray
    labels: np.ndarray
    attrs: dict[str, Any]
    teacher: np.ndarray | None = None


def _compact(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    return a.astype(np.int8) if a.size and np.all(np.abs(a) == 1) else a


@writes_study("path")
def save_solution(
    path: PathLike,
    run: str,
    result: LearnerResult,
    xi: np.ndarray,
    labels: np.ndarray,
    *,
    instance_seed: int | None = None,
    teacher: np.ndarray | None = None,
    attrs: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> str:
    """Create run ``run`` in the study file ``path`` holding the instance and ``result``.

    Args:
        path: Study file (created if missing). run: Run name (an existing run is an error unless
            ``overwrite``).
        result: What the learner found. xi, labels: The instance (``[P, N]``, ``[P]``).
        instance_seed: Seed the instance was drawn with (provenance; ``-1`` if unknown).
        teacher: Teacher weights of a teacher–student instance.
        attrs: Extra run attributes.

    Returns:
        The run name.
    """
    xi = np.asarray(xi)
    labels = np.asarray(labels)
    if xi.shape != (result.P, result.N) or labels.shape != (result.P,):
        raise StoreError(f"instance of shape {xi.shape} does not match the result "
                         f"(P={result.P}, N={result.N})")
    kind = "binary" if np.all(np.abs(xi) == 1) else "gaussian"
    run_attrs = {
        "kind": "shallow", "N": result.N, "P": result.P, "K": result.K,
        "alpha": result.P / (result.N * result.K),
        "instance_seed": -1 if instance_seed is None else int(instance_seed),
        "seed": result.seed, "learner": result.algorithm, "protocol": result.protocol,
        "learner_settings": result.settings or "{}", "solved": bool(result.solved),
        "errors": int(result.errors), "pattern_kind": kind, **(attrs or {}),
    }
    with Study(path, "a") as study:
        group = study.create_run(run, run_attrs, overwrite=overwrite)
        inst = group.create_group("instance")
        write_array(inst, "xi", _compact(xi), compress=True)
        write_array(inst, "labels", _compact(labels))
        if teacher is not None:
            write_array(inst, "teacher", np.asarray(teacher, dtype=np.float64))
        save_result(group, "solution", result)
    return run


def load_solution(path: PathLike, run: str) -> Solution:
    """Read back what :func:`save_solution` wrote."""
    with Study(path, "r") as study:
        group = study.run(run)
        if "solution" not in group or "instance" not in group:
            raise StoreError(f"run {run!r} of {path} is not a shallow solution run "
                             "(no 'solution'/'instance' group)")
        result = load_result(group["solution"], LearnerResult)
        inst = group["instance"]
        teacher = np.asarray(inst["teacher"][()], np.float64) if "teacher" in inst else None
        return Solution(result=result, xi=np.asarray(inst["xi"][()], dtype=np.float64),
                        labels=np.asarray(inst["labels"][()], dtype=np.float64),
                        attrs=read_attrs(group), teacher=teacher)


@writes_study("path")
def save_measurement(path: PathLike, run: str, name: str, result: Any, *,
                     attrs: dict[str, Any] | None = None) -> None:
    """Store a measurement (any ``to_arrays`` result) as ``measurements/<name>`` of ``run``,
    replacing a previous one of the same name."""
    with Study(path, "a") as study:
        group = study.run(run).require_group("measurements")
        clean = {k: (json.dumps(v) if isinstance(v, (list, tuple, dict)) else v)
                 for k, v in (attrs or {}).items()}
        save_result(group, name, result, attrs=clean)


def list_measurements(path: PathLike, run: str) -> list[str]:
    """Names of the measurements stored with ``run``."""
    with Study(path, "r") as study:
        group = study.run(run)
        return sorted(group["measurements"].keys()) if "measurements" in group else []


def load_measurement(path: PathLike, run: str, name: str) -> Any:
    """Rebuild measurement ``name`` of ``run``."""
    with Study(path, "r") as study:
        group = study.run(run)
        meas: h5py.Group | None = group.get("measurements")
        if meas is None or name not in meas:
            have = sorted(meas.keys()) if meas is not None else []
            raise StoreError(f"run {run!r} has no measurement {name!r}; stored: {have or 'none'}")
        return load_result(meas[name])
