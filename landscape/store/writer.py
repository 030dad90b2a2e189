"""One writer process per study file, enforced for the long writers.

HDF5 locks a file only while it is open, and the writers of ``landscape`` open it only for each
short write. Two processes that train or measure into the same file would therefore both go on,
each resuming the other's half-finished run and interleaving their epochs. :func:`single_writer`
holds an advisory lock (``flock``) on a sidecar file ``<study>.writer`` for the whole of a long
write (:func:`landscape.train.train`, :func:`landscape.compare.measure_minimum`,
:func:`landscape.hessian.study.measure_spectrum`, the ``*_to_study`` functions of
:mod:`landscape.flatness`, the ``landscape flatness`` command) and of the short ones
(:func:`landscape.shallow.study.save_solution`, :func:`~landscape.shallow.study.save_measurement`,
:mod:`landscape.store.transfer`, :mod:`landscape.store.compact`); a second process is refused at
once with the first one's pid, instead of meeting HDF5's own lock mid-write. The
operating system drops the lock when its process ends, however it ends, so a killed run never
leaves a stale lock. The sidecar file stays (removing it would race with a process about to
lock it); it holds the pid of the last writer. Re-entrant within a process, so a writer may call
another. Without ``fcntl`` (Windows) nothing is enforced.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from landscape.errors import StudyLockedError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

F = TypeVar("F", bound=Callable[..., Any])

#: Resolved study path → nesting depth of the locks this process holds.
_HELD: dict[str, int] = {}


def lock_path(study: str | os.PathLike[str]) -> Path:
    """The sidecar lock file of ``study``."""
    return Path(f"{Path(study).resolve()}.writer")


@contextmanager
def single_writer(study: str | os.PathLike[str] | None) -> Iterator[None]:
    """Hold the writer lock of ``study`` (nothing for ``None``) for the body of the block.

    Raises:
        StudyLockedError: another process holds it.

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
    key = str(Path(study).resolve())
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield
        finally:
            _HELD[key] -= 1
        return
    path = lock_path(study)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise StudyLockedError(
            f"{study} is being written by another process (pid {holder}, see {path}); two "
            "writers would interleave their work. Wait for it to finish, or stop it: a stopped "
            "run resumes where it was") from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        _HELD[key] = 1
        yield
    finally:
        _HELD.pop(key, None)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


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
