"""Local entropy stored in a study file: :func:`local_entropy_to_study`, checkpointed after every
γ and resumable (the checkpoint itself is :mod:`landscape.flatness._entropy_checkpoint`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from landscape.flatness._entropy_checkpoint import StudyCheckpoint
from landscape.flatness._evaluate import LossFn
from landscape.flatness._sgld import check_gammas
from landscape.store.writer import writes_study

if TYPE_CHECKING:
    from landscape.flatness.local_entropy import LocalEntropyResult


@writes_study("path")
def local_entropy_to_study(path: str | os.PathLike[str], run: str, name: str, model: nn.Module,
                           loss_fn: LossFn, data: object,
                           gammas: Sequence[float] | np.ndarray | torch.Tensor, *,
                           overwrite: bool = False, **kwargs: Any) -> LocalEntropyResult:
    """:func:`~landscape.flatness.local_entropy`, stored under ``runs/<run>/measurements/<name>``
    in a study file, checkpointed after every γ and resumable.

    The chains are warm-started from one γ to the next, so after every γ the chains themselves
    (and their random streams) are checkpointed into the measurement's group along with the
    per-γ records (:mod:`~landscape.flatness._entropy_checkpoint`); a killed job called again with
    the same arguments continues with the next γ, never recomputes a finished one, and ends with
    the same numbers as an uninterrupted run (same machine and thread count). The complete result
    then replaces the checkpoint; a later call with the same settings, γ values and model weights
    reads it instead of recomputing. Other settings under the same name raise
    :class:`~landscape.errors.StoreError` unless ``overwrite``.

    Args:
        path, run, name: the study file, the run, and the measurement's name.
        overwrite: recompute and replace a stored result (or checkpoint) made with other
            settings.
        **kwargs: the keyword options of :func:`~landscape.flatness.local_entropy`.
    """
    import json

    from landscape.errors import StoreError

    # at call time: landscape.flatness.local_entropy re-exports this function
    from landscape.flatness.local_entropy import LocalEntropyResult, local_entropy
    from landscape.store import Study, load_result, param_hash, save_result
    from landscape.store._schema import MEASUREMENTS
    from landscape.store.study import write_attrs

    settings = json.dumps({"gammas": check_gammas(gammas)[0].tolist(),
                           "param_hash": param_hash(model),
                           **{k: v for k, v in sorted(kwargs.items()) if k != "progress"}},
                          sort_keys=True, default=str)
    with Study(path, "r") as study:
        group = study.run(run).get(MEASUREMENTS)
        found = group is not None and name in group
        same = found and group[name].attrs.get("settings") == settings
        if same and not group[name].attrs.get("partial", False):
            return load_result(group[name], LocalEntropyResult)
        if found and not same and not overwrite:
            raise StoreError(f"measurement {name!r} of run {run!r} was made with other "
                             "settings, γ values or weights; use another name or overwrite")
    if not same:
        with Study(path, "a") as study:
            parent = study.run(run).require_group(MEASUREMENTS)
            if name in parent:
                del parent[name]
            write_attrs(parent.create_group(name), {"settings": settings,
                                                    "kind": "local_entropy", "partial": True})
    result = local_entropy(model, loss_fn, data, gammas,
                           _checkpoint=StudyCheckpoint(path, run, name), **kwargs)
    with Study(path, "a") as study:
        save_result(study.run(run).require_group(MEASUREMENTS), name, result,
                    attrs={"settings": settings, "kind": "local_entropy",
                           "device": str(next(model.parameters()).device)})
    return result
