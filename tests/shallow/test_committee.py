from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp

from landscape.errors import ConfigError
from landscape.shallow import (
    binary_entropy,
    focusing_bp,
    local_entropy,
    num_errors,
    random_patterns,
)
from landscape.shallow._bp_committee import CommitteeGraph, _output_fields
from landscape.shallow.enumeration import all_binary_weights

PROTOCOLS = ["pseudo_reinforcement", "scoping", "reinforcement"]


def test_output_messages_are_exact_majority_marginals():
    rng = np.random.default_rng(0)
    U = rng.normal(size=(4, 5))
    D = _output_fields(U)
    p = 0.5 * (1 + np.tanh(U))
    # brute force over the 2^4 configurations of the other units
    configs = np.array(np.meshgrid(*[[-1, 1]] * 4, indexing="ij")).reshape(4, -1).T
    for a in range(4):
        for k in range(5):
            others = np.delete(p[a], k)
            prob = np.prod(np.where(configs > 0, others, 1 - others), axis=1)
            s = configs.sum(1)
            plus, minus = prob[s + 1 > 0].sum(), prob[s - 1 > 0].sum()
            assert D[a, k] == pytest.approx(0.5 * np.log(plus / minus), rel=1e-10)


def _committee_solutions(N: int, K: int, P: int, seed: int):
    xi, labels = random_patterns(N, P, seed=seed)
    found = []
    for w in all_binary_weights(K * N, chunk_size=1 << 18):
        W = w.reshape(-1, K, N)
        found.append(W[num_errors(W, xi, labels, machine="committee") == 0])
    return xi, labels, np.concatenate(found)


@pytest.fixture(scope="module", params=[(3, 0), (4, 1)])
def tiny_committee(request):
    P, seed = request.param
    return _committee_solutions(7, 3, P, seed)


def test_committee_bp_marginals_agree_with_enumeration(tiny_committee):
    xi, labels, sols = tiny_committee
    P, (K, N) = len(labels), sols.shape[1:]
    exact = sols.mean(axis=0)
    graph = CommitteeGraph.create(xi, labels, K, np.zeros((P, K, N)))
    for _ in range(500):
        if graph.sweep(np.zeros((K, N)), 0.5) < 1e-10:
            break
    m = np.tanh(graph.cavity_sum())
    # measured: max |m_BP - m_exact| 0.017-0.054 on six such instances (7-term Gaussian sums)
    assert np.max(np.abs(m - exact)) < 0.08
    assert np.max(np.abs(exact)) > 0.15  # the comparison is not between two zero vectors


def test_committee_local_entropy_agrees_with_enumeration(tiny_committee):
    xi, labels, sols = tiny_committee
    K, N = sols.shape[1:]
    flat = sols.reshape(len(sols), -1)
    ref = sols[np.random.default_rng(0).integers(len(sols))]
    lam = np.array([2.0, 1.5, 1.0, 0.5, 0.0])
    overlap = flat @ ref.reshape(-1)
    log_z = logsumexp(lam[:, None] * overlap[None, :], axis=1)
    phi = log_z / (K * N)
    q = np.exp(lam[:, None] * overlap[None, :] - log_z[:, None]) @ overlap / (K * N)
    bp = local_entropy(ref, xi, labels, K=K, couplings=lam, tol=1e-11)
    assert np.all(bp.converged)
    # measured on 8 instances (N=7, K=3, P<=4): |dphi| <= 0.013, |dq| <= 0.035, |dS| <= 0.018
    assert np.max(np.abs(bp.free_entropy - phi)) < 0.02
    assert np.max(np.abs(bp.distances - (1 - q) / 2)) < 0.025
    assert np.max(np.abs(bp.entropy - (phi - lam * q))) < 0.03
    assert np.max(bp.bound - bp.entropy) > 0.04


def test_committee_local_entropy_at_zero_load_is_h2():
    rng = np.random.default_rng(1)
    ref = rng.choice([-1.0, 1.0], size=(5, 31))
    res = local_entropy(ref, np.zeros((0, 31)), np.zeros(0), K=5)
    assert np.allclose(res.entropy, binary_entropy(res.distances), atol=1e-12)
    with pytest.raises(ConfigError):
        local_entropy(ref, np.zeros((0, 31)), np.zeros(0), K=3)
    with pytest.raises(ConfigError):
        local_entropy(ref, np.zeros((0, 31)), np.zeros(0), K=5, kappa=0.1)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_fbp_committee_reference_test_regime(protocol):
    # BinaryCommitteeMachineFBP.jl tests: N=21, K=5, alpha=0.1 (M=10), damping 0.5, randfact 0.1
    solved = 0
    for seed in range(10):
        xi, labels = random_patterns(21, 10, seed=seed)
        res = focusing_bp(xi, labels, K=5, protocol=protocol, seed=seed, damping=0.5)
        assert res.weights.shape == (5, 21)
        assert res.errors == num_errors(res.weights, xi, labels, machine="committee")
        solved += res.solved
    assert solved >= 9


def test_fbp_committee_above_capacity_and_errors():
    xi, labels = random_patterns(21, round(1.3 * 21 * 3), seed=0)  # alpha per synapse 1.3 > 1
    res = focusing_bp(xi, labels, K=3, seed=0, max_iters=5)
    assert not res.solved
    assert res.errors == num_errors(res.weights, xi, labels, machine="committee") > 0
    with pytest.raises(ConfigError):
        focusing_bp(xi, labels, K=4)
    with pytest.raises(ConfigError):
        focusing_bp(xi, labels, K=3, kappa=0.1)


@pytest.mark.slow
def test_fbp_committee_docstring_size():
    # the reference docstring example: N=321, K=5, alpha=0.3 (M=482); ~40 s here
    xi, labels = random_patterns(321, 482, seed=0)
    res = focusing_bp(xi, labels, K=5, seed=0, max_iters=10)
    assert res.solved and num_errors(res.weights, xi, labels, machine="committee") == 0
