"""Measure many stored runs: one runner for ``landscape measure``, the demo and the analyses.

:func:`measure_runs` takes every measure of each run with :func:`measure_minimum` and returns
their :class:`MinimumMeasures` in the order asked, printing one line per run. Runs whose stored
results already cover the asked measures are read back; the others are computed

- in this process (``workers=1``, the default), or
- by an *executor* (``workers=N`` gives a pool of N spawned processes that die with this one;
  any object with the :class:`Executor` interface, e.g. one handing jobs to a cluster, works).
  Each run still to measure is copied into a shard file of its own,
  ``<study>.shards/<run>.h5``, measured there by the next free worker (one writer per file),
  and its measurements are copied back into the study as soon as it is done. The study stays
  current, a worker never idles on an uneven split, a killed call resumes its shards with any
  number of workers, and an unreadable shard costs only its own run.

Workers read the shard of their run (the run's model, history and data provenance) and the
data set files; they write only their shard. Only this process writes the study.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Protocol

from landscape._procs import worker_pool
from landscape.compare._ranks import Ranks as _Ranks
from landscape.compare.config import MeasureConfig
from landscape.compare.minimum import MinimumMeasures, _plan, measure_minimum
from landscape.errors import StoreError, StudyLockedError
from landscape.store.study import Study

PathLike = str | os.PathLike[str]


class Executor(Protocol):
    """Where the runner's jobs run: ``submit(fn, *args) -> Future``, like
    :class:`concurrent.futures.Executor` (a Dask ``Client`` has the same shape)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]: ...


@dataclasses.dataclass(frozen=True)
class Job:
    """What a worker needs to measure one run in its shard (picklable)."""

    shard: str
    run: str
    measures: tuple[str, ...] | None
    settings: dict[str, dict[str, Any]]
    config: MeasureConfig
    device: str | None
    data_dir: str | None
    plugins: tuple[str, ...] = ()


def measure_job(job: Job) -> tuple[str, tuple[str, ...], float]:
    """Run one :class:`Job` (in a worker process): import the plugins that register the
    job's measures, measure the run in its shard. Returns (run, measures computed, seconds)."""
    import importlib

    import torch

    torch.set_num_threads(1)
    for module in job.plugins:
        importlib.import_module(module)
    t0 = time.perf_counter()
    r = measure_minimum(job.shard, job.run, measures=job.measures, settings=job.settings,
                        config=job.config, device=job.device, data_dir=job.data_dir)
    return job.run, r.recomputed, time.perf_counter() - t0


def pending_runs(path: PathLike, runs: Sequence[str], *, measures: Iterable[str] | None,
                 settings: Mapping[str, Mapping[str, Any]] | None, config: MeasureConfig
                 ) -> list[str]:
    """The runs with a measure not stored with the asked settings (a cheap read)."""
    names = None if measures is None else tuple(measures)
    return [run for run in runs
            if any(m.stored for m, _, _ in _plan(path, run, config, names, settings,
                                                 False).jobs)]


def measure_runs(path: PathLike, runs: Sequence[str], *,
                 measures: Iterable[str] | None = None,
                 settings: Mapping[str, Mapping[str, Any]] | None = None,
                 config: MeasureConfig | None = None, workers: int = 1,
                 executor: Executor | None = None, device: str | None = None,
                 data_dir: PathLike | None = None, overwrite: bool | Iterable[str] = False,
                 progress: bool = True, plugins: Sequence[str] = (),
                 log: Callable[[str], None] | None = None) -> list[MinimumMeasures]:
    """:func:`measure_minimum` of every run of ``runs``, in parallel where asked.

    Args:
        path: the study file. runs: the runs to measure.
        measures, settings, config, device, data_dir, overwrite: as :func:`measure_minimum`.
        workers: processes measuring in parallel (1: in this process, unless ``executor``).
        executor: hand the runs to this executor instead (see :class:`Executor`).
        progress: progress over runs × measures: a bar on a terminal, plain lines in a log.
        plugins: modules a worker imports first (those registering user measures).
        log: where the one line per run goes (default: above the progress bar).

    Returns:
        The :class:`MinimumMeasures` of each run, in the order of ``runs``.
    """
    from tqdm.auto import tqdm

    from landscape._progress import progress as progress_bar

    cfg = config or MeasureConfig()
    names = None if measures is None else tuple(measures)
    write = log or tqdm.write
    computed: dict[str, tuple[str, ...]] = {}
    if (workers > 1 or executor is not None) and _Ranks.current().world > 1:
        from landscape.errors import ConfigError

        raise ConfigError("under a process group every rank measures each run's shard; "
                          "workers and executors do not combine with it")
    if (workers > 1 or executor is not None) and overwrite is False:
        computed = _in_shards(path, runs, names, dict(settings or {}), cfg, workers, executor,
                              device, data_dir, tuple(plugins), write)
    from landscape.compare import registry

    per_run = len(registry.resolve(names))
    results = []
    with progress_bar(total=len(runs) * per_run, desc="measuring", unit="measure",
                      quiet=not progress, leave=True) as bar:
        for run in runs:
            def advance(name: str, run: str = run) -> None:
                bar.set_postfix_str(f"{run}: {name}")
                bar.update(1)

            t0 = time.perf_counter()
            r = measure_minimum(path, run, measures=names, settings=settings, config=cfg,
                                overwrite=overwrite, on_stage=advance, device=device,
                                data_dir=data_dir)
            if run in computed:
                r = dataclasses.replace(r, recomputed=tuple(dict.fromkeys(
                    computed[run] + r.recomputed)))
            else:  # the workers' runs were reported as they finished
                write(f"  {run}: {_done(r)}  [{time.perf_counter() - t0:.1f} s]")
            results.append(r)
    return results


