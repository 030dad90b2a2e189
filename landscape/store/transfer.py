"""Moving runs and their measurements between study files.

One study file has one writer process (:mod:`landscape.store.writer`). To measure many runs on
several cores, copy each worker's runs into a *shard* file of its own with :func:`copy_runs`,
measure there, and bring the measurements back with :func:`copy_measurements`. Both copy whole
HDF5 groups, attributes and dimension scales included.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from landscape.errors import StoreError
from landscape.store import _schema as S
from landscape.store._copy import copy_group
from landscape.store.study import Study
from landscape.store.writer import writes_study


@writes_study("dst")
def copy_runs(src: str | os.PathLike[str], dst: str | os.PathLike[str], runs: Sequence[str],
              *, replace: bool = False) -> list[str]:
    """Copy the runs ``runs`` of study ``src`` (everything under ``runs/<run>``: provenance,
    history, model, measurements so far) into study ``dst``, created if missing.

    Args:
        src, dst: study files.
        runs: run names in ``src``.
        replace: replace runs that ``dst`` holds already (default: keep them, so that a shard
            keeps its own progress).

    Returns:
        The runs copied.

    Raises:
        StoreError: a run missing from ``src``.
    """
    copied = []
    with Study(src) as source, Study(dst, "a") as target:
        missing = [r for r in runs if not source.has_run(r)]
        if missing:
            raise StoreError(f"{src} has no run(s) {missing}")
        for run in runs:
            if target.has_run(run) and not replace:
                continue
            copy_group(source.file, target.file, f"{S.RUNS}/{run}")
            copied.append(run)
    return copied


@writes_study("dst")
def copy_measurements(src: str | os.PathLike[str], dst: str | os.PathLike[str], run: str
                      ) -> list[str]:
    """Replace the measurements of ``run`` in study ``dst`` by those it has in study ``src``.

    Returns:
        The names of the measurements copied.

    Raises:
        StoreError: ``run`` missing from either file.
    """
    path = f"{S.RUNS}/{run}/{S.MEASUREMENTS}"
    with Study(src) as source, Study(dst, "a") as target:
        source.run(run), target.run(run)  # clear errors for a missing run
        if path not in source.file:
            return []
        copy_group(source.file, target.file, path)
        return sorted(source.file[path].keys())
