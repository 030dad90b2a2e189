from __future__ import annotations

import doctest
import json

import numpy as np
import pytest

import landscape.shallow.replicated as replicated_module
from landscape.cli import main
from landscape.errors import ConfigError
from landscape.shallow import (
    LearnerResult,
    entropic_gd,
    gamma_ce_sgd,
    local_energy,
    num_errors,
    random_patterns,
    replicated_gd,
    replicated_sgd,
    spherical,
)
from landscape.store.shallow import load_solution

# The instance of the reference implementation's own test (BinaryCommitteeMachineRSGD.jl
# test/runtests.jl, research/baldassi.md §7 B.8): N=321, K=5, M=201, y=7, batch=80, lam=0.75,
# gamma=0.05, gamma_step=0.001 (these are replicated_sgd's defaults apart from K).
REF = {"K": 5, "y": 7, "batch": 80, "lam": 0.75, "gamma": 0.05, "gamma_step": 0.001,
       "max_epochs": 10_000}


@pytest.fixture(scope="module")
def reference_instance():
    return random_patterns(321, 201, seed=202)


def _check_solution(res, xi, labels, K, machine="committee"):
    assert isinstance(res, LearnerResult)
    assert res.solved and res.errors == 0
    assert num_errors(res.weights, xi, labels, machine=machine) == 0
    assert set(np.unique(res.weights)) <= {-1.0, 1.0}
    assert res.weights.shape == ((xi.shape[1],) if K == 1 else (K, xi.shape[1]))


@pytest.mark.parametrize("formula", ["simple", "corrected", "hard", "continuous"])
def test_rsgd_solves_the_reference_test_instance(reference_instance, formula):
    # measured (seed 101): 10-92 epochs, 0.06-0.6 s; the reference only asserts success in 1e4
    xi, labels = reference_instance
    res = replicated_sgd(xi, labels, formula=formula, seed=101, **REF)
    _check_solution(res, xi, labels, K=5)
    assert 1 <= res.iterations <= 500 and res.algorithm == "replicated_sgd"
    settings = json.loads(res.settings)
    assert settings["formula"] == formula and settings["y"] == 7 and settings["lam"] == 0.75
    assert settings["gamma_final"] == pytest.approx(0.05 + 0.001 * (res.iterations - 1))


@pytest.mark.parametrize("options", [{"init_equal": True}, {"center": True},
                                     {"init_equal": True, "formula": "hard"},
                                     {"waitcenter": True, "formula": "corrected"}])
def test_rsgd_reference_variants(reference_instance, options):
    # the reference test also runs init_equal / center=true variants of this instance
    xi, labels = reference_instance
    res = replicated_sgd(xi, labels, seed=101, **{**REF, **options})
    _check_solution(res, xi, labels, K=5)
    if options.get("waitcenter"):
        assert json.loads(res.settings)["returned"] == "center"


def test_rsgd_gaussian_patterns_and_reproducibility():
    # the reference test's last case: real-valued patterns and labels (signs taken)
    xi, labels = random_patterns(321, 201, seed=7, kind="gaussian")
    res = replicated_sgd(xi, labels, seed=3, **REF)
    _check_solution(res, xi, labels, K=5)
    again = replicated_sgd(xi, labels, seed=3, **REF)
    assert np.array_equal(again.weights, res.weights) and again.steps == res.steps
    other = replicated_sgd(xi, labels, seed=4, **REF)
    assert not np.array_equal(other.weights, res.weights)


def test_rsgd_small_perceptron_and_tree():
    xi, labels = random_patterns(101, 30, seed=1)
    res = replicated_sgd(xi, labels, K=1, y=5, batch=10, seed=0)
    _check_solution(res, xi, labels, K=1, machine="perceptron")
    xt, lt = random_patterns(99, 45, seed=1)
    tree = replicated_sgd(xt, lt, K=3, y=5, batch=15, tree=True, seed=0)
    assert tree.solved and tree.weights.shape == (3, 33)
    assert num_errors(tree.weights, xt, lt, machine="tree") == 0
    assert json.loads(tree.settings)["tree"] is True


