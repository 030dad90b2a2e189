"""Worker processes that die with their parent.

A worker pool's processes outlive a parent killed with SIGKILL (the pool's own shutdown never
runs), each holding its model and data (hundreds of MB) until it finishes its task and finds the
parent gone. :func:`die_with_parent`, given as the pool's ``initializer``, asks Linux to send the
worker SIGKILL when its parent dies (``prctl(PR_SET_PDEATHSIG)``); elsewhere a daemon thread
checks the parent's pid every second and ends the worker when it changes. :func:`worker_pool`
is such a pool, or a given executor.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

_PR_SET_PDEATHSIG = 1


def _watch(parent: int, interval: float) -> None:
    while os.getppid() == parent:
        time.sleep(interval)
    os._exit(1)


def die_with_parent(parent: int | None = None, *, interval: float = 1.0) -> str:
    """End the calling process when its parent process dies, however the parent dies.

    Call it first thing in a child process, e.g. as the ``initializer`` of a
    :class:`concurrent.futures.ProcessPoolExecutor`.

    Args:
        parent: the parent's pid as the parent saw it (``os.getpid()`` passed in
            ``initargs``), which also catches a parent that died before this call; default: the
            current parent.
        interval: seconds between checks of the fallback watchdog thread.

    Returns:
        ``"prctl"`` (Linux: the kernel delivers SIGKILL) or ``"watchdog"`` (a thread checks).

    Example:
        >>> from concurrent.futures import ProcessPoolExecutor
        >>> import multiprocessing
        >>> with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
        ...                          initializer=die_with_parent) as pool:
        ...     pool.submit(abs, -2).result()
        2
    """
    expected = os.getppid() if parent is None else int(parent)
    how = "watchdog"
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0:
                how = "prctl"
    if os.getppid() != expected:  # the parent died before we asked
        os._exit(1)
    if how == "watchdog":
        threading.Thread(target=_watch, args=(expected, interval), daemon=True,
                         name="die-with-parent").start()
    return how


@contextlib.contextmanager
def worker_pool(workers: int, executor: Any = None) -> Iterator[Any]:
    """``executor`` when given, else a pool of ``workers`` spawned processes that die with this
    one (closed on exit)."""
    if executor is not None:
        yield executor
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max(1, workers), mp_context=multiprocessing.get_context("spawn"),
                             initializer=die_with_parent) as pool:
        yield pool
