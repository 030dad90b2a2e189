"""Resumable result arrays: pre-allocated, NaN-filled, with a ``computed`` mask and named axes.

A measurement over a grid (σ values × samples, a 2D surface, epochs) is created once with its axes;
each value is written as soon as it is computed, together with its mask bit, and flushed. A rerun
opens the same array, asks :meth:`ResumableArray.pending` what is left and computes only that.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import h5py
import numpy as np

from landscape.errors import StoreError
from landscape.store import _schema as S
from landscape.store.space import ensure_space
from landscape.store.study import read_attrs, write_attrs


def checksummed(shape: tuple[int, ...], chunks: Any = True, **kwargs: Any) -> dict[str, Any]:
    """``create_dataset`` options that store an array with HDF5's Fletcher-32 checksum filter,
    so that bytes damaged on disk fail the read (named by
    :func:`landscape.store.integrity.scan`) instead of being read silently. The filter needs
    chunks; a scalar or empty array is stored plain."""
    if not shape or 0 in shape:
        return kwargs
    return {"chunks": chunks, "fletcher32": True, **kwargs}


class ResumableArray:
    """A NaN-initialised HDF5 dataset with a boolean ``computed`` mask of the same shape.

    Index it ``[ix, iy, ...]``: axis k is the k-th name in :attr:`axes`, whose coordinate values are
    an HDF5 dimension scale in the same group. Use :func:`resumable_array` to create or reopen one.
    """

    def __init__(self, dataset: h5py.Dataset, mask: h5py.Dataset, *, flush: bool = True) -> None:
        self.dataset = dataset
        self.mask = mask
        self.flush = flush

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.dataset.shape)

    @property
    def axes(self) -> list[str]:
        """Names of the axes, in index order."""
        return list(read_attrs(self.dataset)["axes"])

    def coordinates(self, axis: str) -> np.ndarray:
        """Coordinate values of ``axis``."""
        return self.dataset.parent[axis][()]

    def __setitem__(self, index: Any, value: Any) -> None:
        """Write value(s) and mark them computed; flushed to disk unless ``flush=False``."""
        self.dataset[index] = value
        self.mask[index] = True
        if self.flush:
            self.dataset.file.flush()

    def __getitem__(self, index: Any) -> np.ndarray:
        return self.dataset[index]

    def computed(self) -> np.ndarray:
        """The boolean mask: ``True`` where a value has been written."""
        return self.mask[()]

    def pending(self) -> list[tuple[int, ...]]:
        """Indices not computed yet, in C order."""
        return [tuple(int(i) for i in ix) for ix in np.argwhere(~self.mask[()])]

    @property
    def complete(self) -> bool:
        """Whether every value has been computed."""
        return bool(self.mask[()].all())

    def values(self) -> np.ndarray:
        """All values as a NumPy array (NaN where not computed)."""
        return self.dataset[()]


def resumable_array(group: h5py.Group, name: str, axes: Mapping[str, Sequence[float] | np.ndarray],
                    *, trailing: Sequence[int] = (), dtype: Any = np.float64,
                    attrs: Mapping[str, Any] | None = None, flush: bool = True) -> ResumableArray:
    """Create (or reopen, checking it matches) a resumable array in ``group``.

    Args:
        group: the HDF5 group that holds the array and its axis scales.
        name: dataset name; the mask is stored as ``name + ".computed"``.
        axes: ordered mapping axis name → coordinate values; shape is their lengths. An axis
            already present in ``group`` must have identical values (else :class:`StoreError`).
        trailing: extra unnamed trailing dimensions (e.g. per-sample values) stored with each
            index; the mask covers only the named axes.
        dtype: floating dtype of the values (NaN-filled).
        attrs: extra attributes recorded on the dataset (units, settings).
        flush: flush the file after every write (a killed process then loses only the value in
            flight); turn off when writing many tiny values in a tight loop and flush yourself.
    """
    shape = tuple(len(v) for v in axes.values())
    full = shape + tuple(int(t) for t in trailing)
    if name not in group:
        ensure_space(group, int(np.prod(full)) * np.dtype(dtype).itemsize)
    mask_name = name + S.COMPUTED_SUFFIX
    for axis, values in axes.items():
        coords = np.asarray(values)
        if axis in group:
            if not np.array_equal(group[axis][()], coords):
                raise StoreError(f"axis {axis!r} in {group.name} already holds other values; "
                                 "use another measurement name or overwrite it")
        else:
            group.create_dataset(axis, data=coords, **checksummed(coords.shape))
            group[axis].make_scale(axis)
    if name in group:
        ds = group[name]
        if tuple(ds.shape) != full or list(read_attrs(ds).get("axes", [])) != list(axes):
            raise StoreError(f"{group.name}/{name} exists with shape {ds.shape} and axes "
                             f"{read_attrs(ds).get('axes')}, not {full} and {list(axes)}; "
                             "use another name or overwrite it")
        return ResumableArray(ds, group[mask_name], flush=flush)
    ds = group.create_dataset(name, shape=full, dtype=dtype, fillvalue=np.nan,
                              **checksummed(full))
    mask = group.create_dataset(mask_name, shape=shape, dtype=bool, fillvalue=False,
                                **checksummed(shape))
    for k, axis in enumerate(axes):
        ds.dims[k].attach_scale(group[axis])
        ds.dims[k].label = axis
        mask.dims[k].attach_scale(group[axis])
    write_attrs(ds, {"axes": list(axes), "index_convention": S.INDEX_CONVENTION,
                     **(attrs or {})})
    return ResumableArray(ds, mask, flush=flush)


def write_array(group: h5py.Group, name: str, data: Any, *,
                attrs: Mapping[str, Any] | None = None, compress: bool = False) -> h5py.Dataset:
    """Write a complete array, replacing any previous value of ``group/name``.

    An existing dataset of the same shape and dtype is overwritten in place: HDF5 does not reclaim
    the space of deleted datasets, so rewriting (say) the resume state every epoch must not
    delete and recreate it. ``compress`` (gzip) suits large, compressible arrays; trained weights
    are nearly incompressible, so model states are stored uncompressed.
    """
    arr = np.asarray(data)
    ensure_space(group, arr.nbytes)
    if name in group:
        old = group[name]
        if isinstance(old, h5py.Dataset) and old.shape == arr.shape and old.dtype == arr.dtype:
            old[...] = arr
            if attrs:
                write_attrs(old, attrs)
            return old
        del group[name]
    kwargs: dict[str, Any] = {}
    if compress and arr.size > 1024:
        kwargs = {"compression": "gzip", "compression_opts": 4}
    ds = group.create_dataset(name, data=arr, **(kwargs if arr.dtype.kind == "O" else
                                                 checksummed(arr.shape, **kwargs)))
    if attrs:
        write_attrs(ds, attrs)
    return ds


def write_bytes(group: h5py.Group, name: str, payload: bytes) -> None:
    """Store an opaque byte string (e.g. ``torch.save`` output) as a resizable ``uint8`` array,
    rewritten in place on later calls (no space is leaked in the file)."""
    data = np.frombuffer(payload, dtype=np.uint8)
    ensure_space(group, data.nbytes)
    ds = group.get(name)
    if not isinstance(ds, h5py.Dataset) or ds.maxshape != (None,) or ds.dtype != np.uint8:
        if ds is not None:
            del group[name]
        ds = group.create_dataset(name, shape=(0,), maxshape=(None,), dtype=np.uint8,
                                  chunks=(1 << 16,), fletcher32=True)
    ds.resize((data.size,))
    ds[:] = data
    ds.attrs["num_bytes"] = data.size


def read_bytes(group: h5py.Group, name: str) -> bytes:
    """Read back what :func:`write_bytes` stored."""
    return group[name][()].tobytes()
