"""The training loop: seeded, deterministic, written to a study file as it goes, resumable.

Reproducibility: the shuffling order of epoch ``e`` comes from the stream
``derive_seed(seed, "shuffle", e)`` and dropout draws from ``derive_seed(seed, "epoch", e)``, so
the randomness of an epoch does not depend on the epochs before it. After every epoch the full
training state (weights, optimiser, objective state) is written to ``runs/<run>/resume`` in the
study file; a rerun of the same call continues after the last complete epoch and ends with the same
weights, bit for bit, as an uninterrupted run on the same machine and thread count. A finished run
is not trained again: the call loads its final weights and history.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from landscape._progress import interactive
from landscape._progress import progress as progress_bar
from landscape._seeding import seeded_torch_global, torch_generator
from landscape.data import LabelledDataset
from landscape.errors import ConfigError, NonFiniteError
from landscape.forward import (
    Forward,
    batch_size,
    default_forward,
    forward_name,
    move_batch,
    resolve_forward,
)
from landscape.objectives.base import Batch, LossObjective, Objective, StepContext
from landscape.store import (
    ResumableArray,
    Study,
    append_trajectory,
    load_state_into,
    read_bytes,
    read_state,
    resumable_array,
    write_array,
    write_bytes,
    write_state,
)
from landscape.store import _schema as S
from landscape.store.commit import commit_group, read_committed
from landscape.store.writer import writes_study
from landscape.train.config import TrainConfig
from landscape.train.evaluate import evaluate
from landscape.train.optim import make_optimizer, set_lr
from landscape.train.ranking import history_names, is_sessions
from landscape.train.run_identity import _run_attrs, _same, _signature
from landscape.train.tracking import CurvatureTracker

METRICS = ("train_loss", "train_acc", "train_loss_clean", "train_acc_clean", "test_loss",
           "test_acc", "lr", "train_running_loss", "epoch_seconds")

EpochCallback = Callable[[int, dict[str, float]], None]


@dataclass(frozen=True)
class TrainResult:
    """The outcome of :func:`train`.

    Attributes:
        model: the trained model (eval mode).
        history: per-epoch metrics ``{name: array [epochs + 1]}``; index 0 is the initialisation
            (``lr``, ``train_running_loss`` and ``epoch_seconds`` are NaN there).
        epochs: the epoch axis ``0..epochs``.
        run: run name in the study file (``None`` when not stored).
        path: the study file (``None`` when not stored).
        resumed_from: the last complete epoch found in the file when this call started (``None``
            for a fresh run; ``config.epochs`` when the run had already finished).
        config: the settings it was trained with.
        tracking: with ``track_unit="step"``, the tracked curvature on the step axis
            (:meth:`~landscape.train.tracking.CurvatureTracker.step_history`); empty otherwise
            (epoch-unit values are columns of ``history``).
    """

    model: nn.Module
    history: dict[str, np.ndarray]
    epochs: np.ndarray
    run: str | None = None
    path: Path | None = None
    resumed_from: int | None = None
    config: TrainConfig = field(default_factory=TrainConfig)
    tracking: dict[str, np.ndarray] = field(default_factory=dict)


def _torch_bytes(obj: Any) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _torch_load(payload: bytes) -> Any:
    return torch.load(io.BytesIO(payload), weights_only=True, map_location="cpu")


def _batches(n: int, config: TrainConfig, epoch: int,
             weights: torch.Tensor | None) -> list[torch.Tensor]:
    gen = torch_generator(config.seed, "shuffle", epoch)
    if weights is None:
        order = torch.randperm(n, generator=gen)
    else:
        if weights.shape != (n,) or not bool((weights >= 0).all()) or not weights.sum() > 0:
            raise ConfigError("sampler_weights must be [N] non-negative with a positive sum")
        order = torch.multinomial(weights.double(), n, replacement=True, generator=gen)
    chunks = list(order.split(config.batch_size))
    if config.drop_last and len(chunks) > 1 and len(chunks[-1]) < config.batch_size:
        chunks = chunks[:-1]
    return chunks


def _check_forward(forward: Forward | str | None, objective: Objective, study: Any
                   ) -> tuple[Forward | None, str | None]:
    """The forward (``None`` for the default) and its registry name, checked."""
    fwd = resolve_forward(forward)
    if fwd is default_forward:
        return None, None
    name = forward_name(fwd)
    if not isinstance(objective, LossObjective):
        raise ConfigError(f"forward= needs an objective that is a loss of (outputs, targets); "
                          f"{objective.name!r} uses more of the batch")
    if study is not None and name is None:
        raise ConfigError("a stored run records its forward by name: register it first with "
                          "landscape.forward.register_forward(name, fn)")
    return fwd, name


def _forward_step(fwd: Forward, objective: Objective, batch: Batch, ctx: StepContext
                  ) -> tuple[torch.Tensor, int]:
    """One optimisation step on ``forward(model, (x, y))``; returns the loss and ``n_b``."""
    ctx.optimizer.zero_grad(set_to_none=True)
    outputs, targets = fwd(ctx.model, (batch.x, batch.y))
    loss = objective(outputs, targets)
    if not torch.isfinite(loss):
        raise NonFiniteError(f"the {objective.name} loss became {loss.item()} at epoch "
                             f"{ctx.epoch}, step {ctx.step}")
    loss.backward()
    ctx.optimizer.step()
    return loss.detach(), batch_size(targets)


@writes_study("study")
def train(model: nn.Module, objective: Objective, train_data: LabelledDataset,
          test_data: LabelledDataset | None = None, config: TrainConfig | None = None, *,
          study: str | os.PathLike[str] | None = None, run: str | None = None,
          overwrite: bool = False, progress: bool | None = None,
          callback: EpochCallback | None = None,
          forward: Forward | str | None = None) -> TrainResult:
    """Train ``model`` under ``objective`` on ``train_data``; evaluate every epoch.

    Args:
        model: any ``nn.Module`` mapping a batch of inputs to logits ``[N, C]``; trained in place
            on its own device and dtype (the data are moved/cast to match).
        objective: e.g. ``landscape.objectives.get("ce")``.
        train_data, test_data: :class:`~landscape.data.LabelledDataset` s.
        config: :class:`TrainConfig` (default settings when ``None``).
        study: HDF5 study file to write the run into as it goes (created if missing).
        run: run name in the study (required with ``study``).
        overwrite: delete an existing run of that name first, instead of resuming it.
        progress: a bar per epoch on a terminal, a plain line per epoch (or per tenth of the
            epochs) otherwise (:func:`landscape._progress.progress`); ``False``: nothing;
            default: a bar on a terminal, nothing otherwise.
        callback: called as ``callback(epoch, metrics)`` after each epoch is stored.
        forward: structured batches (:mod:`landscape.forward`): ``forward(model, (x, y))`` →
            ``(outputs, targets)`` for the rows ``x, y`` of a mini-batch, and the objective (a
            loss of ``(outputs, targets)``) is its batch mean; training and evaluation means
            then run over ``len(targets)`` samples (tokens, for a token-level forward). Default:
            ``(model(x), y)``, exactly as without it. A stored run records the forward's
            registry name (attribute ``forward``), so register a custom one first.

    Returns:
        :class:`TrainResult` with the trained model and the per-epoch history.

    Raises:
        ConfigError: bad settings, or a stored run of the same name trained differently.
        NonFiniteError: the loss became NaN/inf.
        StudyLockedError: another process is writing ``study``
            (:func:`landscape.store.writer.single_writer`).

    Example:
        >>> from landscape.data import gaussian_mixture
        >>> from landscape.models import MLP
        >>> from landscape.objectives import get
        >>> data = gaussian_mixture(200, dim=2, num_classes=2, seed=0)
        >>> result = train(MLP(2, 2, depth=1, width=8), get("ce"), data,
        ...                config=TrainConfig(epochs=2, batch_size=50), progress=False)
        >>> result.history["train_acc"].shape
        (3,)
    """
    config = config or TrainConfig()
    if (study is None) != (run is None):
        raise ConfigError("pass both study= and run= to store the run, or neither")
    param = next(model.parameters(), None)
    if param is None:
        raise ConfigError("the model has no parameters to train")
    device, dtype = param.device, param.dtype
    if train_data.x.shape[0] == 0:
        raise ConfigError("the training set is empty")
    if test_data is not None and test_data.input_shape != train_data.input_shape:
        raise ConfigError(f"test inputs {test_data.input_shape} differ from training inputs "
                          f"{train_data.input_shape}")
    fwd, fwd_name = _check_forward(forward, objective, study)
    optimizer = make_optimizer((p for p in model.parameters() if p.requires_grad), config)
    signature = _signature(model, objective, train_data, test_data, config)
    if fwd is not None:  # runs with the default forward keep the signature they always had
        signature["forward"] = fwd_name
    epochs_axis = np.arange(config.epochs + 1)
    tracker = CurvatureTracker(config, model, objective, train_data, fwd) \
        if config.track_curvature else None
    ranked = history_names() if is_sessions(train_data) else ()
    metrics = METRICS + ranked + (tracker.history_names if tracker else ())
    history = {m: np.full(config.epochs + 1, np.nan) for m in metrics}
    start = step = 0
    resumed_from: int | None = None
    path = Path(study) if study is not None else None

    if path is not None:
        assert run is not None
        with Study(path, "a") as st:
            if st.has_run(run) and not overwrite:
                group = st.run(run)
                attrs = st.run_attrs(run)
                if not _same(attrs.get("signature"), signature):
                    raise ConfigError(
                        f"run {run!r} in {path} was trained with other settings, model or data; "
                        "use another --run name, or overwrite it")
                hist = group[S.HISTORY]
                for m in metrics:
                    history[m] = hist[m][()]
                if tracker:
                    tracker.read(group)
                if attrs.get("status") == "finished":
                    load_state_into(model, read_state(read_committed(group, S.MODEL)))
                    return TrainResult(model.eval(), history, epochs_axis, run, path,
                                       config.epochs, config,
                                       tracker.step_history() if tracker else {})
                res = read_committed(group, S.RESUME)
                if res is not None:
                    done = int(res.attrs["epoch"])
                    load_state_into(model, read_state(res))
                    optimizer.load_state_dict(_torch_load(read_bytes(res, "optimizer")))
                    objective.load_state_dict(_torch_load(read_bytes(res, "objective")))
                    if tracker:
                        tracker.load_state(res)
                    start, resumed_from, step = done + 1, done, int(res.attrs["step"])
            else:
                attrs = {**_run_attrs(model, objective, train_data, test_data, config,
                                      signature), "forward": fwd_name or "default"}
                if tracker:
                    attrs["tracking"] = tracker.settings()
                group = st.create_run(run, attrs, overwrite=overwrite)
                hist = group.create_group(S.HISTORY)
                for m in metrics:
                    resumable_array(hist, m, {"epoch": epochs_axis})
                if tracker:
                    tracker.create(group)
                data_group = group.create_group("data")
                write_array(data_group, "train_index", train_data.index.numpy(), compress=True)
                if test_data is not None:
                    write_array(data_group, "test_index", test_data.index.numpy(), compress=True)

    state_bytes = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    x_train = move_batch(train_data.x, device, dtype)
    y_train = train_data.y.to(device)
    yc_train = train_data.y_clean.to(device)
    idx_train = train_data.index.to(device)

    def measure(epoch: int, running: float, lr: float, seconds: float) -> dict[str, float]:
        tr = evaluate(model, train_data, objective, batch_size=config.eval_batch_size,
                      forward=fwd)
        row = {"train_loss": tr["loss"], "train_acc": tr["acc"],
               "train_loss_clean": tr["loss_clean"], "train_acc_clean": tr["acc_clean"],
               "test_loss": np.nan, "test_acc": np.nan, "lr": lr,
               "train_running_loss": running, "epoch_seconds": seconds}
        if test_data is not None:
            te = evaluate(model, test_data, objective, batch_size=config.eval_batch_size,
                          forward=fwd)
            row["test_loss"], row["test_acc"] = te["loss_clean"], te["acc_clean"]
        for split, res in (("train", tr), ("test", te if test_data is not None else {})):
            for name in ranked:
                if name.startswith(split + "_"):
                    row[name] = res.get(name[len(split) + 1:], np.nan)
        if tracker:
            row.update(tracker.at_epoch(model, epoch))
        for k, v in row.items():
            history[k][epoch] = v
        return row

    def store(epoch: int, row: dict[str, float], final: bool, step: int) -> None:
        if path is None:
            return
        with Study(path, "a", reserve=4 * state_bytes) as st:  # weights, moments, checkpoint
            group = st.run(run)  # type: ignore[arg-type]
            hist = group[S.HISTORY]
            for k, v in row.items():
                ResumableArray(hist[k], hist[k + S.COMPUTED_SUFFIX], flush=False)[epoch] = v
            every = config.checkpoint_every
            if every and (epoch % every == 0 or epoch == config.epochs):
                append_trajectory(group, model, epoch)
            if tracker:
                tracker.write(group)
            commit_group(group, S.RESUME, lambda res: (
                write_state(res, model, provenance=False),
                write_bytes(res, "optimizer", _torch_bytes(optimizer.state_dict())),
                write_bytes(res, "objective", _torch_bytes(objective.state_dict())),
                tracker.save_state(res) if tracker else None),
                {"step": step, "epoch": epoch})
            group.attrs["epochs_done"] = epoch
            if final:
                commit_group(group, S.MODEL, lambda g: write_state(g, model))
                group.attrs["param_hash"] = group[S.MODEL].attrs["param_hash"]
                group.attrs["status"] = "finished"
                group.attrs["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")

    if start == 0:
        if tracker:
            tracker.at_step(model, 0)
        row = measure(0, np.nan, np.nan, np.nan)
        store(0, row, final=config.epochs == 0, step=0)
        if callback:
            callback(0, row)
        start = 1
    if resumed_from == config.epochs:  # stopped between the last epoch and the final weights
        store(config.epochs, {m: history[m][config.epochs] for m in metrics}, True, step)

    quiet = progress is False or (progress is None and not interactive())
    bar = progress_bar(range(start, config.epochs + 1), initial=start - 1, total=config.epochs,
                       desc=f"train {run or ''}".strip(), unit="epoch", quiet=quiet)
    model.train()
    for epoch in bar:
        t0 = time.perf_counter()
        e0 = epoch - 1  # 0-based epoch index used for seeds and the schedule
        lr = set_lr(optimizer, e0, config)
        with seeded_torch_global(config.seed, "epoch", e0):
            objective.on_epoch_start(e0, model, train_data)
            weights = objective.sampler_weights(e0, train_data)
            total = torch.zeros((), dtype=torch.float64)
            count = 0
            for rows in _batches(len(train_data), config, e0, weights):
                rows = rows.to(device)
                batch = Batch(x_train[rows], y_train[rows], yc_train[rows], idx_train[rows])
                ctx = StepContext(model, optimizer, e0, step, train_data.num_classes)
                if fwd is None:
                    loss, n = objective.training_step(batch, ctx).loss, len(rows)
                else:
                    loss, n = _forward_step(fwd, objective, batch, ctx)
                total += loss.double().cpu() * n
                count += n
                step += 1
                if tracker:
                    tracker.at_step(model, step)
        row = measure(epoch, float(total / max(count, 1)), lr, time.perf_counter() - t0)
        model.train()
        store(epoch, row, final=epoch == config.epochs, step=step)
        bar.set_postfix(loss=f"{row['train_loss']:.4f}", acc=f"{row['train_acc']:.3f}",
                        test=f"{row['test_acc']:.3f}")
        if callback:
            callback(epoch, row)
    bar.close()
    return TrainResult(model.eval(), history, epochs_axis, run, path, resumed_from, config,
                       tracker.step_history() if tracker else {})
