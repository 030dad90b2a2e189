"""Shared plumbing of the Fashion-MNIST analyses 3–5 (private; not a public API).

``flatness_generalisation.py``, ``objectives_minima.py`` and ``spectra_objectives.py`` train many
small networks on subsets of Fashion-MNIST into one study file each and measure their minima with
:func:`landscape.compare.measure_minimum` (or only the Hessian). This module holds what they
share: the run specification and its stable name, the training conditions (clean labels,
symmetric label noise, an exponential long tail), the models at quick and full size, objectives
whose parameters depend on the data (``logit_adjusted``'s class counts, IMAE's direction),
resumable training and measuring loops that print one line per run, and saving a figure as PNG
and PDF.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from landscape.compare import (
    STAGES,
    MeasureConfig,
    MinimumMeasures,
    has_long_stages,
    measure_minimum,
)
from landscape.data import LabelledDataset, load_splits, long_tail, subset, symmetric_noise
from landscape.errors import StudyLockedError
from landscape.models import build
from landscape.objectives import Objective, get
from landscape.plot._style import plt
from landscape.store import Study
from landscape.train import TrainConfig, train

#: Training conditions: key → readable label.
CONDITIONS = {"clean": "clean labels", "noise40": "40% symmetric label noise",
              "longtail100": "long tail (exp, imbalance 100)"}
NOISE_RATE = 0.4
IMBALANCE = 100.0

#: Objective parameters of the analyses (the registry's defaults otherwise); ``imae`` with
#: ``direction="ce"`` (the paper's IMAE: CE's gradient direction, reweighted magnitude).
OBJECTIVE_PARAMS: dict[str, dict[str, Any]] = {"imae": {"direction": "ce"}}

#: Model sizes: quick (CI-sized, seconds per run) and full.
MODEL_KWARGS: dict[tuple[str, bool], dict[str, Any]] = {
    ("mlp", True): {"depth": 2, "width": 32},
    ("mlp", False): {"depth": 2, "width": 256},
    ("lenet", True): {"channels": (4, 8), "hidden": (32, 16)},
    ("lenet", False): {},
}
MODEL_LABELS = {"mlp": "MLP", "lenet": "LeNet"}


def describe_model(model: str, quick: bool, input_dim: int = 784) -> str:
    """A short description of the model's layer sizes."""
    kw = MODEL_KWARGS[model, quick]
    if model == "mlp":
        return "MLP " + "-".join(str(x) for x in [input_dim, *[kw["width"]] * kw["depth"], 10])
    ch, hid = kw.get("channels", (6, 16)), kw.get("hidden", (120, 84))
    return f"LeNet (conv {ch[0]}-{ch[1]}, fc {hid[0]}-{hid[1]})"


@dataclass(frozen=True)
class RunSpec:
    """One training run: model, objective, condition and hyper-parameters."""

    model: str
    objective: str
    seed: int
    batch_size: int
    lr: float
    condition: str = "clean"
    params: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def name(self) -> str:
        """A stable run name (the study's key)."""
        return (f"{self.model}-{self.objective}-{self.condition}-bs{self.batch_size}"
                f"-lr{self.lr:g}-seed{self.seed}")

    @property
    def hyper(self) -> str:
        """The hyper-parameters as a short label."""
        return f"batch {self.batch_size}, lr {self.lr:g}"


