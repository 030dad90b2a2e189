"""Measurements keyed by their settings: the one persistence layer of every measure.

A stored measurement is identified by ``(run, measure, settings)`` together with what it was
measured on (its *identity*: the weights' hash and the number of samples). Its group is

    runs/<run>/measurements/<measure>/<key>/
        attrs:    measure, settings (JSON), identity (JSON), complete, created, device, ...
        result/   the result's arrays (datasets) and scalar settings (attributes), once complete
        checkpoint/slot0, slot1 (attr ``current``)   progress of an interrupted computation

where ``key`` is :func:`variant_key`, a hash of the measure's name, settings and identity. Two
settings of one measure are two keys, so they coexist (a Hessian's top-5 and top-10, a local
energy on 400 samples and on all of them); a call with stored settings reads them back; a result
is replaced only by :func:`commit_result` with ``replace=True``, which the measurement layer does
only when the user asks to overwrite that one result.

Every write is a commit: a result is written under a temporary name and moved into place in one
link operation, a checkpoint into the slot that is not current before the ``current`` attribute
flips, so a process killed at any moment leaves the previous complete state readable. The file
is opened for each write only, never held during a computation.

This module knows nothing of particular measures: results come in as ``(arrays, attrs)`` pairs and
go back out the same way; the measure registry (:mod:`landscape.compare.registry`) says what they
mean.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np

from landscape.errors import StoreError
from landscape.store import _schema as S
from landscape.store.arrays import write_array
from landscape.store.provenance import now_iso
from landscape.store.study import Study, read_attrs, write_attrs

PathLike = str | os.PathLike[str]

#: Subgroups of a variant group.
RESULT, CHECKPOINT = "result", "checkpoint"


def canonical(value: Any) -> str:
    """``value`` as canonical JSON (sorted keys, tuples as lists, NumPy scalars as numbers)."""
    def plain(v: Any) -> Any:
        if isinstance(v, Mapping):
            return {str(k): plain(x) for k, x in v.items()}
        if isinstance(v, tuple | list | np.ndarray):
            return [plain(x) for x in (v.tolist() if isinstance(v, np.ndarray) else v)]
        if isinstance(v, np.generic):
            return v.item()
        return v
    return json.dumps(plain(value), sort_keys=True, separators=(",", ":"), default=str)


def variant_key(measure: str, settings: Mapping[str, Any], identity: Mapping[str, Any]) -> str:
    """The name of the stored variant of ``measure`` with ``settings`` on ``identity``: 16 hex
    digits of the SHA-256 of their canonical JSON."""
    text = canonical({"measure": measure, "settings": settings, "identity": identity})
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Variant:
    """What is stored of one measurement variant (read from its attributes only).

    Attributes:
        run, measure, key: where it is (``runs/<run>/measurements/<measure>/<key>``).
        settings: the measure's settings it was computed with.
        identity: what it was computed on (weights' hash, number of samples, ...).
        complete: whether the result is stored (``False``: a checkpoint of an interrupted run).
        created: ISO time of the last write. device: where it was computed.
    """

    run: str
    measure: str
    key: str
    settings: dict[str, Any]
    identity: dict[str, Any]
    complete: bool
    created: str
    device: str

    def describe(self) -> str:
        """One readable line: measure, key, settings, and its state."""
        items = ", ".join(f"{k}={_short(v)}" for k, v in sorted(self.settings.items()))
        state = "complete" if self.complete else "interrupted (the same call resumes it)"
        n = self.identity.get("num_data")
        on = f" on {n} samples" if n else ""
        return f"{self.measure} [{self.key[:8]}] {items}{on}; {state}"


def _short(value: Any) -> str:
    if isinstance(value, list) and len(value) > 4:
        return f"[{_short(value[0])} … {_short(value[-1])}]×{len(value)}"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    return str(value)


def _variant(run: str, measure: str, key: str, group: h5py.Group) -> Variant | None:
    a = read_attrs(group)
    if "settings" not in a or a.get("measure") != measure:
        return None  # not a variant group (an older layout, or foreign content)
    settings = a["settings"] if isinstance(a["settings"], dict) else {}
    identity = a.get("identity") if isinstance(a.get("identity"), dict) else {}
    return Variant(run, measure, key, settings, identity, bool(a.get("complete", False)),
                   str(a.get("created", "")), str(a.get("device", "")))


def list_variants(study: Study, run: str) -> list[Variant]:
    """Every stored variant of every measure of ``run`` (attributes only; one pass)."""
    group = study.run(run).get(S.MEASUREMENTS)
    found: list[Variant] = []
    if group is None:
        return found
    for measure, holder in group.items():
        if not isinstance(holder, h5py.Group):
            continue
        for key, g in holder.items():
            if isinstance(g, h5py.Group) and not key.startswith("."):
                v = _variant(run, measure, key, g)
                if v is not None:
                    found.append(v)
    return found


def _path(run: str, measure: str, key: str) -> str:
    return f"{S.RUNS}/{run}/{S.MEASUREMENTS}/{measure}/{key}"


def read_result(study: Study, run: str, measure: str, key: str
                ) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
    """The stored ``(arrays, attrs)`` of a complete variant, or ``None`` when there is none."""
    path = _path(run, measure, key)
    if path not in study.file:
        return None
    group = study.file[path]
    if not bool(group.attrs.get("complete", False)) or RESULT not in group:
        return None
    res = group[RESULT]
    try:
        arrays = {k: np.array(v[()]) for k, v in res.items() if isinstance(v, h5py.Dataset)}
    except OSError as err:  # a checksum or decompression failure of one array
        raise StoreError(f"{study.path}: stored result {path}/{RESULT} cannot be read "
                         f"({err}); it is damaged") from err
    return arrays, read_attrs(res)


def _meta(measure: str, settings: Mapping[str, Any], identity: Mapping[str, Any],
          extra: Mapping[str, Any], complete: bool) -> dict[str, Any]:
    return {"measure": measure, "settings": json.loads(canonical(settings)),
            "identity": json.loads(canonical(identity)), "complete": complete,
            "created": now_iso(), **extra}


def commit_result(path: PathLike, run: str, measure: str, key: str, *,
                  settings: Mapping[str, Any], identity: Mapping[str, Any],
                  arrays: Mapping[str, np.ndarray], attrs: Mapping[str, Any],
                  provenance: Mapping[str, Any] | None = None, replace: bool = False) -> None:
    """Store a complete result as variant ``key`` in one commit (one open of the file).

    The new group is written as ``.<key>.new`` beside the old one and moved into place at the
    end; an interrupted variant (a checkpoint) is replaced by it, a complete one only with
    ``replace``.

    Raises:
        StoreError: a complete result is stored under ``key`` already and ``replace`` is false.
    """
    with Study(path, "a") as study:
        holder = study.run(run).require_group(S.MEASUREMENTS).require_group(measure)
        if key in holder and bool(holder[key].attrs.get("complete", False)) and not replace:
            raise StoreError(f"{study.path}: {_path(run, measure, key)} is stored already; "
                             "overwrite to replace it")
        tmp = f".{key}.new"
        if tmp in holder:
            del holder[tmp]
        group = holder.create_group(tmp)
        res = group.create_group(RESULT)
        for name, value in arrays.items():
            write_array(res, name, np.asarray(value), compress=True)
        write_attrs(res, attrs)
        write_attrs(group, _meta(measure, settings, identity, provenance or {}, True))
        study.file.flush()
        if key in holder:
            del holder[key]
        holder.move(tmp, key)


class GroupCheckpoint:
    """A :class:`~landscape._checkpoint.Checkpoint` kept in a variant group of a study file.

    Each :meth:`save` opens the file, writes the mapping into the slot that is not current,
    flushes, then flips the slot's ``current`` attribute, and closes the file: a kill at any
    moment leaves the last complete save current. The variant group is created (marked
    ``complete = False``) by the first save.

    Args:
        path, run, measure, key: the study file and the variant.
        settings, identity, provenance: the variant's attributes (see :class:`Variant`).
    """

    def __init__(self, path: PathLike, run: str, measure: str, key: str, *,
                 settings: Mapping[str, Any], identity: Mapping[str, Any],
                 provenance: Mapping[str, Any] | None = None) -> None:
        self.path, self.run, self.measure, self.key = path, run, measure, key
        self.meta = (settings, identity, dict(provenance or {}))
        self.saves = 0

    def load(self) -> dict[str, np.ndarray] | None:
        """The arrays of the current slot, or ``None`` when nothing was saved."""
        with Study(self.path, "r") as study:
            path = _path(self.run, self.measure, self.key)
            if path not in study.file or CHECKPOINT not in study.file[path]:
                return None
            ck = study.file[path][CHECKPOINT]
            if "current" not in ck.attrs:
                return None
            slot = ck[f"slot{int(ck.attrs['current'])}"]
            out: dict[str, np.ndarray] = {}
            slot.visititems(lambda n, o: out.__setitem__(n, np.array(o[()]))
                            if isinstance(o, h5py.Dataset) else None)
            return out

    def save(self, state: Mapping[str, np.ndarray]) -> None:
        """Commit ``state`` (see the class docstring)."""
        settings, identity, prov = self.meta
        with Study(self.path, "a") as study:
            holder = study.run(self.run).require_group(S.MEASUREMENTS) \
                .require_group(self.measure)
            if self.key not in holder:
                write_attrs(holder.create_group(self.key),
                            _meta(self.measure, settings, identity, prov, False))
            ck = holder[self.key].require_group(CHECKPOINT)
            slot = 1 - int(ck.attrs.get("current", 1))
            name = f"slot{slot}"
            if name in ck:
                del ck[name]
            group = ck.create_group(name)
            for key, value in state.items():
                write_array(group, key, np.asarray(value))
            study.file.flush()
            ck.attrs["current"] = slot
        self.saves += 1
