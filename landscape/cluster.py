"""Sweeps on a Dask cluster: many measuring jobs on many machines, one writer of the study.

``landscape measure STUDY --scheduler SPEC`` hands each run still to measure to Dask instead of
a local process pool (:func:`landscape.compare.measure_runs` takes any executor, and so does
:func:`landscape.train.train_runs` for training sweeps; the Fashion-MNIST analyses take
``--scheduler`` for both):

- ``local:N``: a ``LocalCluster`` of ``N`` worker processes on this machine (one thread each,
  loopback only, no dashboard), started for the call and closed after it: the embedded
  default, no cluster needed;
- ``tcp://HOST:PORT``: a running scheduler (``dask scheduler`` on one machine, ``dask worker
  tcp://HOST:PORT`` on each of the others; or ``dask_jobqueue.SLURMCluster`` /
  ``PBSCluster`` started in your own script, passing ``client.get_executor()`` as
  ``measure_runs(executor=...)``).

A worker reads the run's shard file ``<study>.shards/<run>.h5`` (a copy of that run only) and
the data set's files, and writes only that shard, so workers need the shard folder on a file
system they share with this process (no lock on the study). Only this process writes the
study, merging a shard once its job has finished. A worker killed mid-job makes Dask run the
job again on another worker (up to ``distributed.scheduler.allowed-failures``, 3 by default),
which resumes the shard's committed progress; a job that never finishes leaves the study
untouched.

Dask is an optional extra (``pip install -e ".[cluster]"``), imported only here.

Example:
    >>> parse_scheduler("local:2"), parse_scheduler("tcp://10.0.0.5:8786")
    (('local', 2), ('address', 'tcp://10.0.0.5:8786'))
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from landscape.errors import ConfigError

#: Seconds to wait for a scheduler to answer before giving up.
CONNECT_TIMEOUT = 10.0


def parse_scheduler(spec: str) -> tuple[str, Any]:
    """``("local", N)`` for ``local:N``, ``("address", spec)`` for ``tcp://HOST:PORT``."""
    text = str(spec).strip()
    if text.startswith("local:"):
        n = text[len("local:"):]
        if not n.isdigit() or int(n) < 1:
            raise ConfigError(f"--scheduler local:N needs a number of workers N >= 1, got {spec!r}")
        return "local", int(n)
    if text.startswith(("tcp://", "tls://")) and ":" in text.split("://", 1)[1]:
        return "address", text
    raise ConfigError(f"--scheduler must be local:N or tcp://HOST:PORT, got {spec!r}")


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise ConfigError('--scheduler needs Dask: pip install -e ".[cluster]" (or '
                          '"dask[distributed]")') from None
    return distributed


@contextlib.contextmanager
def dask_executor(spec: str, *, timeout: float = CONNECT_TIMEOUT) -> Iterator[Any]:
    """A ``concurrent.futures`` executor on the Dask cluster ``spec`` (see the module doc),
    closed (with the local cluster it started) on exit.

    Raises:
        ConfigError: a malformed ``spec``, no Dask installed, or no scheduler answering at the
            address within ``timeout`` seconds.
    """
    kind, value = parse_scheduler(spec)
    distributed = _distributed()
    cluster = None
    if kind == "local":
        cluster = distributed.LocalCluster(
            n_workers=value, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=None, silence_logs=logging.ERROR)
        client = distributed.Client(cluster)
    else:
        try:
            client = distributed.Client(value, timeout=timeout)
        except (OSError, TimeoutError) as err:
            raise ConfigError(f"no Dask scheduler answers at {value} within {timeout:g} s "
                              f"({type(err).__name__}); start one with 'dask scheduler' or "
                              "use --scheduler local:N") from None
    try:
        yield client.get_executor(pure=False)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
