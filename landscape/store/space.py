"""Free space before writing: a full disk must stop a write before it starts.

HDF5 does not fail cleanly when the disk fills up in the middle of a write: the bookkeeping it
flushes at close is then written in part, and the file can no longer be opened. So every write
first asks the file system for room (:func:`ensure_space`): the bytes about to be written plus
:data:`MARGIN` for HDF5's own bookkeeping. Without room it raises
:class:`~landscape.errors.NoSpaceError` before touching the file, which stays as it was after
the last complete item.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import h5py

from landscape.errors import NoSpaceError

#: Bytes kept free beyond each write for HDF5's metadata, free-space records and its flush at
#: close (a study's metadata changes by a few kB per item; 1 MiB leaves room for large groups).
MARGIN = 1 << 20


def free_bytes(path: str | os.PathLike[str]) -> int:
    """Free bytes on the file system holding ``path`` (its directory when it does not exist)."""
    where = Path(path)
    while not where.exists() and where != where.parent:
        where = where.parent
    return shutil.disk_usage(where if where.is_dir() else where.parent).free


def ensure_space(target: str | os.PathLike[str] | h5py.HLObject, nbytes: int = 0) -> None:
    """Raise :class:`~landscape.errors.NoSpaceError` unless ``nbytes`` + :data:`MARGIN` are free
    where ``target`` (a path, or an object of an open file) is stored.

    Example:
        >>> import tempfile
        >>> ensure_space(tempfile.gettempdir(), 1024)
    """
    path = target.file.filename if isinstance(target, h5py.HLObject) else os.fspath(target)
    free = free_bytes(path)
    if free < int(nbytes) + MARGIN:
        raise NoSpaceError(
            f"no space left on {Path(path).parent} for {Path(path).name} (this write needs "
            f"about {(int(nbytes) + MARGIN) / 1e6:.2f} MB, {free / 1e6:.2f} MB free), nothing "
            "lost; free space and rerun")
