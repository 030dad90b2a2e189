"""Many training runs side by side, in a process pool or on a Dask cluster; one writer.

:func:`train_runs` trains every :class:`TrainJob` the study does not hold finished. Each job
runs in a worker that rebuilds the run's data from their description
(:meth:`~landscape.data.LabelledDataset.describe`, :func:`~landscape.data.rebuild`), builds the
model from the registry and trains it into a shard file of its own, ``<study>.shards/<run>.h5``;
this process alone writes the study, copying each run in as soon as its job has finished and
deleting the shard. A run the study holds unfinished is copied into its shard first and resumed
there; a shard left by an interrupted call is resumed as it is. A worker killed mid-job (Dask
runs the job again on another worker; a process pool fails the call) loses at most the epochs
since the run's last checkpoint (``TrainConfig.checkpoint_every``), and the resumed run ends
bit-identical to an uninterrupted one. Workers read the data set's files and their shard, and
write only their shard: the shard folder must be on a file system they share with this process.

The executor is any object with ``submit(fn, *args) -> Future`` (:mod:`landscape.cluster`'s
``dask_executor``, or ``workers=N`` for a pool of N spawned processes). A job names only
registry entries (model, objective) and plain settings: nothing in a job picks code.

Example:
    >>> from landscape.data import load
    >>> job = TrainJob("mlp-seed0", "mlp", {"width": 8, "depth": 1}, "ce", {},
    ...                load("gaussian-mixture", "train").describe(), None,
    ...                TrainConfig(epochs=1))
    >>> job.run, job.model
    ('mlp-seed0', 'mlp')
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from landscape.errors import NonFiniteError, StoreError
from landscape.train.config import TrainConfig

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class TrainJob:
    """One run to train, as a worker needs it (picklable).

    Attributes:
        run: the run's name in the study.
        model, model_kwargs: the model's registry name and its constructor arguments.
        objective, objective_params: the objective's registry name and parameters.
        train_data, test_data: the descriptions of the data sets (``LabelledDataset.describe()``;
            ``test_data`` may be ``None``).
        config: the :class:`TrainConfig` (its ``seed`` also seeds the model's initialisation
            unless ``model_seed`` is given).
        model_seed: the initialisation seed (default: ``config.seed``).
        device: where the worker trains (default: the CPU).
        data_dir: where the workers find the data set's files, if not where they were described.
        callback: called in the worker as ``callback(run, epoch, metrics)`` after each stored
            epoch (a module-level function, so that it pickles).
    """

    run: str
    model: str
    model_kwargs: Mapping[str, Any]
    objective: str
    objective_params: Mapping[str, Any]
    train_data: Mapping[str, Any]
    test_data: Mapping[str, Any] | None
    config: TrainConfig
    model_seed: int | None = None
    device: str | None = None
    data_dir: str | None = None
    callback: Callable[[str, int, dict[str, float]], None] | None = field(default=None,
                                                                          compare=False)


@dataclass(frozen=True)
class TrainOutcome:
    """What a finished job reports: its last epoch's metrics, the seconds in the worker and the
    last complete epoch it resumed from (``None``: trained from the start)."""

    run: str
    metrics: dict[str, float]
    seconds: float
    resumed_from: int | None = None


def train_job(shard: str, job: TrainJob) -> TrainOutcome:
    """Run one :class:`TrainJob` into ``shard`` (in a worker process)."""
    import functools

    import torch

    from landscape.data import rebuild
    from landscape.models import build
    from landscape.objectives import get
    from landscape.train.loop import train

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    data = rebuild(job.train_data, data_dir=job.data_dir)
    test = None if job.test_data is None else rebuild(job.test_data, data_dir=job.data_dir)
    seed = job.config.seed if job.model_seed is None else job.model_seed
    model = build(job.model, data.input_shape, data.num_classes, seed=seed,
                  **dict(job.model_kwargs))
    if job.device is not None:
        model = model.to(job.device)
    callback = None if job.callback is None else functools.partial(job.callback, job.run)
    r = train(model, get(job.objective, **dict(job.objective_params)), data, test, job.config,
              study=shard, run=job.run, progress=False, callback=callback)
    last = {k: float(v[-1]) for k, v in r.history.items() if len(v)}
    return TrainOutcome(job.run, last, time.perf_counter() - t0, r.resumed_from)


def _statuses(path: PathLike) -> dict[str, str]:
    """Each run of the study at ``path`` with its training status (empty if there is no file)."""
    from landscape.store.study import Study

    if not Path(path).is_file():
        return {}
    with Study(path, "r") as study:
        return {r: str(study.run_attrs(r).get("status", "")) for r in study.runs()}


def finished_runs(path: PathLike) -> set[str]:
    """The runs of the study at ``path`` that finished training (empty if there is no file)."""
    return {r for r, status in _statuses(path).items() if status == "finished"}


def train_runs(path: PathLike, jobs: Sequence[TrainJob], *, workers: int = 1,
               executor: Any = None, log: Callable[[str], None] = print
               ) -> dict[str, TrainOutcome | BaseException]:
    """Train the jobs the study does not hold finished, side by side (see the module doc).

    Args:
        path: the study file (created if missing).
        jobs: the runs, distinct names.
        workers: a pool of this many spawned processes (when no ``executor`` is given).
        executor: hand the jobs to this executor instead (a Dask client's executor).
        log: where the one line per finished job goes.

    Returns:
        Per job trained here: its :class:`TrainOutcome`, or the :class:`NonFiniteError` of a
        run that diverged (stored as far as it got, like a serial run). Runs already finished
        are not in it.

    Raises:
        StoreError: a job failed otherwise (its shard is kept and the next call resumes it).
        StudyLockedError: another process writes the study.
    """
    from landscape._procs import worker_pool
    from landscape.compare.runner import drop_shard, shards_failed
    from landscape.store.transfer import copy_runs
    from landscape.store.writer import single_writer

    names = [j.run for j in jobs]
    if len(set(names)) != len(names):
        raise StoreError(f"train_runs got repeated run names: {sorted(names)}")
    folder = Path(f"{path}.shards")
    out: dict[str, TrainOutcome | BaseException] = {}
    with single_writer(path):
        in_study = _statuses(path)
        pending = [j for j in jobs if in_study.get(j.run) != "finished"]
        if not pending:
            return out
        folder.mkdir(exist_ok=True)
        shards = {j.run: folder / f"{j.run}.h5" for j in pending}
        for run, shard in shards.items():
            if run in in_study and not shard.exists():  # an interrupted run: resume it there
                copy_runs(path, shard, [run])
        failed: dict[str, BaseException] = {}
        with worker_pool(min(workers, len(pending)), executor) as pool:
            futures = {pool.submit(train_job, str(shards[j.run]), j): j.run for j in pending}
            for future in as_completed(futures):
                run = futures[future]
                try:
                    result: TrainOutcome | BaseException = future.result()
                except NonFiniteError as err:
                    result = err
                except Exception as err:  # keep the others; report at the end
                    failed[run] = err
                    continue
                copy_runs(shards[run], path, [run], replace=True)
                drop_shard(shards[run])
                out[run] = result
                log(_line(run, result))
        if failed:
            raise shards_failed("training", failed, folder)
        with contextlib.suppress(OSError):
            folder.rmdir()
    return out


def _line(run: str, result: TrainOutcome | BaseException) -> str:
    if isinstance(result, BaseException):
        return f"  {run}: diverged ({result})"
    m = result.metrics
    shown = ", ".join(f"{k} {m[k]:.4g}" for k in ("train_loss", "train_acc", "test_acc")
                      if k in m)
    return f"  {run}: trained, {shown}  [{result.seconds:.1f} s, in a worker]"