def test_rsgd_beats_unreplicated_sgd():
    # research/baldassi.md §7 B.9 at a cheaper size: N=101, K=3, alpha=0.5 (P=152). Measured over
    # seeds 0-3: rSGD (y=7) solves 4/4 in 145-178 epochs; y=1, lam=0 ends with 11-19 errors.
    for seed in range(2):
        xi, labels = random_patterns(101, 152, seed=seed)
        rep = replicated_sgd(xi, labels, K=3, batch=20, max_epochs=200, seed=seed)
        one = replicated_sgd(xi, labels, K=3, batch=20, y=1, lam=0.0, max_epochs=200, seed=seed)
        assert rep.solved and rep.iterations < 200
        assert not one.solved and one.errors >= 5 and one.iterations == 200


def test_rsgd_returns_a_solving_replica_when_the_centre_still_errs():
    # y=2: the centre sign(J1 + J2) is -1 wherever the replicas disagree, so with no coupling a
    # replica can solve first (measured: seed 5 ends on replica 0 after 9 epochs, seeds 0-4 on
    # the centre); the returned weights must then be that replica's, which solve
    xi, labels = random_patterns(101, 20, seed=5)
    res = replicated_sgd(xi, labels, K=1, y=2, batch=5, lam=0.0, seed=5)
    assert json.loads(res.settings)["returned"] == "replica 0"
    assert res.solved and num_errors(res.weights, xi, labels) == 0
    # waitcenter: uncoupled replicas that solved stop moving and their tie-broken centre never
    # solves: the run goes on to max_epochs and the (non-)solution is reported as such
    wait = replicated_sgd(xi, labels, K=1, y=2, batch=5, lam=0.0, seed=5, waitcenter=True,
                          max_epochs=50)
    assert json.loads(wait.settings)["returned"] == "center" and wait.iterations == 50
    assert not wait.solved and wait.errors == num_errors(wait.weights, xi, labels) > 0


@pytest.mark.slow
def test_rsgd_documented_good_configuration_alpha05():
    # research/baldassi.md §7 B.8: M=802 (alpha=0.5). Measured: 5/5 seeds solved in 361-509
    # epochs (10-30 s each on a busy 2-core machine); y=1, lam=0 solved 0/5 (84-115 errors).
    solved = []
    for seed in range(3):
        xi, labels = random_patterns(321, 802, seed=seed)
        solved.append(replicated_sgd(xi, labels, K=5, max_epochs=1000, seed=seed).solved)
    assert sum(solved) >= 2


def test_no_replicated_learner_claims_a_solution_above_capacity():
    # binary perceptron at alpha = 0.9 > alpha_c ~ 0.833: no solution exists (typically)
    xi, labels = random_patterns(101, 91, seed=0)
    runs = [replicated_sgd(xi, labels, K=1, y=5, batch=10, max_epochs=30, seed=0),
            replicated_sgd(xi, labels, K=1, y=5, batch=10, max_epochs=30, center=True, seed=0),
            replicated_gd(xi, labels, binary=True, epochs=20, seed=0),
            entropic_gd(xi, labels, binary=True, epochs=20, seed=0)]
    for res in runs:
        assert not res.solved and res.errors > 0
        assert res.errors == num_errors(res.weights, xi, labels)
        assert set(np.unique(res.weights)) <= {-1.0, 1.0}
    # spherical weights above the spherical capacity 2 (alpha = 2.5)
    xg, lg = random_patterns(51, 128, seed=0, kind="gaussian")
    for fn in (replicated_gd, entropic_gd):
        res = fn(xg, lg, epochs=20, seed=0)
        assert not res.solved and res.errors == num_errors(res.weights, xg, lg) > 0


