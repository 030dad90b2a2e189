"""Study files of schema 1: their measurements upgraded in place to settings-keyed results.

Schema 1 stored one measurement per *name* (``measurements/local_energy``, ``flatness/width``,
``local_entropy``, ``hessian/top`` …, or a name given on the command line), with its settings in
attributes. :func:`upgrade` turns each into the result of its measure under its settings
(:mod:`landscape.store.measurements`): the settings are read from the stored attributes and
mapped onto the measure's, completed with the defaults the old code used; interrupted local
energies and local entropies become checkpoints the same call resumes. Each group is committed
under its new name first and only then deleted, so an interrupted upgrade loses nothing and the
next one continues. Groups it does not recognise (loss surfaces, shallow measurements) are kept
as they are and reported. ``landscape upgrade FILE`` runs it; :func:`needs_upgrade` tells.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np

from landscape.compare import registry
from landscape.store import _schema as S
from landscape.store import measurements as M
from landscape.store.study import Study, read_attrs

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class Converted:
    """One schema-1 group as a result (or a checkpoint) of a measure."""

    path: str                      # the old group's path
    measure: str
    settings: dict[str, Any]
    identity: dict[str, Any]
    arrays: dict[str, np.ndarray] | None     # a complete result ...
    attrs: dict[str, Any] | None
    checkpoint: dict[str, np.ndarray] | None  # ... or the progress of an interrupted one
    provenance: dict[str, Any]


def _settings_json(group: h5py.Group) -> dict[str, Any]:
    text = group.attrs.get("settings")
    if text is None:
        return {}
    return json.loads(text.decode() if isinstance(text, bytes) else str(text))


def _identity(run_attrs: dict[str, Any], num_data: int, seed: int, dtype: str | None
              ) -> dict[str, Any]:
    size = int(run_attrs.get("num_samples", 0))
    subset = 0 < num_data < size
    out: dict[str, Any] = {"param_hash": str(run_attrs.get("param_hash", "")),
                           "num_data": num_data if subset else size,
                           "subset_seed": seed if subset else None}
    if dtype and dtype != run_attrs.get("dtype"):
        out["dtype"] = dtype
    return out


def _prov(attrs: dict[str, Any]) -> dict[str, Any]:
    return {k: attrs[k] for k in ("device", "subset_indices_sha256", "loss") if k in attrs}


def _local_energy(g: h5py.Group, run_attrs: dict[str, Any]) -> Converted:
    from landscape.flatness import LocalEnergyResult

    a = read_attrs(g)
    sig = g["sigma"][()]
    loss, err = g["loss"][()], g["error"][()]
    done = np.asarray(g["loss.computed"][()], dtype=bool) & np.asarray(
        g["error.computed"][()], dtype=bool)
    settings = registry.get("local_energy").key_settings(registry.get("local_energy").settings({
        "sigmas": [float(s) for s in sig], "num_draws": int(a["num_samples"]),
        "noise": a["noise"], "seed": int(a["seed"]),
        "per_batch_noise": bool(a.get("per_batch_noise", False)), "bn": a.get("bn", "stored")}))
    dtype = None if g.name.endswith("/local_energy") else a.get("data_dtype", "float32")
    ident = _identity(run_attrs, int(a.get("num_data", 0)), int(a["seed"]), dtype)
    if done.all():
        keys = ("noise", "biasbn", "bn", "per_batch_noise", "estimator", "seed", "num_samples",
                "num_data")
        r = LocalEnergyResult.from_samples(sig, a.get("base", np.nan), loss,
                                           a.get("base_error", np.nan), err,
                                           **{k: a[k] for k in keys})
        arrays, attrs = r.to_arrays()
        return Converted(g.name, "local_energy", settings, ident, arrays, attrs, None, _prov(a))
    state = {"sigmas": sig, "loss": loss, "error": err, "done": done.astype(np.uint8)}
    return Converted(g.name, "local_energy", settings, ident, None, None, state, _prov(a))


def _local_entropy(g: h5py.Group, run_attrs: dict[str, Any], parent: dict[str, Any]
                   ) -> Converted:
    s = _settings_json(g)
    given = {k: s[k] for k in ("gammas", "num_chains", "num_steps", "burn_in", "step_size",
                               "seed") if k in s}
    settings = registry.get("local_entropy").settings(given)
    a = read_attrs(g)
    dtype = None if g.name.endswith("/local_entropy") else "float32"
    num_data = int(a.get("num_data", parent.get("num_samples", 0)) or 0)
    ident = _identity(run_attrs, num_data, int(settings["seed"]), dtype)
    if not a.get("partial", False):
        arrays = {k: np.array(v[()]) for k, v in g.items() if isinstance(v, h5py.Dataset)}
        attrs = {k: v for k, v in a.items() if k not in ("settings", "kind", "created",
                                                          "result_class", "device")}
        return Converted(g.name, "local_entropy", settings, ident, arrays, attrs, None, _prov(a))
    state: dict[str, np.ndarray] | None = None
    p = g.get("progress")
    if p is not None and "current" in p.attrs:
        slot = p[f"slot{int(p.attrs['current'])}"]
        state = {}
        slot.visititems(lambda n, o: state.__setitem__(n, np.array(o[()]))
                        if isinstance(o, h5py.Dataset) else None)
        state["shadow_v"] = np.array([float(slot["shadow"].attrs["v"])])
    return Converted(g.name, "local_entropy", settings, ident, None, None, state or {}, _prov(a))


def _result(g: h5py.Group, measure: str, given: dict[str, Any], run_attrs: dict[str, Any],
            parent: dict[str, Any], dtype: str | None, num_data: int) -> Converted:
    a = read_attrs(g)
    settings = registry.get(measure).settings(given)
    ident = _identity(run_attrs, num_data, int(settings.get("seed", given.get("seed", 0))),
                      dtype)
    arrays = {k: np.array(v[()]) for k, v in g.items() if isinstance(v, h5py.Dataset)}
    attrs = {k: v for k, v in a.items()
             if k not in ("settings", "kind", "created", "result_class", "device")}
    return Converted(g.name, measure, settings, ident, arrays, attrs, None, _prov(parent))


def _flatness(g: h5py.Group, run_attrs: dict[str, Any]) -> list[Converted]:
    parent = read_attrs(g)
    out = []
    seed = 0
    if "width" in g:
        s = _settings_json(g["width"])
        seed = int(s.get("seed", 0))
        given = {"threshold": s["threshold"], "quantity": s["quantity"],
                 "num_draws": s["num_samples"], "sigma_bounds": s["sigma_bounds"],
                 "rtol": s["rtol"], "confidence": s["confidence"], "noise": s["noise"],
                 "seed": seed}
        out.append(_result(g["width"], "width", given, run_attrs, parent, None,
                           int(parent.get("num_samples", 0))))
    if "sharpness" in g:
        s = _settings_json(g["sharpness"])
        c = _result(g["sharpness"], "sharpness", {k: s[k] for k in ("rho", "norm", "steps")},
                    run_attrs, parent, None, int(parent.get("num_samples", 0)))
        ident = _identity(run_attrs, int(parent.get("num_samples", 0)), seed, None)
        out.append(Converted(c.path, c.measure, c.settings, ident, c.arrays, c.attrs, None,
                             c.provenance))
    return out


def _hessian(g: h5py.Group, run_attrs: dict[str, Any]) -> list[Converted]:
    parent = read_attrs(g)
    dtype = parent.get("dtype")
    out = []
    names = {"top": "hessian_top", "bottom": "hessian_bottom", "trace": "hessian_trace",
             "density": "hessian_density"}
    keep = {"hessian_top": ("k", "tol"), "hessian_bottom": ("k", "tol"),
            "hessian_trace": ("num_matvecs", "method"),
            "hessian_density": ("num_probes", "num_steps")}
    for key, measure in names.items():
        if key in g:
            s = _settings_json(g[key])
            given = {k: s[k] for k in (*keep[measure], "curvature", "params", "seed")}
            out.append(_result(g[key], measure, given, run_attrs, parent, dtype,
                               int(s.get("num_samples") or parent.get("num_samples", 0))))
    return out


def convert(study: Study, run: str) -> tuple[list[Converted], list[str]]:
    """The schema-1 measurement groups of ``run`` as :class:`Converted` results, and the
    paths of the groups left as they are."""
    group = study.run(run).get(S.MEASUREMENTS)
    if group is None:
        return [], []
    run_attrs = study.run_attrs(run)
    done, kept = [], []
    for g in group.values():
        if not isinstance(g, h5py.Group) or g.attrs.get("measure") is not None \
                or any(isinstance(v, h5py.Group) and "measure" in v.attrs for v in g.values()):
            continue  # a measure's variants (schema 2)
        kind = g.attrs.get("kind")
        kind = kind.decode() if isinstance(kind, bytes) else kind
        handlers: dict[str, Callable[[], list[Converted]]] = {
            "local_energy": lambda g=g: [_local_energy(g, run_attrs)],
            "local_entropy": lambda g=g: [_local_entropy(g, run_attrs, {})]}
        if kind in handlers:
            done += handlers[kind]()
        elif {"width", "sharpness"} & set(g) and "indices" in g:
            done += _flatness(g, run_attrs)
        elif {"top", "bottom", "trace", "density"} & set(g):
            done += _hessian(g, run_attrs)
        else:
            kept.append(g.name)
    return done, kept


def needs_upgrade(path: PathLike) -> bool:
    """Whether the study holds measurement groups of schema 1 that :func:`upgrade` converts."""
    with Study(path) as study:
        return any(convert(study, run)[0] for run in study.runs())


def upgrade_run(path: PathLike, run: str) -> tuple[int, list[str]]:
    """Convert the schema-1 measurements of one run in place (the caller holds the writer
    lock). Returns the number converted and the paths kept as they were."""
    with Study(path) as study:
        items, kept = convert(study, run)
        base = study.run(run)[S.MEASUREMENTS].name if items else ""
    clash = [c for c in items if c.path == f"{base}/{c.measure}"]
    if clash:  # an old group named like its measure: move it aside, then convert
        with Study(path, "a") as study:
            for c in clash:
                study.file.move(c.path, f"{base}/.schema1-{c.measure}")
        moved = {id(c) for c in clash}
        items = [dataclasses.replace(c, path=f"{base}/.schema1-{c.measure}")
                 if id(c) in moved else c for c in items]
    for c in items:
        key = M.variant_key(c.measure, c.settings, c.identity)
        if c.arrays is not None:
            M.commit_result(path, run, c.measure, key, settings=c.settings,
                            identity=c.identity, arrays=c.arrays, attrs=c.attrs or {},
                            provenance=c.provenance, replace=True)
        elif c.checkpoint:
            M.GroupCheckpoint(path, run, c.measure, key, settings=c.settings,
                              identity=c.identity, provenance=c.provenance).save(c.checkpoint)
    if items:
        with Study(path, "a") as study:
            meas = study.run(run)[S.MEASUREMENTS].name
            holders = {c.path.rsplit("/", 1)[0] for c in items} - {meas}
            for c in items:
                if c.path in study.file:
                    del study.file[c.path]
            for holder in holders:  # flatness/, hessian/: their indices and derived copies
                if holder in study.file and _empty(study.file[holder]):
                    del study.file[holder]
    return len(items), kept


def upgrade(path: PathLike, *, log: Callable[[str], None] = print) -> tuple[int, list[str]]:
    """Convert every schema-1 measurement of the study in place (see the module docstring) and
    mark the file as of the current schema.

    Returns:
        The number of results converted and the paths of the groups kept as they were.
    """
    from landscape.store.writer import single_writer

    converted, kept_all = 0, []
    with single_writer(path):
        with Study(path) as study:
            runs = study.runs()
        for run in runs:
            n, kept = upgrade_run(path, run)
            converted += n
            kept_all += kept
            if n or kept:
                log(f"  {run}: {n} result(s) upgraded"
                    + (f"; kept as they are: {', '.join(kept)}" if kept else ""))
        with Study(path, "a") as study:
            study.file.attrs["schema_version"] = S.SCHEMA_VERSION
    return converted, kept_all


def _empty(group: h5py.Group) -> bool:
    """Whether an old holder group has nothing left but its data indices and the smoothed
    density (derived from the density, recomputed on demand)."""
    return all(not isinstance(v, h5py.Group) or k == "density_smoothed"
               for k, v in group.items()) and "measure" not in group.attrs
