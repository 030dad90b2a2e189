"""Model weights in study files: stored under their names, rebuilt with :func:`load_model`."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import Any

import h5py
import numpy as np
import torch
from torch import nn

from landscape.errors import StoreError, StudyDamagedError
from landscape.models import build_from_config
from landscape.store import _schema as S
from landscape.store.arrays import write_array
from landscape.store.commit import read_committed
from landscape.store.provenance import model_provenance, param_hash
from landscape.store.space import ensure_space
from landscape.store.study import Study, read_attrs, write_attrs


def _to_numpy(t: torch.Tensor) -> np.ndarray:
    t = t.detach().cpu()
    return (t.float() if t.dtype == torch.bfloat16 else t).numpy()


def write_state(group: h5py.Group, model: nn.Module, *, provenance: bool = True) -> None:
    """Write ``model``'s parameters and buffers into ``group/parameters`` and ``group/buffers``,
    each dataset named after its ``named_parameters()``/``named_buffers()`` key, plus (with
    ``provenance``) the model's class, constructor arguments, sizes and hash as attributes of
    ``group``. Existing datasets are overwritten in place."""
    for sub, tensors in ((S.PARAMETERS, dict(model.named_parameters())),
                         (S.BUFFERS, dict(model.named_buffers()))):
        holder = group.require_group(sub)
        for stale in set(holder) - set(tensors):
            del holder[stale]
        for name, t in tensors.items():
            write_array(holder, name, _to_numpy(t))  # in place when it exists already
    if provenance:  # string attributes live in the global heap, which rewrites would leak
        write_attrs(group, model_provenance(model))


def read_state(group: h5py.Group) -> dict[str, torch.Tensor]:
    """The state dict (parameters and buffers) stored by :func:`write_state`."""
    state: dict[str, torch.Tensor] = {}
    for sub in (S.PARAMETERS, S.BUFFERS):
        if sub in group:
            for name, ds in group[sub].items():
                state[name] = torch.from_numpy(np.array(ds[()]))
    return state


def load_state_into(model: nn.Module, state: dict[str, torch.Tensor]) -> nn.Module:
    """Copy ``state`` into ``model`` (names must match exactly), keeping its dtype and device."""
    own = dict(model.named_parameters()) | dict(model.named_buffers())
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise StoreError(f"stored weights do not fit the model: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}")
    with torch.no_grad():
        for name, target in own.items():
            src = state[name]
            if tuple(src.shape) != tuple(target.shape):
                raise StoreError(f"{name}: stored shape {list(src.shape)} differs from the "
                                 f"model's {list(target.shape)}")
            target.copy_(src.to(dtype=target.dtype, device=target.device))
    return model


ModelSource = nn.Module | Callable[[], nn.Module] | None


def load_model(path: str | os.PathLike[str], run: str, *, model: ModelSource = None,
               checkpoint: int | None = None, device: str | torch.device | None = None,
               dtype: torch.dtype | None = None, verify: bool = True) -> nn.Module:
    """Rebuild the model of ``run`` from a study file, in eval mode.

    Args:
        path: the study file.
        run: the run name.
        model: a model instance or factory to load the weights into; by default the model is
            rebuilt from its recorded class and constructor arguments (landscape's own models,
            and any model that called :func:`landscape.models.record_config`).
        checkpoint: an epoch stored on the trajectory to load instead of the final weights.
        device, dtype: where and in which precision to put the model (default: as stored).
        verify: check that the loaded parameters hash to the stored ``param_hash``.

    Example:
        >>> # model = load_model("results/demo.h5", "mlp-ce-seed0")
    """
    with Study(path, "r") as study:
        group = study.run(run)
        if checkpoint is not None:
            state, expected = _trajectory_state(group, checkpoint)
            attrs = read_attrs(group[S.MODEL]) if S.MODEL in group else read_attrs(group)
        else:
            if S.MODEL not in group:
                raise StoreError(f"run {run!r} in {path} has no final model yet (training not "
                                 "finished?); load a checkpoint=EPOCH from its trajectory")
            final = read_committed(group, S.MODEL)
            if final is None:
                raise StudyDamagedError(f"{path}: the final model of run {run!r} does not match "
                                        "its digest (damaged); load a checkpoint=EPOCH instead")
            attrs = read_attrs(final)
            state = read_state(final)
            expected = attrs.get("param_hash")
    net = _instantiate(model, attrs, path, run)
    stored_dtype = getattr(torch, str(attrs.get("dtype", "")), None)
    if isinstance(stored_dtype, torch.dtype) and stored_dtype.is_floating_point:
        net = net.to(dtype=stored_dtype)  # verify in the stored precision, convert afterwards
    load_state_into(net, state)
    if verify and expected and param_hash(net) != expected:
        raise StoreError(f"weights of run {run!r} do not match their stored hash: the file may "
                         "be corrupt or the model class changed")
    if dtype is not None:
        net = net.to(dtype=dtype)
    if device is not None:
        net = net.to(device)
    return net.eval()


def _instantiate(model: ModelSource, attrs: dict[str, Any], path: Any, run: str) -> nn.Module:
    if isinstance(model, nn.Module):
        return model
    if model is not None:
        return model()
    kwargs = attrs.get("model_kwargs")
    if kwargs is None:
        raise StoreError(f"run {run!r} in {path} stores a {attrs.get('model_class')} without "
                         "constructor arguments; pass model=... to load_model")
    return build_from_config({"name": attrs.get("model_name"),
                              "class": attrs.get("model_class", ""), "kwargs": kwargs})


def _trajectory_state(group: h5py.Group, epoch: int) -> tuple[dict[str, torch.Tensor], None]:
    if S.TRAJECTORY not in group:
        raise StoreError(f"run {group.name} has no trajectory checkpoints")
    traj = group[S.TRAJECTORY]
    epochs = trajectory_epochs(traj)
    hits = np.flatnonzero(epochs == epoch)
    if not len(hits):
        raise StoreError(f"no checkpoint at epoch {epoch}; stored epochs: {epochs.tolist()}")
    k = int(hits[0])
    state = {name: torch.from_numpy(np.array(ds[k])) for name, ds in traj["state"].items()}
    if "digest" in traj and traj["digest"][k] != _row_digest(epoch, state):
        raise StudyDamagedError(f"{group.file.filename}: checkpoint of epoch {epoch} in "
                                f"{traj.name} does not match its digest (damaged)")
    return state, None


def trajectory_epochs(traj: h5py.Group) -> np.ndarray:
    """The epochs of the committed checkpoints of a trajectory group (rows past the committed
    count, left by an interrupted append, are not checkpoints)."""
    epochs = traj["epoch"][()]
    return epochs[: int(traj.attrs.get("count", len(epochs)))]


def _row_digest(epoch: int, state: dict[str, Any]) -> int:
    h = hashlib.sha256(f"{epoch};".encode())
    for name in sorted(state):
        value = np.ascontiguousarray(state[name].numpy() if isinstance(state[name], torch.Tensor)
                                     else state[name])
        h.update(f"{name}:{value.dtype.str}:{value.shape};".encode() + value.tobytes())
    return int.from_bytes(h.digest()[:8], "little") >> 1


def append_trajectory(group: h5py.Group, model: nn.Module, epoch: int) -> None:
    """Append ``model``'s state at ``epoch`` to ``group/trajectory`` (resizable ``[K, *shape]``
    datasets per parameter/buffer name, with the ``epoch`` dimension scale); an epoch already
    stored is overwritten in place, so a resumed run does not duplicate checkpoints.

    Each append is a commit: the row's values, its epoch and its digest are written first and
    the trajectory's ``count`` attribute, raised last, makes the row a checkpoint; a row left
    past ``count`` by a kill is overwritten by the next append and never listed or loaded.
    """
    state = {k: _to_numpy(t) for k, t in
             (dict(model.named_parameters()) | dict(model.named_buffers())).items()}
    ensure_space(group, sum(a.nbytes for a in state.values()))
    traj = group.require_group(S.TRAJECTORY)
    if "epoch" not in traj:
        traj.create_dataset("epoch", shape=(0,), maxshape=(None,), dtype=np.int64,
                            chunks=(64,), fletcher32=True)
        traj["epoch"].make_scale("epoch")
        holder = traj.create_group("state")
        for name, arr in state.items():
            ds = holder.create_dataset(name, shape=(0, *arr.shape), maxshape=(None, *arr.shape),
                                       dtype=arr.dtype, chunks=(1, *arr.shape) if arr.ndim else
                                       (64,), fletcher32=True)
            ds.dims[0].attach_scale(traj["epoch"])
        traj.create_dataset("digest", shape=(0,), maxshape=(None,), dtype=np.int64,
                            chunks=(64,), fletcher32=True)
        traj.attrs["count"] = 0
    epochs = traj["epoch"]
    count = len(trajectory_epochs(traj))
    hits = np.flatnonzero(epochs[:count] == epoch)
    k = int(hits[0]) if len(hits) else count
    size = max(epochs.shape[0], k + 1)
    for ds in (epochs, *traj["state"].values(), *([traj["digest"]] if "digest" in traj else [])):
        if ds.shape[0] < size:
            ds.resize((size, *ds.shape[1:]))
    for name, arr in state.items():
        traj["state"][name][k] = arr
    if "digest" in traj:
        traj["digest"][k] = _row_digest(epoch, state)
    epochs[k] = epoch
    traj.attrs["count"] = max(count, k + 1)