@pytest.mark.parametrize("fn", [replicated_gd, entropic_gd])
def test_continuous_replicated_learners_solve_easy_instances(fn):
    xi, labels = random_patterns(201, 60, seed=0)
    res = fn(xi, labels, binary=True, seed=0)
    _check_solution(res, xi, labels, K=1, machine="perceptron")
    xg, lg = random_patterns(201, 241, seed=0, kind="gaussian")  # alpha = 1.2 < 2
    sph = fn(xg, lg, seed=0)
    assert sph.solved and num_errors(sph.weights, xg, lg) == 0
    assert np.allclose(spherical(sph.weights), sph.weights)
    assert not np.all(np.abs(sph.weights) == 1)
    xc, lc = random_patterns(101, 30, seed=0)
    com = fn(xc, lc, K=3, binary=True, seed=0, stop_at_zero=True)
    assert com.solved and com.weights.shape == (3, 101) and com.iterations < 300
    assert num_errors(com.weights, xc, lc, machine="committee") == 0


def test_continuous_learners_bookkeeping_and_seeding():
    xi, labels = random_patterns(101, 30, seed=2)
    r = replicated_gd(xi, labels, epochs=7, batch_size=10, coupling0=0.1, coupling_rate=0.01)
    s = json.loads(r.settings)
    assert r.iterations == 7 and r.steps == 7 * 3
    assert s["coupling_final"] == pytest.approx(0.1 * 1.01 ** (r.steps - 1))
    e = entropic_gd(xi, labels, epochs=7, batch_size=10, inner_steps=4)
    assert e.steps == (7 * 3) // 4 and e.iterations == 7
    for fn in (replicated_gd, entropic_gd):
        a, b = fn(xi, labels, epochs=5, seed=1), fn(xi, labels, epochs=5, seed=1)
        assert np.array_equal(a.weights, b.weights)
        assert not np.array_equal(a.weights, fn(xi, labels, epochs=5, seed=2).weights)


def test_replicated_and_entropic_gd_find_flatter_solutions_than_a_gamma_jump():
    # Measured at N=201, alpha=0.3 (seeds 0-2): local energy at p=0.05 of rGD 0.021-0.032,
    # eGD 0.024-0.028, gamma_ce_sgd with gamma jumped to 20: 0.045-0.050.
    diffs = []
    for seed in range(2):
        xi, labels = random_patterns(201, 60, seed=seed)
        jump = gamma_ce_sgd(xi, labels, seed=seed, gamma_schedule="jump")
        e_jump = local_energy(jump.weights, xi, labels, [0.05], num_samples=200, seed=1)
        for fn in (replicated_gd, entropic_gd):
            res = fn(xi, labels, binary=True, seed=seed)
            assert res.solved and jump.solved
            e = local_energy(res.weights, xi, labels, [0.05], num_samples=200, seed=1)
            diffs.append(e_jump.increase[0] - e.increase[0])
    assert min(diffs) > 0 and np.mean(diffs) > 0.01


def test_config_errors():
    xi, labels = random_patterns(21, 5, seed=0)
    with pytest.raises(ConfigError):
        replicated_sgd(xi, labels, K=2)
    with pytest.raises(ConfigError):
        replicated_sgd(xi, labels, formula="tanh")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        replicated_sgd(xi, labels, y=0)
    assert replicated_sgd(xi, labels, K=3, tree=True, batch=5).weights.shape == (3, 7)
    with pytest.raises(ConfigError):
        replicated_sgd(xi, labels, K=5, tree=True)
    with pytest.raises(ConfigError):
        replicated_gd(xi, labels, coupling0=-1.0)
    with pytest.raises(ConfigError):
        entropic_gd(xi, labels, average=0.0)


def test_cli_solve_with_new_learners(tmp_path):
    out = str(tmp_path / "s.h5")
    assert main(["shallow", "solve", "--N", "101", "--K", "3", "--alpha", "0.1", "--learner",
                 "rsgd", "--batch", "10", "--replicas", "5", "--out", out, "--run", "r"]) == 0
    sol = load_solution(out, "r")
    assert sol.result.algorithm == "replicated_sgd" and sol.result.solved
    assert sol.result.weights.shape == (3, 101)
    for learner in ("replicated_gd", "entropic_gd", "lal", "elal"):
        assert main(["shallow", "solve", "--N", "101", "--alpha", "0.15", "--learner", learner,
                     "--epochs", "100", "--out", out, "--run", learner]) == 0
        assert load_solution(out, learner).result.solved


def test_docstring_examples():
    result = doctest.testmod(replicated_module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
