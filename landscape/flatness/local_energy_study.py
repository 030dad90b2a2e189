"""Local energy stored in a study file: :func:`local_energy_to_study` writes the samples of
:func:`~landscape.flatness.local_energy` σ by σ, resumable, and :func:`read_local_energy` reads
them back into a :class:`~landscape.flatness.LocalEnergyResult`.

The functions import :mod:`landscape.flatness.local_energy` when called, since that module
re-exports them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from landscape.errors import ConfigError, StoreError
from landscape.flatness._evaluate import LossFn
from landscape.store.writer import writes_study

if TYPE_CHECKING:
    from landscape.flatness.local_energy import LocalEnergyResult


@writes_study("path")
def local_energy_to_study(path: str | os.PathLike[str], run: str, name: str, model: nn.Module,
                          loss_fn: LossFn, data: object,
                          sigmas: Sequence[float] | np.ndarray | torch.Tensor, num_samples: int,
                          *, overwrite: bool = False, progress: bool = False,
                          **kwargs: Any) -> LocalEnergyResult:
    """:func:`~landscape.flatness.local_energy`, written into a study file as it goes and
    resumable per σ.

    Layout under ``runs/<run>/measurements/<name>/``: resumable arrays ``loss`` and ``error``
    ``[sigma, S]`` (axis ``sigma`` a dimension scale, NaN + ``*.computed`` mask until written);
    the group's attributes hold the settings, ``base``, ``base_error`` and the parameter hash of
    the model. Each σ is written (and the file closed again) as soon as its samples are done, so
    a killed job loses at most the σ in flight; calling again with the same arguments computes
    only the σ values not yet written.

    Args:
        path: the study file; ``run`` must exist in it.
        name: the measurement's name.
        overwrite: replace a measurement of that name made with other settings, sigmas or model
            (otherwise such a clash raises :class:`StoreError`).
        **kwargs: the keyword options of :func:`~landscape.flatness.local_energy`.

    Returns:
        The complete :class:`~landscape.flatness.LocalEnergyResult` (also readable later with
        :func:`read_local_energy`).
    """
    from landscape.flatness.local_energy import _LocalEnergy, check_sigmas
    from landscape.store import Study, param_hash, resumable_array
    from landscape.store._schema import MEASUREMENTS
    from landscape.store.study import read_attrs, write_attrs

    sig = check_sigmas(sigmas)
    job = _LocalEnergy(model, loss_fn, data, num_samples, **_job_kwargs(kwargs))
    settings = {**job.settings(), "kind": "local_energy", "param_hash": param_hash(model)}
    axes = {"sigma": sig}
    with Study(path, "a") as study:
        group = study.run(run).require_group(MEASUREMENTS)
        if name in group:
            old = {k: v for k, v in read_attrs(group[name]).items() if k in settings}
            same_axes = "sigma" in group[name] and np.array_equal(group[name]["sigma"][()], sig)
            if old != settings or not same_axes:
                if not overwrite:
                    diff = sorted(k for k in settings if old.get(k) != settings[k])
                    raise StoreError(f"{group.name}/{name} holds a local-energy measurement with "
                                     f"other settings ({diff or 'sigmas'}); use another name or "
                                     "overwrite=True")
                del group[name]
        meas = group.require_group(name)
        write_attrs(meas, settings)
        for key in ("loss", "error"):
            resumable_array(meas, key, axes, trailing=(job.num_samples,))
        pending = [i for i in range(sig.size) if not meas["loss.computed"][i]]
    if pending:
        base, base_err = job.base()
        with Study(path, "a") as study:
            write_attrs(study.run(run)[MEASUREMENTS][name], {
                "base": base, "base_error": base_err,
                "device": str(next(model.parameters()).device)})  # of the last computing call
    with tqdm(total=len(pending) * job.num_chunks, desc=f"local energy {name}",
              disable=not progress, leave=False) as bar:
        for i in pending:
            loss, err = job.sigma(float(sig[i]), bar)
            with Study(path, "a") as study:
                meas = study.run(run)[MEASUREMENTS][name]
                resumable_array(meas, "error", axes, trailing=(job.num_samples,))[i] = err
                resumable_array(meas, "loss", axes, trailing=(job.num_samples,))[i] = loss
    return read_local_energy(path, run, name)


def _job_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    from landscape.flatness.local_energy import DEFAULT_MEMORY_BUDGET

    known = {"noise": "multiplicative", "seed": 0, "per_batch_noise": False, "bn": "stored",
             "bn_batches": None, "params": None, "biasbn": None, "chunk_size": None,
             "memory_budget": DEFAULT_MEMORY_BUDGET, "batched": True}
    unknown = sorted(set(kwargs) - set(known))
    if unknown:
        raise ConfigError(f"unknown option(s) {unknown} of local_energy")
    return {**known, **kwargs}


def read_local_energy(path: str | os.PathLike[str], run: str, name: str) -> LocalEnergyResult:
    """Read a measurement written by :func:`local_energy_to_study` (σ values not computed yet
    have NaN samples; :attr:`LocalEnergyResult.mean` is then NaN there)."""
    from landscape._measure import stored_measurement
    from landscape.flatness.local_energy import LocalEnergyResult
    from landscape.store import Study
    from landscape.store.study import read_attrs

    with Study(path, "r") as study:
        meas = stored_measurement(study, run, name)
        attrs = read_attrs(meas)
        if attrs.get("kind") != "local_energy":
            raise StoreError(f"{meas.name} is not a local-energy measurement")
        sig, loss, err = meas["sigma"][()], meas["loss"][()], meas["error"][()]
    keys = ("noise", "biasbn", "bn", "per_batch_noise", "estimator", "seed", "num_samples",
            "num_data")
    return LocalEnergyResult.from_samples(
        sig, attrs.get("base", math.nan), loss, attrs.get("base_error", math.nan), err,
        **{k: attrs[k] for k in keys})
