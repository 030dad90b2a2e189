"""Copying HDF5 groups between study files with their dimension scales (private plumbing).

``h5py``'s ``copy`` between files voids the object references that attach dimension scales, so
:func:`copy_group` attaches them again from :func:`scales` of the source.
"""

from __future__ import annotations

from typing import Any

import h5py


def scales(group: h5py.Group) -> dict[str, list[list[str]]]:
    """``{dataset: [[scale paths] per dimension]}`` of the datasets under ``group`` with attached
    scales (absolute paths).

    The scales are named through their object addresses: naming an object reached by reference
    (``h5py``'s ``.name``) searches the whole file, hours for a study of a hundred runs.
    """
    prefix = group.name.rstrip("/") + "/"
    names: dict[int, str] = {}
    refs: dict[str, Any] = {}

    def visit(name: str, obj: h5py.HLObject) -> None:
        if isinstance(obj, h5py.Dataset):
            names[h5py.h5o.get_info(obj.id).addr] = prefix + name
            if "DIMENSION_LIST" in obj.attrs:
                refs[prefix + name] = obj.attrs["DIMENSION_LIST"]

    group.visititems(visit)
    file = group.file
    return {name: [[names[h5py.h5o.get_info(file[r].id).addr] for r in dim] for dim in dims]
            for name, dims in refs.items()}


def reattach(dst: h5py.File, attached: dict[str, list[list[str]]]) -> None:
    """Attach the dimension scales of :func:`scales` again in ``dst``, rebuilding the attributes
    whose object references a copy between files left void."""
    for name in {s for dims in attached.values() for scale in dims for s in scale}:
        if "REFERENCE_LIST" in dst[name].attrs:
            del dst[name].attrs["REFERENCE_LIST"]
    for name, dims in attached.items():
        ds = dst[name]
        del ds.attrs["DIMENSION_LIST"]
        for i, scale_names in enumerate(dims):
            for scale in scale_names:
                ds.dims[i].attach_scale(dst[scale])


def copy_group(src: h5py.File, dst: h5py.File, path: str) -> None:
    """Copy ``src[path]`` to the same path of ``dst`` (replacing what is there), attributes and
    dimension scales included."""
    if path in dst:
        del dst[path]
    parent, _, name = path.rstrip("/").rpartition("/")
    src.copy(src[path], dst.require_group(parent or "/"), name=name)
    reattach(dst, scales(src[path]))
