from __future__ import annotations

import json

import numpy as np
import pytest

from landscape.cli import main
from landscape.errors import StoreError
from landscape.plot import save
from landscape.shallow import (
    LearnerResult,
    LocalEnergyResult,
    LocalEntropyResult,
    clipped_perceptron,
    focusing_bp,
    local_energy,
    local_entropy,
    random_patterns,
)
from landscape.shallow.plots import plot_local_energy, plot_local_entropy
from landscape.store.shallow import (
    list_measurements,
    load_measurement,
    load_solution,
    save_measurement,
    save_solution,
)


@pytest.fixture(scope="module")
def instance():
    xi, labels = random_patterns(101, 30, seed=4)
    return xi, labels, focusing_bp(xi, labels, seed=4)


def test_save_and_load_solution_roundtrip(tmp_path, instance):
    xi, labels, res = instance
    path = tmp_path / "s.h5"
    save_solution(path, "fbp", res, xi, labels, instance_seed=4, attrs={"note": "x"})
    cp = clipped_perceptron(xi, labels, seed=1)
    save_solution(path, "cp", cp, xi, labels, instance_seed=4)
    sol = load_solution(path, "fbp")
    assert isinstance(sol.result, LearnerResult)
    assert np.array_equal(sol.result.weights, res.weights) and sol.result.solved
    assert np.array_equal(sol.xi, xi) and np.array_equal(sol.labels, labels)
    a = sol.attrs
    assert (a["N"], a["P"], a["K"], a["instance_seed"], a["seed"]) == (101, 30, 1, 4, 4)
    assert a["alpha"] == pytest.approx(30 / 101) and a["learner"] == "focusing_bp"
    assert a["note"] == "x" and a["pattern_kind"] == "binary"
    other = load_solution(path, "cp")
    assert other.attrs["learner_settings"]["hidden_max"] == 15  # decoded by the reader
    assert json.loads(other.result.settings) == json.loads(cp.settings)
    with pytest.raises(StoreError):
        save_solution(path, "fbp", res, xi, labels)  # exists
    save_solution(path, "fbp", res, xi, labels, overwrite=True)
    with pytest.raises(StoreError):
        save_solution(path, "bad", res, xi[:5], labels[:5])
    with pytest.raises(StoreError):
        load_solution(path, "missing")


def test_measurements_and_plots(tmp_path, instance):
    xi, labels, res = instance
    path = tmp_path / "s.h5"
    save_solution(path, "fbp", res, xi, labels)
    S = local_entropy(res.weights, xi, labels, couplings=np.array([2.5, 1.5, 1.0]))
    E = local_energy(res.weights, xi, labels, [0.0, 0.05, 0.2], num_samples=10)
    save_measurement(path, "fbp", "S", S, attrs={"couplings": [2.5, 1.5, 1.0]})
    save_measurement(path, "fbp", "E", E)
    assert list_measurements(path, "fbp") == ["E", "S"]
    S2, E2 = load_measurement(path, "fbp", "S"), load_measurement(path, "fbp", "E")
    assert isinstance(S2, LocalEntropyResult) and np.allclose(S2.entropy, S.entropy)
    assert isinstance(E2, LocalEnergyResult) and np.allclose(E2.samples, E.samples)
    with pytest.raises(StoreError):
        load_measurement(path, "fbp", "nope")
    ax = plot_local_entropy({"a": S, "b": S2}, only_converged=False)
    assert len(ax.lines) == 3  # two curves and H2
    assert save(ax.figure, tmp_path / "S.png").stat().st_size > 0
    ax = plot_local_energy({"a": E})
    assert save(ax.figure, tmp_path / "E.png").stat().st_size > 0


def test_cli_solve_and_measure(tmp_path, capsys):
    out = str(tmp_path / "s.h5")
    assert main(["shallow", "solve", "--N", "101", "--alpha", "0.3", "--seed", "2",
                 "--out", out, "--run", "fbp", "--device", "cpu"]) == 0
    for learner in ("gamma_ce", "sa", "clipped"):
        assert main(["shallow", "solve", "--N", "101", "--alpha", "0.15", "--learner", learner,
                     "--seed", "2", "--epochs", "100", "--sweeps", "300", "--out", out]) == 0
    text = capsys.readouterr().out
    assert text.count(" solved,") == 4
    sol = load_solution(out, "gamma_ce_N101_a0.15_s2")
    assert sol.result.algorithm == "gamma_ce_sgd" and sol.attrs["instance_seed"] == 2
    png = str(tmp_path / "S.png")
    assert main(["shallow", "local-entropy", out, "--run", "fbp", "--points", "5",
                 "--plot", png]) == 0
    assert (tmp_path / "S.png").exists()
    assert main(["shallow", "local-energy", out, "--run", "sa_N101_a0.15_s2", "--samples", "5",
                 "--fractions", "0", "0.1"]) == 0
    assert list_measurements(out, "fbp") == ["local_entropy"]
    le = load_measurement(out, "sa_N101_a0.15_s2", "local_energy")
    assert le.mean[0] == 0.0 and le.num_samples == 5
    capsys.readouterr()
    assert main(["shallow", "local-energy", out, "--run", "missing"]) == 2
    assert main(["shallow", "solve", "--N", "100", "--out", out]) == 2
    assert main(["shallow", "solve", "--N", "21", "--K", "3", "--learner", "clipped",
                 "--out", out]) == 2
    assert main(["shallow", "local-entropy", out, "--run", "fbp", "--device", "nonsense"]) == 2
    err = capsys.readouterr().err
    assert err.count("landscape shallow: error:") == 4
