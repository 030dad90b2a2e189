"""Multi-part writes as commits: a new state is written beside the current one and becomes
current in one step at the end; a state whose parts disagree is never read.

HDF5 writes values in place at once but keeps its own bookkeeping (which name points where) in a
cache that reaches the disk when the file is flushed or closed. Overwriting a training state's
arrays in place therefore leaves, after a kill, weights of one epoch labelled with another. Here
the state is written into the scratch group ``<name>.new`` (the state before last, overwritten in
place, so no space is lost), sealed with a sequence number and a SHA-256 digest of every part,
and then the names are swapped: ``<name>`` → ``<name>.old`` → ``<name>.new``. A kill at any moment
leaves the previous state under ``<name>`` or the new one; :func:`read_committed` checks the
digest and, should a name swap itself be torn, takes the newest state whose digest holds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

import h5py
import numpy as np

from landscape.store.study import decode_attr, write_attrs

SCRATCH = ".new"
OLD = ".old"
_SEAL = ("digest", "sequence")


def digest(group: h5py.Group) -> str:
    """SHA-256 over every dataset under ``group`` (name, dtype, shape, bytes) and every attribute
    except the digest itself, in name order."""
    h = hashlib.sha256()

    def attrs(obj: h5py.HLObject) -> None:
        for key in sorted(obj.attrs):
            if key != "digest":
                h.update(f"@{key}={decode_attr(obj.attrs[key])!r};".encode())

    attrs(group)
    names: list[str] = []
    group.visit(names.append)
    for name in sorted(names):
        obj = group[name]
        attrs(obj)
        if isinstance(obj, h5py.Dataset):
            value = np.ascontiguousarray(obj[()])
            h.update(f"{name}:{value.dtype.str}:{value.shape};".encode())
            h.update(value.tobytes())
    return h.hexdigest()[:32]


def _sequence(group: h5py.HLObject | None) -> int:
    return int(group.attrs.get("sequence", 0)) if isinstance(group, h5py.Group) else 0


def commit_group(parent: h5py.Group, name: str, write: Callable[[h5py.Group], None],
                 attrs: Mapping[str, Any] | None = None, *, keep_scratch: bool = True
                 ) -> h5py.Group:
    """Write a new state of ``parent/name`` with ``write(group)`` and make it current in one step.

    Args:
        parent: the group holding the state (e.g. a run).
        name: the state's name (e.g. ``"resume"``).
        write: fills the scratch group (datasets are best written with
            :func:`landscape.store.write_array`, in place when the shape is unchanged).
        attrs: attributes of the new state (e.g. its epoch).
        keep_scratch: keep the replaced state as the next commit's scratch group (rewritten in
            place: no space lost for a state rewritten often, like a training state); without
            it the replaced state is deleted (a result replaced once in a while).

    Returns:
        The new current group.
    """
    sequence = max(_sequence(parent.get(key)) for key in (name, name + SCRATCH, name + OLD))
    scratch = parent.require_group(name + SCRATCH)
    if "digest" in scratch.attrs:
        del scratch.attrs["digest"]  # unsealed while it is rewritten
    write(scratch)
    write_attrs(scratch, {**(attrs or {}), "sequence": sequence + 1})
    scratch.attrs["digest"] = digest(scratch)
    for stale in (name + OLD,):
        if stale in parent:
            del parent[stale]
    if name in parent:
        parent.move(name, name + OLD)
    parent.move(name + SCRATCH, name)
    if name + OLD in parent:
        if keep_scratch:
            parent.move(name + OLD, name + SCRATCH)  # reused in place by the next commit
        else:
            del parent[name + OLD]
    return parent[name]


def verify(group: h5py.Group) -> bool:
    """Whether ``group``'s parts agree with its digest (a group without one, written before
    commits, is taken as it is)."""
    stored = group.attrs.get("digest")
    return stored is None or decode_attr(stored) == digest(group)


def read_committed(parent: h5py.Group, name: str) -> h5py.Group | None:
    """The current state ``parent/name``: the newest of ``name``, ``name.new`` and ``name.old``
    whose digest holds (``None`` when there is none).

    Only ``name`` is taken without a digest (files written before commits); the scratch names
    count only when sealed, so a half-written scratch group is never read.
    """
    best: h5py.Group | None = None
    for key in (name, name + SCRATCH, name + OLD):
        group = parent.get(key)
        if not isinstance(group, h5py.Group):
            continue
        if key != name and "digest" not in group.attrs:
            continue
        if (best is None or _sequence(group) > _sequence(best)) and verify(group):
            best = group
    return best


def is_scratch(name: str) -> bool:
    """Whether ``name`` is a scratch or old state of a commit (listings skip them)."""
    return name.endswith((SCRATCH, OLD))
