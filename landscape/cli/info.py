"""``landscape info``: what a study file holds."""

from __future__ import annotations

import argparse

import h5py
import numpy as np

from landscape.errors import StudyDamagedError
from landscape.store import Study, read_attrs
from landscape.store import _schema as S
from landscape.store.commit import is_scratch
from landscape.store.integrity import describe, scan
from landscape.store.models import trajectory_epochs


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="show what a study file holds")
    p.add_argument("file", help="study file")
    p.add_argument("--tree", action="store_true", help="list every dataset with shape and dtype")
    p.add_argument("--check", action="store_true",
                   help="read every stored value too (checks the checksums; slower)")
    p.set_defaults(func=main)


def _last(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite[-1]) if finite.size else float("nan")


def _state(item: h5py.Group | h5py.Dataset) -> str:
    """How far a stored measurement is: interrupted, items written of a resumable array, or the
    results it holds."""
    if not isinstance(item, h5py.Group):
        return ""
    if item.attrs.get("partial", False):
        return " (interrupted; the same call resumes it)"
    masks = [np.asarray(item[k][()], dtype=bool) for k in item if k.endswith(".computed")]
    if masks:
        done, total = min(int(m.sum()) for m in masks), masks[0].size
        return f" ({done}/{total} written{'' if done == total else '; resumable'})"
    parts = sorted(k for k in item if isinstance(item[k], h5py.Group))
    return f": {', '.join(parts)}" if parts else ""


def _measurements(study: Study, run: str, group: h5py.Group) -> None:
    """One line per stored measurement: each settings variant of a measure with its settings
    and state (:class:`~landscape.store.measurements.Variant`), and the groups of other
    layouts (shallow measurements, files of schema 1) as they are."""
    from landscape.store.measurements import list_variants

    variants = list_variants(study, run)
    for v in sorted(variants, key=lambda v: (v.measure, v.created)):
        print(f"    measurement {v.describe()}")
    keyed = {v.measure for v in variants}
    if S.MEASUREMENTS in group:
        for m, item in group[S.MEASUREMENTS].items():
            if m not in keyed and not is_scratch(m):
                print(f"    measurement {m}{_state(item)}")


def main(args: argparse.Namespace) -> int:
    report = scan(args.file, data=args.check)
    damaged = dict(report.damaged)
    try:
        _list(args, {r: next(f"{o} ({w})" for o, w in damaged.items()
                             if o.startswith(f"/{S.RUNS}/{r}")) for r in report.damaged_runs})
    except StudyDamagedError:
        if report.ok:
            raise
    if not report.ok:
        raise StudyDamagedError(describe(args.file, report))
    return 0


def _list(args: argparse.Namespace, damaged: dict[str, str]) -> None:
    with Study(args.file) as study:
        a = study.attrs
        print(f"{args.file}: {S.FORMAT} schema {a.get('schema_version')}, created "
              f"{a.get('created')}, landscape {a.get('landscape_version')}, torch "
              f"{a.get('torch_version')}, git {a.get('git_commit') or 'unknown'}")
        runs = study.runs()
        print(f"{len(runs)} run(s)")
        for name in runs:
            if name in damaged:
                print(f"  {name}: DAMAGED at {damaged[name]}; not readable")
                continue
            group = study.run(name)
            r = read_attrs(group)
            if r.get("kind") == "shallow":
                print(f"  {name}: {r.get('learner', '?')} on N={r.get('N')} P={r.get('P')} "
                      f"(α={float(r.get('alpha', 'nan')):.3g}) K={r.get('K')}, "
                      f"seed {r.get('seed')}: "
                      f"{'solved' if r.get('solved') else 'not solved'}, {r.get('errors')} errors")
                _measurements(study, name, group)
                continue
            line = (f"  {name}: {r.get('status', '?')} ({r.get('epochs_done', '?')}/"
                    f"{(r.get('config') or {}).get('epochs', '?')} epochs), "
                    f"{str(r.get('model_class', '?')).rsplit('.', 1)[-1]} "
                    f"{r.get('num_params', '?')} params, objective {r.get('objective', '?')}, "
                    f"data {r.get('dataset_id', '?')} n={r.get('num_samples', '?')}, "
                    f"seed {r.get('seed', '?')}")
            if S.HISTORY in group:
                h = group[S.HISTORY]
                line += (f"; train acc {_last(h['train_acc'][()]):.4f}, test acc "
                         f"{_last(h['test_acc'][()]):.4f}")
            print(line)
            if S.TRAJECTORY in group:
                print(f"    trajectory: epochs {trajectory_epochs(group[S.TRAJECTORY]).tolist()}")
            _measurements(study, name, group)
        if args.tree:
            for path, obj in study.walk():
                if isinstance(obj, h5py.Dataset):
                    print(f"  /{path}  {obj.shape} {obj.dtype}")