def _done(r: MinimumMeasures) -> str:
    return f"measured {', '.join(r.recomputed)}" if r.recomputed else "read back from the study"


def _readable(shard: Path, write: Callable[[str], None]) -> bool:
    """Whether a shard left by an interrupted call can be read; an unreadable one (cut off in
    a write) is deleted and its run measured again from the study."""
    from landscape.errors import StoreError

    if not shard.is_file():
        return False
    try:
        with Study(shard) as study:
            study.runs()
        return True
    except StoreError as err:
        write(f"dropping the unreadable shard {shard} ({err})")
        shard.unlink()
        return False


def _merge(shard: Path, path: PathLike, run: str, write: Callable[[str], None]) -> bool:
    """Copy ``run``'s measurements from its shard into the study and delete the shard; False
    (shard kept for the next call) when a reader keeps the study locked."""
    from landscape.store.transfer import copy_measurements

    try:
        copy_measurements(shard, path, run)
    except StudyLockedError as err:
        write(f"  {run}: could not copy its measurements back yet ({err})")
        return False
    drop_shard(shard)
    return True


def drop_shard(shard: Path) -> None:
    """Delete a shard whose run is back in the study, with its writer sidecar."""
    shard.unlink()
    Path(f"{shard}.writer").unlink(missing_ok=True)


def _in_shards(path: PathLike, runs: Sequence[str], measures: tuple[str, ...] | None,
               settings: dict[str, dict[str, Any]], config: MeasureConfig, workers: int,
               executor: Executor | None, device: str | None, data_dir: PathLike | None,
               plugins: tuple[str, ...], write: Callable[[str], None]
               ) -> dict[str, tuple[str, ...]]:
    """The parallel part of :func:`measure_runs`: the measures computed per run."""
    from concurrent.futures import as_completed

    from landscape.store.transfer import copy_runs
    from landscape.store.writer import single_writer

    folder = Path(f"{path}.shards")
    with single_writer(path):
        pending = pending_runs(path, runs, measures=measures, settings=settings, config=config)
        if not pending:
            return {}
        folder.mkdir(exist_ok=True)
        shards = {run: folder / f"{run}.h5" for run in pending}
        resumed = [run for run, shard in shards.items() if _readable(shard, write)]
        for run, shard in shards.items():
            copy_runs(path, shard, [run])  # keeps a resumed shard's own progress
        n = min(workers, len(pending)) if executor is None else "the executor's"
        write(f"measuring {len(pending)} runs in {n} processes, one shard file each under "
              f"{folder.name}/ ({len(resumed)} resumed)")
        computed: dict[str, tuple[str, ...]] = {}
        failed: dict[str, BaseException] = {}
        unmerged: list[str] = []
        with worker_pool(min(workers, len(pending)), executor) as pool:
            futures = {pool.submit(measure_job, Job(
                str(shard), run, measures, settings, config, device,
                None if data_dir is None else str(data_dir), plugins)): run
                for run, shard in shards.items()}
            for future in as_completed(futures):
                run = futures[future]
                try:
                    _, done, seconds = future.result()
                except Exception as err:  # keep merging the others; report at the end
                    failed[run] = err
                    continue
                computed[run] = done
                write(f"  {run}: measured {', '.join(done) or 'nothing new'}  "
                      f"[{seconds:.1f} s, in a worker]")
                if not _merge(shards[run], path, run, write):
                    unmerged.append(run)
        for run in unmerged:  # a reader held the study too long: once more, then keep it
            if not _merge(shards[run], path, run, write):
                failed[run] = StudyLockedError(f"{path} stayed locked by a reader")
        if failed:
            raise shards_failed("measuring", failed, folder)
        with contextlib.suppress(OSError):
            folder.rmdir()
    return computed


def shards_failed(doing: str, failed: Mapping[str, BaseException], folder: Path) -> StoreError:
    """The error of jobs that failed in their shards (kept for the next call), chained to the
    first failure."""
    names = ", ".join(f"{run} ({type(e).__name__}: {e})" for run, e in failed.items())
    err = StoreError(f"{doing} failed for {names}; their shards are kept under {folder}/ and "
                     "the next call resumes them")
    err.__cause__ = next(iter(failed.values()))
    return err
