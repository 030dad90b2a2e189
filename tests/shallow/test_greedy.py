from __future__ import annotations

import doctest
import json

import numpy as np
import pytest

import landscape.shallow.greedy as greedy_module
from landscape.errors import ConfigError
from landscape.shallow import (
    LearnerResult,
    entropic_least_action,
    hidden_fields,
    least_action,
    local_energy,
    num_errors,
    random_patterns,
)
from landscape.shallow._least_action import least_action_mask


def test_least_action_mask_picks_the_cheapest_wrong_units():
    h = np.array([[-3.0, 1.0, -1.0, 5.0, -2.0],   # 2 right: fix 1, the wrong unit nearest 0
                  [-3.0, -1.0, -2.0, 4.0, -5.0],  # 1 right: fix 2
                  [1.0, 2.0, 3.0, -1.0, -9.0],    # correct: nothing
                  [-1.0, -1.0, -1.0, -1.0, -1.0]])  # ties: the lowest indices, as findmin
    expected = np.array([[0, 0, 1, 0, 0], [0, 1, 1, 0, 0], [0, 0, 0, 0, 0], [1, 1, 1, 0, 0]])
    assert np.array_equal(least_action_mask(h), expected)
    # a margin: units at or below it are unsatisfied; the largest field among them moves
    m = least_action_mask(np.array([[0.5, 2.0, -1.0]]), threshold=1.0)
    assert np.array_equal(m, [[1, 0, 0]])
    # K = 1: the perceptron rule (update iff the stability is <= threshold)
    assert np.array_equal(least_action_mask(np.array([[0.0], [2.0], [-1.0]]))[:, 0], [1, 0, 1])
    # batched over leading dimensions
    assert least_action_mask(np.stack([h, h])).shape == (2, 4, 5)


@pytest.mark.parametrize(("K", "N", "alpha", "tree"), [(1, 201, 0.1, False), (1, 201, 0.3, False),
                                                      (3, 101, 0.3, False), (3, 99, 0.1, True)])
def test_least_action_solves_easy_instances(K, N, alpha, tree):
    # measured (seeds 0-4): K=1, N=201 solves alpha 0.1 and 0.3 5/5 (3-7 epochs); K=3, N=101
    # solves alpha=0.3 5/5 (<= 30 epochs); the tree (33 inputs per unit) alpha=0.1 in 4-9
    for seed in range(2):
        xi, labels = random_patterns(N, round(alpha * N * K), seed=seed)
        res = least_action(xi, labels, K=K, tree=tree, seed=seed)
        machine = "perceptron" if K == 1 else ("tree" if tree else "committee")
        assert isinstance(res, LearnerResult) and res.algorithm == "least_action"
        assert res.solved and res.errors == 0 == num_errors(res.weights, xi, labels,
                                                            machine=machine)
        assert set(np.unique(res.weights)) <= {-1.0, 1.0}
        assert res.weights.shape == ((N,) if K == 1 else (K, N // K if tree else N))
        assert 1 <= res.iterations < 200 and res.steps >= 1
    again = least_action(xi, labels, K=K, tree=tree, seed=seed)
    assert np.array_equal(again.weights, res.weights) and again.steps == res.steps


def test_least_action_minibatch_and_clip():
    xi, labels = random_patterns(201, 40, seed=3)
    res = least_action(xi, labels, batch=10, hidden_max=15.0, seed=0)
    assert res.solved and res.protocol == "minibatch"
    assert json.loads(res.settings)["hidden_max"] == 15.0
    # a tight clip (|H| <= 5 with eta = 2) leaves too little memory: measured 12 errors
    tight = least_action(xi, labels, batch=10, hidden_max=5.0, max_epochs=100, seed=0)
    assert not tight.solved and tight.errors == num_errors(tight.weights, xi, labels) > 0


@pytest.mark.parametrize("fn", [least_action, entropic_least_action])
def test_greedy_learners_never_claim_a_solution_above_capacity(fn):
    xi, labels = random_patterns(101, 91, seed=0)  # alpha = 0.9 > 0.833
    res = fn(xi, labels, max_epochs=30, seed=0)
    assert not res.solved and res.errors > 0
    assert res.errors == num_errors(res.weights, xi, labels)
    assert res.iterations == 30
    xc, lc = random_patterns(51, 153, seed=0)  # committee K=3 at alpha = 1 per synapse
    com = fn(xc, lc, K=3, max_epochs=10, seed=0)
    assert not com.solved and com.errors == num_errors(com.weights, xc, lc,
                                                       machine="committee") > 0


def test_entropic_least_action_returns_a_solution_with_the_margin_it_reports():
    for K, N, P in [(1, 201, 40), (3, 101, 30)]:
        xi, labels = random_patterns(N, P, seed=1)
        res = entropic_least_action(xi, labels, K=K, seed=1)
        kappa = json.loads(res.settings)["kappa_reached"]
        assert res.solved and kappa is not None and kappa >= 0.2
        h = labels[:, None] * hidden_fields(res.weights.reshape(K, N), xi,
                                            machine="committee")  # [P, K], / sqrt(N)
        satisfied = (h > kappa - 1e-12).sum(axis=1)
        assert np.all(satisfied >= (K + 1) // 2)  # every pattern: a majority above kappa
    # kappa_max = 0: stops at the first solution, as plain least action
    xi, labels = random_patterns(201, 40, seed=1)
    first = entropic_least_action(xi, labels, kappa_max=0.0, seed=1)
    assert first.solved and json.loads(first.settings)["kappa_reached"] == 0.0


def test_entropic_least_action_finds_flatter_solutions():
    # Measured at N=201 (seeds 0-4), local energy at p=0.05: alpha=0.1 eLAL 0-0.002 vs LAL
    # 0.022-0.057; alpha=0.3 eLAL 0.026-0.044 vs LAL 0.038-0.073.
    for seed in range(3):
        xi, labels = random_patterns(201, 20, seed=seed)
        e = [local_energy(fn(xi, labels, seed=seed).weights, xi, labels, [0.05],
                          num_samples=200, seed=1).increase[0]
             for fn in (entropic_least_action, least_action)]
        assert e[0] < 0.01 < e[1]


def test_config_errors():
    xi, labels = random_patterns(21, 5, seed=0)
    with pytest.raises(ConfigError):
        least_action(xi, labels, K=4)
    with pytest.raises(ConfigError):
        least_action(xi, labels, eta=0.0)
    with pytest.raises(ConfigError):
        least_action(xi, labels, hidden_max=0.0)
    with pytest.raises(ConfigError):
        entropic_least_action(xi, labels, kappa_step=0.0)
    with pytest.raises(ConfigError):
        least_action(xi, labels, K=5, tree=True)  # 5 does not divide 21


def test_docstring_examples():
    result = doctest.testmod(greedy_module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
