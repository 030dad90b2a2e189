"""DIGINETICA and YOOCHOOSE click logs with SR-GNN's preprocessing, from files you provide.

Layouts (the files as the challenges distribute them; no network access here):

- **DIGINETICA** (CIKM Cup 2016) ``train-item-views.csv``: ``;``-separated with a header,
  ``sessionId;userId;itemId;timeframe;eventdate`` (``eventdate`` ``YYYY-MM-DD``; ``timeframe``
  orders the clicks of a session);
- **YOOCHOOSE** (RecSys Challenge 2015) ``yoochoose-clicks.dat``: ``,``-separated, no header,
  ``session,timestamp,item,category`` (``timestamp`` ISO 8601, ``...Z``).

Preprocessing as SR-GNN's ``preprocess.py`` (Wu et al. 2019), which later work reuses: clicks
ordered within each session; sessions of length 1 dropped, then items seen fewer than 5 times,
then sessions left shorter than 2; a session's date is its last click's; the test split is the
sessions of the last 7 days (DIGINETICA) or the last day (YOOCHOOSE), restricted to items seen
in training (test sessions left shorter than 2 dropped); items renumbered ``1..V`` in order of
first appearance in training; every prefix becomes a sample (:func:`~landscape.data.sessions.
augment`). YOOCHOOSE's usual ``1/64`` (or ``1/4``) keeps the most recent fraction of the
training samples (``fraction=64``).

Example:
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> diginetica("train", d)
    Traceback (most recent call last):
    ...
    landscape.errors.DataNotFoundError: DIGINETICA needs .../train-item-views.csv ...
"""

from __future__ import annotations

import csv
import datetime as dt
import os
from collections import Counter
from pathlib import Path

import torch

from landscape.data._common import Split, check_split
from landscape.data._dataset import LabelledDataset
from landscape.data.sessions import DEFAULT_MAX_LENGTH, session_dataset
from landscape.errors import ConfigError, DataFormatError, DataNotFoundError

Clicks = dict[str, list[tuple[float, str]]]  # session -> [(order key, item)]


def _need(path: Path, what: str, url: str) -> Path:
    if not path.is_file():
        raise DataNotFoundError(f"{what} needs {path} (not found): download it from {url} into "
                                f"that folder, or pass another --data-dir")
    return path


def _read_diginetica(path: Path) -> tuple[Clicks, dict[str, float]]:
    clicks: Clicks = {}
    dates: dict[str, float] = {}
    with open(path, newline="") as f:
        rows = csv.DictReader(f, delimiter=";")
        missing = {"sessionId", "itemId", "timeframe", "eventdate"} - set(rows.fieldnames or ())
        if missing:
            raise DataFormatError(f"{path} lacks the DIGINETICA columns {sorted(missing)}")
        for r in rows:
            day = dt.datetime.strptime(r["eventdate"], "%Y-%m-%d").timestamp()
            clicks.setdefault(r["sessionId"], []).append((float(r["timeframe"]), r["itemId"]))
            dates[r["sessionId"]] = max(dates.get(r["sessionId"], day), day)
    return clicks, dates


def _read_yoochoose(path: Path) -> tuple[Clicks, dict[str, float]]:
    clicks: Clicks = {}
    dates: dict[str, float] = {}
    with open(path, newline="") as f:
        for k, r in enumerate(csv.reader(f)):
            if len(r) < 3:
                raise DataFormatError(f"{path}, line {k + 1}: expected session,timestamp,item,...")
            t = dt.datetime.fromisoformat(r[1].replace("Z", "+00:00")).timestamp()
            clicks.setdefault(r[0], []).append((t, r[2]))
            dates[r[0]] = max(dates.get(r[0], t), t)
    return clicks, dates


def _filter(clicks: Clicks) -> dict[str, list[str]]:
    """Ordered sessions without length-1 sessions and rare (< 5) items (SR-GNN's order)."""
    seqs = {s: [i for _, i in sorted(c, key=lambda c: c[0])] for s, c in clicks.items()
            if len(c) > 1}
    counts = Counter(i for seq in seqs.values() for i in seq)
    seqs = {s: [i for i in seq if counts[i] >= 5] for s, seq in seqs.items()}
    return {s: seq for s, seq in seqs.items() if len(seq) >= 2}


def preprocess(clicks: Clicks, dates: dict[str, float], test_days: float
               ) -> tuple[list[list[int]], list[list[int]], int]:
    """``(train sessions, test sessions, V)`` with items renumbered ``1..V`` (module doc)."""
    seqs = _filter(clicks)
    if not seqs:
        raise DataFormatError("no session of 2 or more clicks on items seen 5 or more times")
    split = max(dates[s] for s in seqs) - test_days * 86400
    ordered = sorted(seqs, key=lambda s: dates[s])
    ids: dict[str, int] = {}
    train = []
    for s in ordered:
        if dates[s] < split:
            train.append([ids.setdefault(i, len(ids) + 1) for i in seqs[s]])
    test = [[ids[i] for i in seqs[s] if i in ids] for s in ordered if dates[s] >= split]
    return train, [t for t in test if len(t) >= 2], len(ids)


def _load(name: str, split: Split, clicks: Clicks, dates: dict[str, float], test_days: float,
          fraction: int, max_length: int, data_dir: Path) -> LabelledDataset:
    train, test, V = preprocess(clicks, dates, test_days)
    chosen = train if split == "train" else test
    ds = session_dataset(chosen, V, f"{name}/{split}", max_length=max_length, source={
        "dataset": name, "split": split,
        "params": {"data_dir": str(data_dir), "fraction": fraction, "max_length": max_length}})
    if split == "train" and fraction > 1:  # the most recent 1/fraction of the samples
        n = len(ds)
        kept = ds.select(range(n - n // fraction, n))
        ds = kept.replace(index=torch.arange(len(kept)))  # positions in the source split
    return ds


def diginetica(split: Split, data_dir: str | os.PathLike[str], *, fraction: int = 1,
               max_length: int = DEFAULT_MAX_LENGTH) -> LabelledDataset:
    """DIGINETICA from ``data_dir/train-item-views.csv`` (module doc)."""
    folder = Path(data_dir).expanduser()
    path = _need(folder / "train-item-views.csv", "DIGINETICA",
                 "https://competitions.codalab.org/competitions/11161")
    return _load("diginetica", check_split(split), *_read_diginetica(path), 7, _fraction(fraction),
                 max_length, folder)


def yoochoose(split: Split, data_dir: str | os.PathLike[str], *, fraction: int = 64,
              max_length: int = DEFAULT_MAX_LENGTH) -> LabelledDataset:
    """YOOCHOOSE from ``data_dir/yoochoose-clicks.dat``; ``fraction`` 64 (default) keeps the most
    recent 1/64 of the training samples, as SR-GNN's ``yoochoose1_64`` (module doc)."""
    folder = Path(data_dir).expanduser()
    path = _need(folder / "yoochoose-clicks.dat", "YOOCHOOSE",
                 "https://www.kaggle.com/datasets/chadgostopp/recsys-challenge-2015")
    return _load("yoochoose", check_split(split), *_read_yoochoose(path), 1, _fraction(fraction),
                 max_length, folder)


def _fraction(value: int) -> int:
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ConfigError(f"fraction must be an integer >= 1 (1/fraction kept), got {value!r}")
    return int(value)
