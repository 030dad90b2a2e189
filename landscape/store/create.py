"""A new study file appears whole or not at all.

HDF5 writes a new file's superblock first and its end-of-file address only when the file is
flushed, so a process killed while creating a study leaves a truncated file (``eof = 200``,
``stored_eof = 2048``) that no later run may open or silently replace. :func:`create_whole`
therefore builds the new, initialised file beside its destination under a private name
(``.NAME.creating-PID``), flushes it to disk and only then gives it its name: with a hard link,
which fails when another process created the study meanwhile (then that study is used), or, to
replace a study on the user's request (``mode="w"``), with an atomic rename. A kill at any moment
leaves either no study or a whole one, plus at worst a private file of a dead process, which the
next creation in that folder removes.

Example:
    >>> import tempfile, h5py
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "s.h5"
    >>> create_whole(path, lambda f: f.attrs.update(format="demo"))
    True
    >>> h5py.File(path, "r").attrs["format"]
    'demo'
    >>> create_whole(path, lambda f: None)   # exists: left as it is
    False
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable
from pathlib import Path

import h5py

#: Marker in the private names of files being created.
_CREATING = ".creating-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale(folder: Path, name: str) -> None:
    """Remove private files left in ``folder`` by dead processes creating ``name``."""
    for stale in folder.glob(f".{name}{_CREATING}*"):
        pid = stale.name.rsplit(_CREATING, 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            with contextlib.suppress(OSError):
                stale.unlink()


def _sync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _publish(tmp: Path, path: Path, replace: bool) -> bool:
    """Name ``tmp`` ``path``; ``False`` if ``path`` appeared first (and not ``replace``)."""
    if replace:
        os.replace(tmp, path)
        return True
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    except OSError as err:  # no hard links here (some network or FUSE file systems)
        if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV,
                             errno.EMLINK):
            raise
        if path.exists():
            return False
        os.replace(tmp, path)
        return True
    tmp.unlink()
    return True


def create_whole(path: Path, initialise: Callable[[h5py.File], None], *,
                 replace: bool = False, **h5_kwargs: object) -> bool:
    """Create the HDF5 file ``path`` whole: built privately by ``initialise``, then named.

    Args:
        path: the new file.
        initialise: writes the new file's first contents (attributes, groups).
        replace: replace an existing ``path`` (atomically); otherwise an existing one is kept.
        **h5_kwargs: passed to :class:`h5py.File` (e.g. the free-space strategy).

    Returns:
        whether this call created ``path`` (``False``: it existed, or another process made it).
    """
    path = Path(path)
    if path.exists() and not replace:
        return False
    _remove_stale(path.parent, path.name)
    tmp = path.with_name(f".{path.name}{_CREATING}{os.getpid()}")
    try:
        with h5py.File(tmp, "w", **h5_kwargs) as f:
            initialise(f)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        made = _publish(tmp, path, replace)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    _sync_folder(path.parent)
    return made
