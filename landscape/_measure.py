"""Plumbing shared by every measurement of a stored run (private).

A measurement starts from a run in a study file: the trained model (rebuilt, eval mode), the data it
was trained on (rebuilt from provenance, optionally a fixed seeded subset whose indices are stored
with the results), and the loss it was trained under. It writes its results under
``runs/<run>/measurements/<name>/``, each with the settings that produced it, so a rerun with the
same settings skips what is stored.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import h5py
import torch
from torch import nn

from landscape.data import LabelledDataset, subset
from landscape.errors import ConfigError, StoreError
from landscape.forward import Forward, default_forward, get_forward, move_batch
from landscape.objectives import LossObjective, get
from landscape.store import Study, load_model, load_run_data, run_attrs, write_array, write_attrs
from landscape.store import _schema as S

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Setup:
    """What a measurement of a stored run works on."""

    model: nn.Module
    data: LabelledDataset
    loss_fn: LossFn
    loss_name: str
    attrs: dict[str, Any]
    forward: Forward = default_forward

    def describe(self) -> dict[str, Any]:
        """Provenance recorded with every result of this measurement."""
        return {"dataset_id": self.data.name, "num_samples": len(self.data),
                "subset_indices_sha256": self.data.indices_hash(), "loss": self.loss_name,
                "param_hash": self.attrs.get("param_hash", ""),
                "dtype": str(next(self.model.parameters()).dtype).replace("torch.", ""),
                "device": str(next(self.model.parameters()).device)}


def training_loss(attrs: dict[str, Any]) -> tuple[LossFn, str]:
    """The per-sample-mean loss the run was trained under; cross-entropy for a procedure that is
    not a single loss of the logits (HSIC, GCL, ...)."""
    name = str(attrs.get("objective", "ce"))
    try:
        objective = get(name, **(attrs.get("objective_params") or {}))
    except ConfigError:  # an objective this version does not know: fall back to CE
        objective = None
    if isinstance(objective, LossObjective):
        return objective, name
    return get("ce"), "ce"


def prepare(path: str | os.PathLike[str], run: str, *, split: str = "train",
            num_samples: int | None = None, seed: int = 0, dtype: torch.dtype | None = None,
            device: str | torch.device | None = None,
            data_dir: str | os.PathLike[str] | None = None) -> Setup:
    """Load the model, the (sub)set of its data, and its training loss, for a measurement."""
    attrs = run_attrs(path, run)
    model = load_model(path, run, dtype=dtype, device=device)
    data = load_run_data(path, run, "test" if split == "test" else "train", data_dir=data_dir)
    if num_samples is not None and num_samples < len(data):
        data = subset(data, num_samples, seed=seed)
    loss_fn, loss_name = training_loss(attrs)
    forward = get_forward(str(attrs.get("forward") or "default"))  # by registry name only
    return Setup(model, data, loss_fn, loss_name, attrs, forward)


def batches(data: LabelledDataset, model: nn.Module,
            batch_size: int | None) -> tuple[torch.Tensor, torch.Tensor] | list[tuple[torch.Tensor,
                                                                                     torch.Tensor]]:
    """The data as one ``(x, y)`` batch, or a list of batches of ``batch_size``, on the model's
    device and in its dtype."""
    p = next(model.parameters())
    x, y = move_batch(data.x, p.device, p.dtype), data.y.to(p.device)
    if batch_size is None or batch_size >= len(data):
        return x, y
    return [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, len(data), batch_size)]


def measurement_group(study: Study, run: str, name: str, setup: Setup) -> h5py.Group:
    """``runs/<run>/measurements/<name>``, created with the data indices and provenance; an
    existing group measured on other data is an error (use another name)."""
    group = study.run(run).require_group(S.MEASUREMENTS).require_group(name)
    prov = setup.describe()
    if "indices" in group:
        stored = group.attrs.get("subset_indices_sha256")
        if stored != prov["subset_indices_sha256"] or group.attrs.get("param_hash") != \
                prov["param_hash"]:
            raise StoreError(f"measurement {name!r} of run {run!r} was made on other data or "
                             "weights; choose another --name or overwrite it")
    else:
        write_array(group, "indices", setup.data.index.numpy(), compress=True)
        write_attrs(group, prov)
    return group


def same_settings(group: h5py.Group, key: str, settings: dict[str, Any]) -> bool:
    """Whether ``group/key`` exists and was computed with exactly ``settings``."""
    if key not in group:
        return False
    stored = group[key].attrs.get("settings")
    return stored is not None and json.loads(stored) == json.loads(json.dumps(settings))


def stored_measurement(study: Study, run: str, name: str) -> h5py.Group:
    """The existing group ``runs/<run>/measurements/<name>`` (clear error when missing)."""
    group = study.run(run)
    if S.MEASUREMENTS not in group or name not in group[S.MEASUREMENTS]:
        raise StoreError(f"run {run!r} of {study.path} has no measurement {name!r}")
    return group[S.MEASUREMENTS][name]
