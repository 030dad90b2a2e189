"""Re-applying recorded transforms: rebuild a study's data from its provenance."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from landscape.data._dataset import LabelledDataset
from landscape.data.long_tail import long_tail
from landscape.data.noise import asymmetric_noise, pairflip_noise, symmetric_noise
from landscape.data.subsets import subset
from landscape.errors import ConfigError

__all__ = ["TRANSFORMS", "apply_transforms"]

# kind -> (function, required parameters, optional parameters)
_SPECS: dict[str, tuple[Callable[..., LabelledDataset], tuple[str, ...], tuple[str, ...]]] = {
    "symmetric_noise": (symmetric_noise, ("rate", "seed"), ()),
    "pairflip_noise": (pairflip_noise, ("rate", "seed"), ()),
    "asymmetric_noise": (asymmetric_noise, ("rate", "seed"), ("mapping",)),
    "long_tail": (long_tail, ("imbalance_factor", "seed"), ("profile", "step_fraction")),
    "subset": (subset, ("size", "seed"), ("stratified",)),
}

TRANSFORMS: tuple[str, ...] = tuple(sorted(_SPECS))
"""The ``kind`` of every transform :func:`apply_transforms` knows."""


def _canonical(value: Any) -> Any:
    return json.loads(json.dumps(value))


def apply_transforms(ds: LabelledDataset,
                     records: Iterable[Mapping[str, Any]]) -> LabelledDataset:
    """Apply the transforms described by ``records`` (as in ``ds.transforms``) in order.

    Given the same source data, the result is identical to the dataset the records were taken
    from: every transform is seeded. Fields a transform records beyond its parameters (such as
    ``num_flipped`` or a long tail's ``counts``) are checked against the rebuilt ones, so a
    rebuild on different source data fails loudly instead of silently differing.

    Args:
        ds: the untransformed source dataset.
        records: transform records, e.g. ``original.transforms`` or their JSON round trip.

    Raises:
        ConfigError: a record has an unknown ``kind``, lacks a parameter, has an unknown field,
            or a recorded result field differs from the rebuilt one.

    Example:
        >>> from landscape.data import digits, symmetric_noise, subset
        >>> original = subset(symmetric_noise(digits(), 0.2, seed=1), 100, seed=2)
        >>> rebuilt = apply_transforms(digits(), original.transforms)
        >>> bool((rebuilt.y == original.y).all()), rebuilt.transforms == original.transforms
        (True, True)
    """
    for record in records:
        if not isinstance(record, Mapping) or "kind" not in record:
            raise ConfigError(f"a transform record must be a dict with a 'kind', got {record!r}")
        kind = record["kind"]
        if kind not in _SPECS:
            raise ConfigError(f"unknown transform kind {kind!r}; known kinds: {list(TRANSFORMS)}")
        function, required, optional = _SPECS[kind]
        missing = [key for key in required if key not in record]
        if missing:
            raise ConfigError(f"{kind} record lacks {missing}: {dict(record)}")
        params = {key: record[key] for key in required + optional if key in record}
        first = params.pop(required[0])
        ds = function(ds, first, **params)
        rebuilt = ds.transforms[-1]
        for key, value in record.items():
            if key in required or key in optional or key == "kind":
                continue
            if key not in rebuilt:
                raise ConfigError(f"{kind} record has unknown field {key!r}: {dict(record)}")
            if _canonical(value) != _canonical(rebuilt[key]):
                raise ConfigError(f"{kind} rebuilt with {key}={rebuilt[key]!r} but the record "
                                  f"says {value!r}: the source data differ from the original")
    return ds
