"""Hyper-parameters read from the runs' provenance, and confounded ones joined."""

from __future__ import annotations

from pathlib import Path

import pytest

from landscape.cli import main
from landscape.compare.factors import merge_confounded, run_factors
from landscape.errors import StoreError


def _train(path: Path, run: str, *extra: str) -> None:
    assert main(["train", "--dataset", "gaussian-mixture", "--width", "4", "--depth", "1",
                 "--epochs", "1", "--out", str(path), "--run", run, "--quiet", *extra]) == 0


def test_factors_come_from_provenance_and_seeds_are_strata(tmp_path: Path) -> None:
    path = tmp_path / "s.h5"
    # label noise drawn with each run's seed: a replicate, not a factor
    _train(path, "a", "--objective", "ce", "--lr", "0.05", "--seed", "0",
           "--label-noise", "symmetric:0.2", "--data-seed", "0")
    _train(path, "b", "--objective", "mse", "--lr", "0.05", "--seed", "1",
           "--label-noise", "symmetric:0.2", "--data-seed", "1")
    _train(path, "c", "--objective", "ce", "--lr", "0.1", "--seed", "1",
           "--label-noise", "symmetric:0.2", "--data-seed", "1", "--checkpoint-every", "1")
    from landscape.store import Study

    with Study(path) as study:  # the noise draws differ, as the test means them to
        assert study.run_attrs("a")["transforms"] != study.run_attrs("b")["transforms"]
    factors, seeds = run_factors(path, ["a", "b", "c"])
    assert set(factors) == {"objective", "lr"} and seeds == [0, 1, 1]
    assert factors["lr"] == [0.05, 0.05, 0.1]
    assert factors["objective"][0] == factors["objective"][2] != factors["objective"][1]
    assert run_factors(path, ["a"]) == ({}, [0])


def test_only_trained_runs_have_factors(tmp_path: Path) -> None:
    from landscape.shallow import focusing_bp, random_patterns
    from landscape.store.shallow import save_solution

    path = tmp_path / "s.h5"
    xi, labels = random_patterns(21, 5, seed=0)
    save_solution(path, "fbp", focusing_bp(xi, labels), xi, labels)
    with pytest.raises(StoreError, match="no training settings"):
        run_factors(path, ["fbp"])


def test_merge_confounded() -> None:
    f = {"bs": [32, 256, 32, 256], "lr": [0.1, 0.01, 0.1, 0.01], "wd": [0, 0, 1, 1],
         "obj": ["a", "b", "a", "b"]}
    out = merge_confounded(f)
    assert out == {"bs + lr + obj": [(32, 0.1, "a"), (256, 0.01, "b"), (32, 0.1, "a"),
                                     (256, 0.01, "b")], "wd": [0, 0, 1, 1]}
    independent = {"bs": [32, 256, 32, 256], "lr": [0.1, 0.1, 0.01, 0.01]}
    assert merge_confounded(independent) == independent
