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
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from landscape.compare import MeasureConfig, MinimumMeasures
from landscape.compare import measure_runs as compare_measure_runs
from landscape.data import LabelledDataset, load_splits, long_tail, subset, symmetric_noise
from landscape.models import build
from landscape.objectives import Objective, get
from landscape.plot._style import plt
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
                            help="processes that train and measure runs side by side (default "
                                 "1; each takes one core and works on one run at a time in a "
                                 "shard file of its own)")
        parser.add_argument("--scheduler", default=None, metavar="SPEC",
                            help="train and measure the runs on Dask instead: local:N (a local "
                                 "cluster of N worker processes) or tcp://HOST:PORT (a running "
                                 "scheduler); needs the 'cluster' extra")


@contextlib.contextmanager
def executor_of(args: argparse.Namespace) -> Iterator[Any]:
    """The Dask executor of ``--scheduler`` for the body of the block (``None`` without)."""
    if getattr(args, "scheduler", None) is None:
        yield None
        return
    from landscape.cluster import dask_executor

    with dask_executor(args.scheduler) as executor:
        yield executor


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


def objective_params(name: str, data: LabelledDataset) -> dict[str, Any]:
    """The analyses' parameters of objective ``name``; ``logit_adjusted`` gets the class
    counts of its training set (uniform for balanced data, so it reduces to CE there)."""
    params = dict(OBJECTIVE_PARAMS.get(name, {}))
    if name == "logit_adjusted":
        params["class_counts"] = [int(c) for c in data.class_counts]
    return params


def objective_for(name: str, data: LabelledDataset) -> Objective:
    """The objective ``name`` with :func:`objective_params`."""
    return get(name, **objective_params(name, data))


def _config(spec: RunSpec, epochs: int) -> TrainConfig:
    return TrainConfig(epochs=epochs, batch_size=spec.batch_size, lr=spec.lr, seed=spec.seed,
                       checkpoint_every=max(1, epochs // 5))


def train_runs(path: str, specs: Sequence[RunSpec], data_of: Callable[[RunSpec], LabelledDataset],
               test_data: LabelledDataset, epochs: int, quick: bool, *, quiet: bool,
               device: str = "cpu", workers: int = 1, executor: Any = None
               ) -> tuple[list[RunSpec], float]:
    """Train (or load) every run into ``path``, one printed line per run. Returns the runs that
    finished (a run whose loss became NaN/inf is reported and left out) and the seconds taken.
    With ``workers > 1`` or a (Dask) ``executor`` the runs train side by side
    (:func:`landscape.train.train_runs`, one shard file per run; the same weights).
    """
    from tqdm.auto import tqdm

    from landscape.errors import NonFiniteError

    start = time.perf_counter()
    if workers > 1 or executor is not None:
        from landscape.train import TrainJob
        from landscape.train import train_runs as train_in_workers

        test = test_data.describe()
        jobs = []
        for s in specs:
            data = data_of(s)
            jobs.append(TrainJob(s.name, s.model, MODEL_KWARGS[s.model, quick], s.objective,
                                 objective_params(s.objective, data), data.describe(), test,
                                 _config(s, epochs), model_seed=s.seed,
                                 device=None if device == "cpu" else device))
        out = train_in_workers(path, jobs, workers=workers, executor=executor,
                               log=lambda line: print(line, flush=True))
        print(f"trained {len(out)} runs side by side, {len(specs) - len(out)} found finished "
              "in the study")
        return ([s for s in specs if not isinstance(out.get(s.name), NonFiniteError)],
                time.perf_counter() - start)
    finished, loaded = [], 0
    bar = tqdm(specs, desc="training", unit="run", disable=quiet, leave=False)
    for spec in bar:
        bar.set_postfix_str(spec.name)
        data = data_of(spec)
        model = build(spec.model, data.input_shape, data.num_classes, seed=spec.seed,
                      **MODEL_KWARGS[spec.model, quick]).to(device)
        config = _config(spec, epochs)
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


def measure_runs(path: str, specs: Sequence[RunSpec], config: MeasureConfig, *,
                 quiet: bool, workers: int = 1, device: str = "cpu", executor: Any = None
                 ) -> tuple[list[MinimumMeasures], float]:
    """:func:`landscape.compare.measure_runs` of every run (``workers`` processes, one shard
    file per run; stored measurements are read back), one printed line per run; returns the
    results and the seconds taken."""
    start = time.perf_counter()
    results = compare_measure_runs(path, [s.name for s in specs], config=config,
                                   workers=workers, executor=executor, device=device,
                                   progress=not quiet,
                                   log=lambda line: print(line, flush=True))
    print(f"measured {sum(bool(r.recomputed) for r in results)} minima, read "
          f"{sum(not r.recomputed for r in results)} back from the study")
    return results, time.perf_counter() - start


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


def train_and_measure(path: str, specs: Sequence[RunSpec],
                      data_of: Callable[[RunSpec], LabelledDataset], test_data: LabelledDataset,
                      epochs: int, config: MeasureConfig, args: argparse.Namespace
                      ) -> tuple[list[RunSpec], float, list[MinimumMeasures], float]:
    """:func:`train_runs` then :func:`measure_runs` with the ``--workers`` / ``--scheduler``,
    ``--device`` and ``--quiet`` of ``args``: the finished runs, the seconds of training, the
    measures and the seconds of measuring."""
    with executor_of(args) as executor:
        done, trained = train_runs(path, specs, data_of, test_data, epochs, args.quick,
                                   quiet=args.quiet, device=args.device, workers=args.workers,
                                   executor=executor)
        results, measured = measure_runs(path, done, config, quiet=args.quiet,
                                         workers=args.workers, device=args.device,
                                         executor=executor)
    return done, trained, results, measured
