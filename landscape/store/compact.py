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
from typing import Any

import h5py

from landscape.errors import StoreError
from landscape.store.study import Study
from landscape.store.writer import writes_study


def _scales(file: h5py.File) -> dict[str, list[list[str]]]:
    """``{dataset: [[scale paths] per dimension]}`` of every dataset with attached scales.

    The scales are named through their object addresses: naming an object reached by reference
    (``h5py``'s ``.name``) searches the whole file, hours for a study of a hundred runs.
    """
    names: dict[int, str] = {}
    refs: dict[str, Any] = {}

    def visit(name: str, obj: h5py.HLObject) -> None:
        if isinstance(obj, h5py.Dataset):
            names[h5py.h5o.get_info(obj.id).addr] = "/" + name
            if "DIMENSION_LIST" in obj.attrs:
                refs["/" + name] = obj.attrs["DIMENSION_LIST"]

    file.visititems(visit)
    return {name: [[names[h5py.h5o.get_info(file[r].id).addr] for r in dim] for dim in dims]
            for name, dims in refs.items()}


def _reattach(dst: h5py.File, scales: dict[str, list[list[str]]]) -> None:
    """Attach the dimension scales again: after a copy between files the object references
    that attached them are void, so the attributes holding them are rebuilt."""
    for name in {s for dims in scales.values() for scale in dims for s in scale}:
        if "REFERENCE_LIST" in dst[name].attrs:
            del dst[name].attrs["REFERENCE_LIST"]
    for name, dims in scales.items():
        ds = dst[name]
        del ds.attrs["DIMENSION_LIST"]
        for i, scale_names in enumerate(dims):
            for scale in scale_names:
                ds.dims[i].attach_scale(dst[scale])


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
            scales = _scales(src)
            _reattach(dst, scales)
            if _datasets(dst) != _datasets(src) or _scales(dst) != scales:
                raise StoreError(f"the compacted copy of {path} does not hold the same "
                                 "datasets; the original is unchanged")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
    return before, path.stat().st_size
