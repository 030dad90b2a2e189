"""Persisting result objects: anything with ``to_arrays()`` / ``from_arrays()`` goes in a group.

A result class (a frozen dataclass of arrays and settings) implements::

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, int | float | str | bool]]
    @classmethod
    def from_arrays(cls, arrays, attrs) -> Self

and :func:`save_result` writes its arrays as datasets and its settings as attributes, with the
class path recorded so :func:`load_result` can rebuild it. The recorded path only *names* a class:
:func:`load_result` accepts a class defined in one of the toolkit's result modules
(:data:`RESULT_MODULES`) or one registered with :func:`register_result`, and refuses any other, so a
study file never chooses the code that reads it.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol, runtime_checkable

import h5py
import numpy as np

from landscape.errors import StoreError
from landscape.store.arrays import write_array
from landscape.store.commit import commit_group
from landscape.store.provenance import now_iso
from landscape.store.study import read_attrs, write_attrs

_CLASS_ATTR = "result_class"

#: The toolkit's modules that define storable results; a recorded class path is imported only
#: when its module is one of these.
RESULT_MODULES = frozenset({
    "landscape.flatness.width", "landscape.flatness.surfaces", "landscape.flatness.local_energy",
    "landscape.flatness.local_entropy", "landscape.flatness.sharpness", "landscape.hessian.trace",
    "landscape.hessian.diagonal", "landscape.hessian.density", "landscape.hessian.eigen",
    "landscape.shallow.enumeration",
    "landscape.shallow.results", "landscape.shallow.bp", "landscape.shallow.local_energy",
    "landscape.compare.registry",
})

#: Result classes registered by users with :func:`register_result` (class path → class).
_REGISTERED: dict[str, type] = {}


def _path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def register_result(cls: type) -> type:
    """Let :func:`load_result` rebuild results of ``cls`` (a class of your own with
    ``to_arrays``/``from_arrays``) from the class path stored with them; usable as a decorator.

    Example:
        >>> class Mine:
        ...     def to_arrays(self): return {}, {}
        ...     @classmethod
        ...     def from_arrays(cls, arrays, attrs): return cls()
        >>> register_result(Mine) is Mine
        True
    """
    if not hasattr(cls, "from_arrays"):
        raise StoreError(f"{_path(cls)} has no from_arrays; it cannot be read back")
    _REGISTERED[_path(cls)] = cls
    return cls


def result_class(path: str, where: str = "") -> type:
    """The result class named ``path`` (see :func:`register_result`), without importing anything
    outside :data:`RESULT_MODULES`.

    Raises:
        StoreError: the path names no registered or toolkit result class.
    """
    if path in _REGISTERED:
        return _REGISTERED[path]
    module, _, qualname = str(path).rpartition(".")
    cls = None
    if module in RESULT_MODULES:
        try:
            cls = getattr(importlib.import_module(module), qualname, None)
        except ImportError:
            cls = None
    if not isinstance(cls, type) or cls.__module__ != module or not hasattr(cls, "from_arrays"):
        raise StoreError(f"{where}: the stored result class {path!r} is neither one of "
                         "landscape's results nor registered with "
                         "landscape.store.register_result; a study file never chooses code")
    return cls


@runtime_checkable
class StorableResult(Protocol):
    """What :func:`save_result` needs of a result."""

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]: ...


def save_result(parent: h5py.Group, name: str, result: StorableResult, *,
                attrs: dict[str, Any] | None = None, overwrite: bool = True) -> h5py.Group:
    """Write ``result`` into ``parent/name`` (replacing it when ``overwrite``).

    The result is written beside the one it replaces and takes its name in one step at the end
    (:func:`landscape.store.commit.commit_group`): a kill leaves the old result or the new one.
    """
    if name in parent and not overwrite:
        raise StoreError(f"{parent.name}/{name} exists already")
    arrays, settings = result.to_arrays()
    cls = type(result)

    def write(group: h5py.Group) -> None:
        for stale in list(group):
            del group[stale]
        for stale in list(group.attrs):
            del group.attrs[stale]
        for key, value in arrays.items():
            write_array(group, key, value, compress=True)
        write_attrs(group, {**settings, **(attrs or {}), "created": now_iso(),
                            _CLASS_ATTR: _path(cls)})

    return commit_group(parent, name, write, keep_scratch=False)


def load_result(group: h5py.Group, cls: type | None = None) -> Any:
    """Rebuild a result written by :func:`save_result` (class from the file unless given)."""
    attrs = read_attrs(group)
    if cls is None:
        cls = result_class(str(attrs.get(_CLASS_ATTR, "")), group.name)
    arrays = {k: np.array(v[()]) for k, v in group.items() if isinstance(v, h5py.Dataset)}
    settings = {k: v for k, v in attrs.items()
                if k not in (_CLASS_ATTR, "created", "digest", "sequence")}
    return cls.from_arrays(arrays, settings)
