"""The hyper-parameters that tell stored runs apart, read from their provenance.

The granulated coefficient (:mod:`landscape.compare.granulated`) needs, for every run, the value
of each hyper-parameter; a study file already holds them. :func:`run_factors` reads, per run:

* ``objective``: the objective's name and parameters;
* ``model``: the model class and its constructor arguments;
* ``data``: the dataset and its transforms (label noise, long tail, subset), without their seeds,
  since a noise draw is a replicate, like the training seed;
* every training setting (``batch_size``, ``lr``, ``momentum``, ``weight_decay``, ``epochs``,
  ``optimizer``, ``schedule``, ...), except the seed and the settings that only change speed or
  storage (:data:`NOT_FACTORS`);

and keeps those that take more than one value across the runs. The training seed is returned
apart, as the stratum: runs with different seeds are replicates, never compared.
:func:`merge_confounded` joins factors that always change together (a design that pairs each
batch size with one learning rate): no group of runs varies one without the other, so they are
one axis.

Example:
    >>> import os, tempfile
    >>> from landscape.data import gaussian_mixture
    >>> from landscape.models import MLP
    >>> from landscape.objectives import get
    >>> from landscape.train import TrainConfig, train
    >>> path = os.path.join(tempfile.mkdtemp(), "s.h5")
    >>> data = gaussian_mixture(100, dim=2, num_classes=2, seed=0)
    >>> for lr in (0.01, 0.1):
    ...     _ = train(MLP(2, 2, depth=1, width=4), get("ce"), data, None,
    ...               TrainConfig(epochs=1, lr=lr), study=path, run=f"lr{lr}", progress=False)
    >>> factors, seeds = run_factors(path, ["lr0.01", "lr0.1"])
    >>> factors, seeds
    ({'lr': [0.01, 0.1]}, [0, 0])
"""

from __future__ import annotations

import json
import os
from collections.abc import Hashable, Sequence
from typing import Any

from landscape.errors import StoreError
from landscape.store import Study, read_attrs

#: Training settings that are not hyper-parameters of the minimum: the seed (the stratum) and
#: those that change only speed or what is stored.
NOT_FACTORS = ("seed", "eval_batch_size", "checkpoint_every")


def _canonical(value: Any) -> Hashable:
    """A hashable, order-independent form of a JSON-like value."""
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, default=str)
    return value


def _without_seeds(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_seeds(v) for k, v in value.items() if k != "seed"}
    if isinstance(value, list):
        return [_without_seeds(v) for v in value]
    return value


def run_factors(path: str | os.PathLike[str], runs: Sequence[str]
                ) -> tuple[dict[str, list[Hashable]], list[int]]:
    """The hyper-parameters that vary across ``runs`` of a study, and each run's seed.

    Args:
        path: the study file. runs: trained runs in it.

    Returns:
        ``(factors, seeds)``: factor name → one value per run (only factors with more than one
        value), and the runs' training seeds.

    Raises:
        StoreError: a run that is not a trained network (e.g. a shallow solution).
    """
    rows: list[dict[str, Hashable]] = []
    seeds: list[int] = []
    with Study(path, "r") as study:
        for run in runs:
            attrs = read_attrs(study.run(run))
            config = attrs.get("config")
            if not isinstance(config, dict):
                raise StoreError(f"run {run!r} of {path} has no training settings (kind "
                                 f"{attrs.get('kind', '?')!r}); only trained runs have factors")
            row: dict[str, Hashable] = {
                "objective": _canonical([attrs.get("objective"), attrs.get("objective_params")]),
                "model": _canonical([attrs.get("model_class"), attrs.get("model_kwargs")]),
                "data": _canonical([attrs.get("dataset_id"),
                                    _without_seeds(attrs.get("transforms", []))]),
            }
            row.update({k: _canonical(v) for k, v in sorted(config.items())
                        if k not in NOT_FACTORS})
            rows.append(row)
            seeds.append(int(attrs.get("seed", config.get("seed", 0))))
    names = list(dict.fromkeys(k for row in rows for k in row))
    factors = {k: [row.get(k) for row in rows] for k in names}
    return {k: v for k, v in factors.items() if len(set(v)) > 1}, seeds


def merge_confounded(factors: dict[str, list[Hashable]]) -> dict[str, list[Hashable]]:
    """Join factors that determine each other (one value of one always comes with the same value
    of the other) into one factor named ``"a + b"`` whose values are the tuples.

    Example:
        >>> merge_confounded({"batch_size": [32, 256, 32], "lr": [0.1, 0.01, 0.1],
        ...                   "objective": ["ce", "ce", "mse"]})
        {'batch_size + lr': [(32, 0.1), (256, 0.01), (32, 0.1)], 'objective': ['ce', 'ce', 'mse']}
    """
    def partition(values: list[Hashable]) -> frozenset[frozenset[int]]:
        blocks: dict[Hashable, set[int]] = {}
        for i, v in enumerate(values):
            blocks.setdefault(v, set()).add(i)
        return frozenset(frozenset(b) for b in blocks.values())

    groups: dict[frozenset[frozenset[int]], list[str]] = {}
    for name, values in factors.items():
        groups.setdefault(partition(values), []).append(name)
    out: dict[str, list[Hashable]] = {}
    for names in groups.values():
        if len(names) == 1:
            out[names[0]] = list(factors[names[0]])
        else:
            out[" + ".join(names)] = list(zip(*(factors[n] for n in names)))
    return out
