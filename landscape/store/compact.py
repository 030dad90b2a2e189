"""Rewriting a study file without the space that deleted items left behind.

HDF5 does not give freed space back to the file system. Study files created before free-space
tracking (:func:`landscape.store.study._open`) lost the space of every deleted item for good:
mostly the SGLD checkpoints of local entropy, deleted after each run's measurement (objectives
study of 99 MLPs: 3.3 GB on disk for 1.6 GB of data). :func:`compact` copies the study into a
fresh file, whose free space is then tracked, and replaces the original only once the copy is
complete and checked, so an interrupted compaction loses nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py

from landscape.errors import StoreError
from landscape.store._copy import reattach, scales
from landscape.store.study import Study
from landscape.store.writer import writes_study


def _datasets(group: h5py.Group) -> dict[str, tuple[tuple[int, ...], str]]:
    found: dict[str, tuple[tuple[int, ...], str]] = {}

    def visit(name: str, obj: h5py.HLObject) -> None:
        if isinstance(obj, h5py.Dataset):
            found[name] = (obj.shape, str(obj.dtype))

    group.visititems(visit)
    return found


@writes_study("path")
def compact(path: str | os.PathLike[str]) -> tuple[int, int]:
    """Rewrite the study at ``path`` into a fresh file without its lost space.

    Every group, dataset and attribute is copied, and the dimension scales are attached again.
    The copy is written next to the original as ``<file>.compact``, checked to hold the same
    datasets and scales, and then renamed over it.

    Args:
        path: the study file; no other process may be writing it (it takes the writer lock).

    Returns:
        ``(bytes before, bytes after)``.

    Raises:
        StoreError: not a study file, or the copy does not match (the original is then kept).
        StudyLockedError: another process is writing the study.

    Example:
        >>> import tempfile
        >>> from landscape.store import Study
        >>> path = tempfile.mktemp(suffix=".h5")
        >>> with Study(path, "a") as st:
        ...     _ = st.file.create_dataset("big", data=list(range(100_000)))
        >>> with Study(path, "a") as st:
        ...     del st.file["big"]
        >>> before, after = compact(path)
        >>> after <= before
        True
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".compact")
    before = path.stat().st_size if path.exists() else 0
    try:
        with Study(path, "r") as study, \
                h5py.File(tmp, "w", fs_strategy="fsm", fs_persist=True) as dst:
            src = study.file
            for key, value in src.attrs.items():
                dst.attrs[key] = value
            for name in src:
                src.copy(src[name], dst, name=name)
            attached = scales(src)
            reattach(dst, attached)
            if _datasets(dst) != _datasets(src) or scales(dst) != attached:
                raise StoreError(f"the compacted copy of {path} does not hold the same "
                                 "datasets; the original is unchanged")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
    return before, path.stat().st_size