def add_common_args(parser: argparse.ArgumentParser, stem: str, *, workers: bool = False) -> None:
    """``--quick``, ``--out``, ``--figures``, ``--threads``, ``--device``, ``--quiet`` (and
    ``--workers``)."""
    parser.add_argument("--quick", action="store_true",
                        help="CI-sized version (1-4 minutes on 2 CPU cores)")
    parser.add_argument("--out", default=None,
                        help=f"study file (default results/{stem}.h5, with --quick "
                             f"results/{stem}_quick.h5)")
    parser.add_argument("--figures", default="figures", help="folder for the figures")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: fastest for these small models)")
    parser.add_argument("--device", default="cpu",
                        help="where to train and measure, e.g. cuda (default cpu)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    if workers:
        parser.add_argument("--workers", type=int, default=1,
                            help="processes that measure runs side by side (default 1; each "
                                 "takes one core and measures one run at a time in a shard "
                                 "file of its own)")


def study_path(args: argparse.Namespace, stem: str) -> str:
    """The study file: ``--out`` or the default for the mode."""
    return args.out or f"results/{stem}{'_quick' if args.quick else ''}.h5"


def set_threads(threads: int) -> None:
    torch.set_num_threads(max(1, int(threads)))


def fashion_mnist(train_size: int | None, test_size: int | None
                  ) -> tuple[LabelledDataset, LabelledDataset, LabelledDataset]:
    """The full training split, a seeded stratified training subset and the (sub)test set."""
    full_train, full_test = load_splits("fashion-mnist")
    train_data = subset(full_train, train_size, seed=0) if train_size else full_train
    test_data = subset(full_test, test_size, seed=0) if test_size else full_test
    return full_train, train_data, test_data


def condition_data(condition: str, train_data: LabelledDataset, full_train: LabelledDataset,
                   long_tail_source: int | None) -> LabelledDataset:
    """The training set of a condition: the clean subset, the subset with 40% symmetric noise
    (exact counts per class, seed 0), or an exponential long tail (imbalance 100) subsampled
    from a stratified source subset of ``long_tail_source`` samples (the full split if None)."""
    if condition == "clean":
        return train_data
    if condition == "noise40":
        return symmetric_noise(train_data, NOISE_RATE, seed=0)
    if condition == "longtail100":
        source = subset(full_train, long_tail_source, seed=1) if long_tail_source else full_train
        return long_tail(source, IMBALANCE, profile="exp", seed=0)
    raise ValueError(f"unknown condition {condition!r}")


def objective_for(name: str, data: LabelledDataset) -> Objective:
    """The objective ``name`` with the analyses' parameters; ``logit_adjusted`` gets the class
    counts of its training set (uniform for balanced data, so it reduces to CE there)."""
    params = dict(OBJECTIVE_PARAMS.get(name, {}))
    if name == "logit_adjusted":
        params["class_counts"] = [int(c) for c in data.class_counts]
    return get(name, **params)


def train_runs(path: str, specs: Sequence[RunSpec], data_of: Callable[[RunSpec], LabelledDataset],
               test_data: LabelledDataset, epochs: int, quick: bool, *, quiet: bool,
               device: str = "cpu") -> tuple[list[RunSpec], float]:
    """Train (or load) every run into ``path``, one printed line per run. Returns the runs that
    finished (a run whose loss became NaN/inf is reported and left out) and the seconds taken.
    """
    from tqdm.auto import tqdm

    from landscape.errors import NonFiniteError

    start = time.perf_counter()
    finished, loaded = [], 0
    bar = tqdm(specs, desc="training", unit="run", disable=quiet, leave=False)
    for spec in bar:
        bar.set_postfix_str(spec.name)
        data = data_of(spec)
        model = build(spec.model, data.input_shape, data.num_classes, seed=spec.seed,
                      **MODEL_KWARGS[spec.model, quick]).to(device)
        config = TrainConfig(epochs=epochs, batch_size=spec.batch_size, lr=spec.lr,
                             seed=spec.seed, checkpoint_every=max(1, epochs // 5))
        t0 = time.perf_counter()
        loaded += has_run(path, spec.name)
        try:
            h = train(model, objective_for(spec.objective, data), data, test_data, config,
                      study=path, run=spec.name, progress=False).history
        except NonFiniteError as err:
            tqdm.write(f"  {spec.name:48s} diverged, left out ({err})")
            continue
        finished.append(spec)
        acc = h.get("train_acc_clean", h["train_acc"]) if data.is_noisy else h["train_acc"]
        tqdm.write(f"  {spec.name:48s} train acc {float(h['train_acc'][-1]):.3f}"
                   f"{f' (clean {float(acc[-1]):.3f})' if data.is_noisy else ''}  test acc "
                   f"{float(h['test_acc'][-1]):.3f}  [{time.perf_counter() - t0:.1f} s]")
    bar.close()
    print(f"trained {len(specs) - loaded} runs, {loaded} found in the study (finished ones are "
          "loaded, interrupted ones resumed)")
    return finished, time.perf_counter() - start


def has_run(path: str, run: str) -> bool:
    """Whether the study file ``path`` already holds a run called ``run``."""
    import h5py

    if not Path(path).is_file():
        return False
    with h5py.File(path, "r") as f:
        return "runs" in f and run in f["runs"]


def _measure_shard(shard: str, run: str, config: MeasureConfig, device: str) -> tuple:
    """Worker of :func:`measure_runs`: measure ``run`` in its shard file (a fresh process)."""
    set_threads(1)
    t0 = time.perf_counter()
    result = measure_minimum(shard, run, config=config, device=device)
    print(f"  {run:48s} measured {', '.join(result.recomputed) or 'nothing new'}  "
          f"[{time.perf_counter() - t0:.1f} s, in a worker]", flush=True)
    return result.recomputed


def measure_runs(path: str, specs: Sequence[RunSpec], config: MeasureConfig, *,
                 quiet: bool, workers: int = 1, device: str = "cpu"
                 ) -> tuple[list[MinimumMeasures], float]:
    """:func:`measure_minimum` of every run, one printed line per run (stored measurements are
    read back).

    With ``workers > 1`` the runs still to measure are measured by that many processes, each
    run in a shard file of its own (``<study>.shards/<run>.h5``, one writer per file), and each
    run's measurements are copied back into the study as soon as it is done. An interrupted
    call leaves its unfinished shards, which the next call resumes (with any ``workers``).
    """
    from tqdm.auto import tqdm

    start = time.perf_counter()
    computed: dict[str, tuple] = {}
    if workers > 1:
        computed = _measure_in_shards(path, specs, config, workers, device)
    results = []
    with tqdm(total=len(specs) * len(STAGES), desc="measuring", unit="step",
              disable=quiet) as bar:
        for spec in specs:
            def advance(stage: str, run: str = spec.name) -> None:
                bar.set_postfix_str(f"{run}: {stage}")
                bar.update(1)
            t0 = time.perf_counter()
            result = measure_minimum(path, spec.name, config=config, on_stage=advance,
                                     device=device)
            if spec.name in computed:
                result = dataclasses.replace(
                    result, recomputed=tuple(dict.fromkeys(computed[spec.name]
                                                           + result.recomputed)))
            results.append(result)
            done = (f"measured {', '.join(result.recomputed)}" if result.recomputed
                    else "read back from the study")
            if spec.name not in computed:  # the workers printed their own runs
                tqdm.write(f"  {spec.name:48s} {done}  [{time.perf_counter() - t0:.1f} s]")
    print(f"measured {sum(bool(r.recomputed) for r in results)} minima, read "
          f"{sum(not r.recomputed for r in results)} back from the study")
    return results, time.perf_counter() - start


def _readable(shard: Path) -> bool:
    """Whether a shard left by an interrupted call can be read; one that cannot (cut off in the
    middle of a write) is deleted, and its run is measured again from the study."""
    from landscape.errors import StoreError

    if not shard.is_file():
        return False
    try:
        with Study(shard) as study:
            study.runs()
        return True
    except StoreError as err:
        print(f"dropping the unreadable shard {shard} ({err})", flush=True)
        shard.unlink()
        return False


def _adopt_worker_shards(path: str) -> None:
    """Bring back what the per-worker shards of earlier versions (``<study>.shard<i>of<n>.h5``)
    measured, partial stages included, and delete them: their runs then resume like any other."""
    from landscape.store.transfer import copy_measurements

    for shard in sorted(Path(path).parent.glob(f"{Path(path).name}.shard*of*.h5")):
        if _readable(shard):
            with Study(shard) as study:
                runs = study.runs()
            for run in runs:
                copy_measurements(shard, path, run)
            print(f"brought back the measurements of {len(runs)} runs from {shard.name}",
                  flush=True)
            shard.unlink()
        Path(f"{shard}.writer").unlink(missing_ok=True)


def _merge(shard: Path, path: str, run: str) -> bool:
    """Copy ``run``'s measurements from its shard into the study and delete the shard; False
    (shard kept, for the next call) when another process keeps the study locked."""
    from landscape.store.transfer import copy_measurements

    try:
        copy_measurements(shard, path, run)
    except StudyLockedError as err:
        print(f"  {run}: could not copy its measurements back yet ({err})", flush=True)
        return False
    shard.unlink()
    Path(f"{shard}.writer").unlink(missing_ok=True)
    return True


def _measure_in_shards(path: str, specs: Sequence[RunSpec], config: MeasureConfig,
                       workers: int, device: str = "cpu") -> dict[str, tuple]:
    """The parallel part of :func:`measure_runs`: returns the stages computed per run.

    Every run still to measure is copied into a shard file of its own under ``<study>.shards/``
    (one writer per file) and measured there by the next free worker; as soon as a worker is
    done with it, its measurements are copied back into the study and the shard is deleted. An
    interrupted call loses at most the stages in flight: the next call resumes the shards left
    behind (any number of workers), and an unreadable one costs only its own run.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from landscape.store.transfer import copy_runs
    from landscape.store.writer import single_writer

    folder = Path(f"{path}.shards")
    with single_writer(path):
        _adopt_worker_shards(path)
        pending = [s.name for s in specs if not has_long_stages(path, s.name)]
        if not pending:
            return {}
        folder.mkdir(exist_ok=True)
        shards = {run: folder / f"{run}.h5" for run in pending}
        resumed = [run for run, shard in shards.items() if _readable(shard)]
        for run, shard in shards.items():
            copy_runs(path, shard, [run])  # keeps a resumed shard's own progress
        print(f"measuring {len(pending)} runs in {min(workers, len(pending))} processes, one "
              f"shard file each under {folder.name}/ ({len(resumed)} resumed)", flush=True)
        computed: dict[str, tuple] = {}
        failed: dict[str, BaseException] = {}
        unmerged: list[str] = []
        with ProcessPoolExecutor(min(workers, len(pending)),
                                 mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(_measure_shard, str(shard), run, config, device): run
                       for run, shard in shards.items()}
            for future in as_completed(futures):
                run = futures[future]
                try:
                    computed[run] = future.result()
                except Exception as err:  # keep merging the others; report at the end
                    failed[run] = err
                    continue
                if not _merge(shards[run], path, run):
                    unmerged.append(run)
        for run in unmerged:  # a reader held the study too long: once more, then keep the shard
            if not _merge(shards[run], path, run):
                failed[run] = StudyLockedError(f"{path} stayed locked by a reader")
        if failed:
            names = ", ".join(f"{run} ({type(e).__name__}: {e})" for run, e in failed.items())
            raise RuntimeError(f"measuring failed for {names}; their shards are kept under "
                               f"{folder}/ and the next call resumes them") \
                from next(iter(failed.values()))
        with contextlib.suppress(OSError):
            folder.rmdir()
    return computed


def save_figure(fig: Any, folder: str | Path, stem: str) -> Path:
    """Save ``fig`` as ``folder/stem.png`` and ``folder/stem.pdf``, close it, return the PNG."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    png = folder / f"{stem}.png"
    fig.savefig(folder / f"{stem}.pdf", bbox_inches="tight")
    fig.savefig(png, dpi=150, bbox_inches="tight")
    plt.close(fig)
    return png


def seed_band(curves: np.ndarray, stderrs: np.ndarray, z: float = 1.96
              ) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``[runs, points]`` curves and the half-width of its 95% interval: over the noise
    draws (``stderrs``) for one run, over the runs (standard error of the mean) for several."""
    mean = np.nanmean(curves, axis=0)
    if curves.shape[0] == 1:
        return mean, z * np.nan_to_num(stderrs[0], nan=0.0)
    return mean, z * np.nanstd(curves, axis=0, ddof=1) / math.sqrt(curves.shape[0])


def write_markdown(path: str | Path, title: str, sections: Sequence[tuple[str, str]]) -> Path:
    """Write markdown ``sections`` (heading, body) under a title to ``path``."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = [f"# {title}", ""]
    for heading, body in sections:
        text += [f"## {heading}", "", body, ""]
    out.write_text("\n".join(text))
    return out
