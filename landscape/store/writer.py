"""One writer process per study file, enforced for the long writers.

HDF5 locks a file only while it is open, and the writers of ``landscape`` open it only for each
short write. Two processes that train or measure into the same file would therefore both go on,
each resuming the other's half-finished run and interleaving their epochs. :func:`single_writer`
holds a lock for the whole of a long write (:func:`landscape.train.train`,
:func:`landscape.compare.measure_minimum`, the measurements, :mod:`landscape.store.transfer`,
:mod:`landscape.store.compact`, ...); a second process is refused at once with the first one's
pid, instead of meeting HDF5's own lock mid-write.

The lock is held on the study file itself, not on its name: an open-file-description byte-range
lock (``F_OFD_SETLK``) on a byte far past the end of the file, which HDF5's own ``flock`` does not
see, so a hard link (a second name for the same file) cannot get around it. The operating system
drops it when its process ends, however it ends. The sidecar file ``<study>.writer`` only tells
others who writes (its pid); it is removed when the writer ends, and one left by a killed writer
(its pid no longer running) is taken over with a one-line notice. A file that is not a study is
refused before any sidecar is made; a study created by a writer that then fails with nothing in
it is removed again. On read-only media nobody can write, so nothing is locked (reads work).
Re-entrant within a process, so a writer may call another. Without ``fcntl`` (Windows) nothing is
enforced.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import inspect
import os
import struct
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from landscape.errors import ReadOnlyStudyError, StudyLockedError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

F = TypeVar("F", bound=Callable[..., Any])

#: (st_dev, st_ino) of a study → nesting depth of the locks this process holds.
_HELD: dict[tuple[int, int], int] = {}

#: The byte locked: far past any real file's end, so no reader or writer of the data meets it.
_LOCK_BYTE = 1 << 62


def lock_path(study: str | os.PathLike[str]) -> Path:
    """The sidecar file of ``study`` that names its writer's pid."""
    return Path(f"{Path(study).resolve()}.writer")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _lock(fd: int) -> bool:
    """Take the write lock on the open file ``fd``; ``False`` when another process holds it."""
    request = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, _LOCK_BYTE, 1, 0)
    try:
        fcntl.fcntl(fd, getattr(fcntl, "F_OFD_SETLK", fcntl.F_SETLK), request)
    except (BlockingIOError, PermissionError):
        return False
    except OSError as err:
        if err.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def _holder(sidecar: Path) -> int | None:
    try:
        return int(sidecar.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _announce(sidecar: Path) -> None:
    """Write our pid into the sidecar, taking over one left by a writer that was killed."""
    stale = _holder(sidecar)
    if stale is not None and stale != os.getpid() and not _alive(stale):
        print(f"landscape: taking over {sidecar} left by pid {stale}, which is no longer "
              "running", file=sys.stderr)
    with contextlib.suppress(OSError):  # informational only
        sidecar.write_text(f"{os.getpid()}\n")


def _prepare(path: Path) -> bool | None:
    """Open the study for writing once: a file that is not a study, or is damaged, is refused
    before anything is written; a missing one is created. ``True`` when created here, ``None``
    on read-only media."""
    from landscape.store.study import Study

    existed = path.exists()
    try:
        with Study(path, "a") as study:
            if study.read_only:
                return None
    except ReadOnlyStudyError:
        return None
    return not existed


@contextmanager
def single_writer(study: str | os.PathLike[str] | None) -> Iterator[None]:
    """Hold the writer lock of ``study`` (nothing for ``None``) for the body of the block.

    Raises:
        StudyLockedError: another process holds it.
        NotAStudyFileError: ``study`` exists and is not a study file.

    Example:
        >>> import tempfile
        >>> path = tempfile.mktemp(suffix=".h5")
        >>> with single_writer(path):
        ...     with single_writer(path):  # re-entrant
        ...         pass
    """
    if study is None or fcntl is None:
        yield
        return
    path = Path(study)
    if path.exists() and (path.stat().st_dev, path.stat().st_ino) in _HELD:
        key = (path.stat().st_dev, path.stat().st_ino)
        _HELD[key] += 1
        try:
            yield
        finally:
            _HELD[key] -= 1
        return
    created = _prepare(path)
    if created is None:
        yield  # read-only media: nobody writes, a write fails in one line at its open
        return
    fd = os.open(path, os.O_RDWR)
    with _holding(path, fd, created):
        yield


@contextmanager
def _holding(path: Path, fd: int, created: bool) -> Iterator[None]:
    sidecar = lock_path(path)
    if not _lock(fd):
        os.close(fd)
        holder = _holder(sidecar) or "unknown"
        raise StudyLockedError(
            f"{path} is being written by another process (pid {holder}, see {sidecar}); two "
            "writers would interleave their work. Wait for it to finish, or stop it: a stopped "
            "run resumes where it was") from None
    st = os.fstat(fd)
    key = (st.st_dev, st.st_ino)
    _HELD[key] = 1
    _announce(sidecar)
    ok = False
    try:
        yield
        ok = True
    finally:
        _HELD.pop(key, None)
        if _holder(sidecar) == os.getpid():
            sidecar.unlink(missing_ok=True)
        if created and not ok:
            _remove_if_empty(path)
        os.close(fd)  # releases the lock


def _remove_if_empty(path: Path) -> None:
    """Remove a study this writer created and then failed to put anything in."""
    from landscape.store.study import Study

    try:
        with Study(path, "r") as study:
            empty = not study.runs()
        if empty:
            path.unlink()
    except Exception:
        pass


def writes_study(parameter: str) -> Callable[[F], F]:
    """Decorate a long writer so that it holds :func:`single_writer` on the study passed as its
    argument ``parameter`` (nothing when that is ``None``)."""

    def decorate(func: F) -> F:
        signature = inspect.signature(func)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            study = signature.bind_partial(*args, **kwargs).arguments.get(parameter)
            with single_writer(study):
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
