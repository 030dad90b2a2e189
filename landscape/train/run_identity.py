"""What identifies a stored training run (private): the signature a resuming call must match,
the provenance attributes a new run is written with, and the comparison of signatures that lets
settings added since a run was stored take their defaults.
"""

from __future__ import annotations

import json
from typing import Any

from torch import nn

from landscape.data import LabelledDataset
from landscape.objectives.base import Objective
from landscape.store.provenance import environment, model_provenance
from landscape.train.config import TrainConfig


def _signature(model: nn.Module, objective: Objective, train_data: LabelledDataset,
               test_data: LabelledDataset | None, config: TrainConfig) -> dict[str, Any]:
    """What must agree between a stored run and a call that resumes it."""
    prov = model_provenance(model)
    return {
        "config": config.to_dict(),
        "objective": objective.describe(),
        "model_class": prov["model_class"],
        "model_kwargs": json.loads(prov["model_kwargs"]),
        "num_params": prov["num_params"],
        "train_data": train_data.describe(),
        "test_data": test_data.describe() if test_data is not None else None,
    }


def _run_attrs(model: nn.Module, objective: Objective, train_data: LabelledDataset,
               test_data: LabelledDataset | None, config: TrainConfig,
               signature: dict[str, Any]) -> dict[str, Any]:
    prov = model_provenance(model)
    train_desc = train_data.describe()
    return {
        "kind": "training",
        "status": "running",
        "epochs_done": -1,
        "seed": config.seed,
        "signature": signature,
        "config": config.to_dict(),
        "objective": objective.name,
        "objective_params": objective.params(),
        "dataset_id": train_data.name,
        "dataset": train_desc,
        "test_dataset": test_data.describe() if test_data is not None else None,
        "transforms": list(train_data.transforms),
        "num_samples": len(train_data),
        "subset_indices_sha256": train_desc["indices_sha256"],
        "init_param_hash": prov["param_hash"],
        **{k: v for k, v in prov.items() if k != "param_hash"},
        **environment(),
    }


#: Settings that change how fast a run goes, not the weights it reaches: a run resumes or loads
#: whatever they were when it was stored.
_SPEED_ONLY = ("eval_batch_size",)


def _same(stored: Any, wanted: dict[str, Any]) -> bool:
    defaults = TrainConfig().to_dict()

    def key(signature: Any) -> str:
        if isinstance(signature, dict) and isinstance(signature.get("config"), dict):
            # settings added since a run was stored take their defaults (tracking off); the
            # tracking settings of an untracked run do nothing
            config = {**defaults, **signature["config"]}
            config = {k: v for k, v in config.items() if k not in _SPEED_ONLY and not (
                k.startswith("track_") and not config["track_curvature"])}
            signature = {**signature, "config": config}
        return json.dumps(signature, sort_keys=True, default=str)

    return key(stored) == key(wanted)
