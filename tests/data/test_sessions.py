"""Session data: the seeded synthetic world and its statistics, the click-log layouts by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from landscape.cli import main
from landscape.data import load, rebuild
from landscape.data.session_csv import diginetica, yoochoose
from landscape.data.sessions import augment, synthetic_sessions
from landscape.errors import DataNotFoundError

SMALL = {"num_sessions": 300, "num_items": 60, "num_clusters": 6}


def test_the_world_is_seeded_and_the_splits_partition_its_sessions() -> None:
    a = synthetic_sessions("train", seed=3, **SMALL)
    b = synthetic_sessions("train", seed=3, **SMALL)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    c = synthetic_sessions("train", seed=4, **SMALL)
    assert a.x.shape != c.x.shape or not torch.equal(a.x, c.x)
    test = synthetic_sessions("test", seed=3, **SMALL)
    assert a.source["num_sessions"] + test.source["num_sessions"] == 300
    assert test.source["num_sessions"] == 60  # test_fraction 0.2
    assert a.x.dtype == torch.int64 and int(a.x.max()) <= 60 and int(a.y.max()) < 60


def test_documented_statistics_of_the_default_world() -> None:
    train, test = load("synthetic-sessions", "train"), load("synthetic-sessions", "test")
    samples = len(train) + len(test)  # a session of n clicks gives n - 1 samples
    mean_length = 1 + samples / 4000
    assert mean_length == pytest.approx(6.0, abs=0.15)
    counts = np.sort(np.bincount(train.y.numpy(), minlength=500))[::-1]
    top = counts[:50].sum() / counts.sum()
    assert 0.55 < top < 0.67  # the most popular 10 % of the items: about 61 % of the targets
    uniform = synthetic_sessions("train", seed=0, popularity_exponent=0.0, **SMALL)
    flat = np.sort(np.bincount(uniform.y.numpy(), minlength=60))[::-1]
    assert flat[:6].sum() / flat.sum() < top  # no skew without the Zipf exponent


def test_augmentation_keeps_the_last_clicks() -> None:
    x, y = augment([[1, 2, 3, 4]], max_length=2)
    assert x.tolist() == [[1, 0], [1, 2], [2, 3]] and y.tolist() == [2, 3, 4]


def test_a_stored_description_rebuilds_the_same_sessions() -> None:
    ds = synthetic_sessions("test", seed=1, **SMALL)
    again = rebuild(ds.describe())
    assert torch.equal(again.x, ds.x) and torch.equal(again.y, ds.y)


# A hand-worked click log. Items 10 and 20 are seen 5 and 6 times in sessions of 2+ clicks, item
# 30 three times (dropped); session 3 has one click, session 4 only item 10 once item 30 is gone.
# Dates: s1 05-01, s2 05-02, s3 and s4 05-03, s6 05-19, s5 05-20 (the last 7 days: s5, s6).
ROWS = [  # session, item, order, day
    (2, 10, 2, "2016-05-02"), (1, 10, 1, "2016-05-01"), (1, 20, 2, "2016-05-01"),
    (1, 30, 3, "2016-05-01"), (2, 20, 1, "2016-05-02"), (2, 20, 3, "2016-05-02"),
    (3, 10, 1, "2016-05-03"), (4, 30, 1, "2016-05-03"), (4, 10, 2, "2016-05-03"),
    (5, 10, 1, "2016-05-20"), (5, 20, 2, "2016-05-20"), (5, 10, 3, "2016-05-20"),
    (6, 20, 1, "2016-05-19"), (6, 30, 2, "2016-05-19"), (6, 20, 3, "2016-05-19"),
]
# train (by date): s1 [10, 20] -> [1, 2]; s2 [20, 10, 20] -> [2, 1, 2]; samples [1]->2,
# [2]->1, [2, 1]->2.  test: s6 [20, 20] -> [2, 2]; s5 [10, 20, 10] -> [1, 2, 1].
TRAIN_X, TRAIN_Y = [[1, 0, 0], [2, 0, 0], [2, 1, 0]], [1, 0, 1]
TEST_X, TEST_Y = [[2, 0, 0], [1, 0, 0], [1, 2, 0]], [1, 1, 0]


def _check(train, test) -> None:
    assert train.num_classes == test.num_classes == 2
    assert train.x.tolist() == TRAIN_X and train.y.tolist() == TRAIN_Y
    assert test.x.tolist() == TEST_X and test.y.tolist() == TEST_Y


def test_diginetica_layout(tmp_path: Path) -> None:
    lines = ["sessionId;userId;itemId;timeframe;eventdate"]
    lines += [f"{s};;{i};{t * 1000};{d}" for s, i, t, d in ROWS]
    (tmp_path / "train-item-views.csv").write_text("\n".join(lines) + "\n")
    _check(diginetica("train", tmp_path, max_length=3), diginetica("test", tmp_path, max_length=3))
    assert load("diginetica", "train", data_dir=tmp_path).source["dataset"] == "diginetica"


def test_yoochoose_layout_and_its_recent_fraction(tmp_path: Path) -> None:
    # the same log with times: the test split is the last day, so s6 moves to the 20th too,
    # ending before s5 as in DIGINETICA
    lines = [f"{s},{d.replace('05-19', '05-20')}T10:00:{t + 10 * (s == 5):02d}.000Z,{i},0"
             for s, i, t, d in ROWS]
    (tmp_path / "yoochoose-clicks.dat").write_text("\n".join(lines) + "\n")
    train = yoochoose("train", tmp_path, fraction=1, max_length=3)
    _check(train, yoochoose("test", tmp_path, fraction=1, max_length=3))
    recent = yoochoose("train", tmp_path, fraction=2, max_length=3)  # the last 3 // 2 samples
    assert recent.x.tolist() == TRAIN_X[-1:] and recent.index.tolist() == [0]


def test_a_missing_click_log_names_its_path(tmp_path: Path, capsys) -> None:
    with pytest.raises(DataNotFoundError, match=r"train-item-views\.csv"):
        diginetica("train", tmp_path)
    argv = ["train", "--dataset", "yoochoose", "--data-dir", str(tmp_path), "--model",
            "session_gnn", "--out", str(tmp_path / "o.h5"), "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert str(tmp_path / "yoochoose-clicks.dat") in err and len(err.splitlines()) == 1
