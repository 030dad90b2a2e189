"""Persisting result objects: anything with ``to_arrays()`` / ``from_arrays()`` goes in a group.

A result class (a frozen dataclass of arrays and settings) implements::

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, int | float | str | bool]]
    @classmethod
    def from_arrays(cls, arrays, attrs) -> Self

and :func:`save_result` writes its arrays as datasets and its settings as attributes, with the
class path recorded so :func:`load_result` can rebuild it.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol, runtime_checkable

import h5py
import numpy as np

from landscape.errors import StoreError
from landscape.store.arrays import write_array
from landscape.store.provenance import now_iso
from landscape.store.study import read_attrs, write_attrs

_CLASS_ATTR = "result_class"


@runtime_checkable
class StorableResult(Protocol):
    """What :func:`save_result` needs of a result."""

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]: ...


def save_result(parent: h5py.Group, name: str, result: StorableResult, *,
                attrs: dict[str, Any] | None = None, overwrite: bool = True) -> h5py.Group:
    """Write ``result`` into ``parent/name`` (replacing it when ``overwrite``)."""
    if name in parent:
        if not overwrite:
            raise StoreError(f"{parent.name}/{name} exists already")
        del parent[name]
    arrays, settings = result.to_arrays()
    group = parent.create_group(name)
    for key, value in arrays.items():
        write_array(group, key, value, compress=True)
    cls = type(result)
    write_attrs(group, {**settings, **(attrs or {}), "created": now_iso(),
                        _CLASS_ATTR: f"{cls.__module__}.{cls.__qualname__}"})
    return group


def load_result(group: h5py.Group, cls: type | None = None) -> Any:
    """Rebuild a result written by :func:`save_result` (class from the file unless given)."""
    attrs = read_attrs(group)
    if cls is None:
        path = attrs.get(_CLASS_ATTR, "")
        module, _, qualname = str(path).rpartition(".")
        try:
            cls = getattr(importlib.import_module(module), qualname)
        except (ImportError, AttributeError, ValueError) as err:
            raise StoreError(f"{group.name}: cannot import result class {path!r}") from err
    arrays = {k: np.array(v[()]) for k, v in group.items() if isinstance(v, h5py.Dataset)}
    settings = {k: v for k, v in attrs.items() if k not in (_CLASS_ATTR, "created")}
    return cls.from_arrays(arrays, settings)
