from __future__ import annotations

import numpy as np
import pytest

from landscape.errors import ConfigError
from landscape.shallow.bp import binary_entropy, local_entropy, perceptron_bp
from landscape.shallow.data import random_patterns, teacher_patterns
from landscape.shallow.enumeration import (
    ExactLocalEntropy,
    all_binary_weights,
    enumerate_solutions,
    exact_local_entropy,
    exact_marginals,
)
from landscape.shallow.models import num_errors


def test_all_binary_weights_is_complete_and_unique():
    w = np.concatenate(list(all_binary_weights(10, chunk_size=100)))
    assert w.shape == (1024, 10)
    assert len(np.unique(w, axis=0)) == 1024
    with pytest.raises(ConfigError):
        next(all_binary_weights(30))


def test_enumerate_solutions_matches_brute_force_check():
    xi, labels = random_patterns(13, 6, seed=2)
    sols = enumerate_solutions(xi, labels)
    assert np.array_equal(enumerate_solutions(xi, labels, chunk_bits=5), sols)
    every = np.concatenate(list(all_binary_weights(13)))
    errs = num_errors(every, xi, labels)
    assert len(sols) == int(np.sum(errs == 0)) > 0
    assert np.all(num_errors(sols.astype(float), xi, labels) == 0)
    # gauge symmetry: (w solves xi, labels) <=> (-w solves xi, -labels)
    assert len(enumerate_solutions(xi, -labels)) == len(sols)
    # margin makes the set smaller
    assert len(enumerate_solutions(xi, labels, kappa=0.5)) < len(sols)
    # no patterns: every vector is a solution
    assert len(enumerate_solutions(xi[:0], labels[:0])) == 2**13


def test_exact_local_entropy_counts_and_tilted_legendre_pair():
    xi, labels, teacher = teacher_patterns(15, 5, seed=0)
    sols = enumerate_solutions(xi, labels)
    ex = exact_local_entropy(teacher, sols)
    assert ex.counts[0] == 1 and ex.counts.sum() == len(sols) == ex.num_solutions
    assert np.all(ex.entropy <= binary_entropy(ex.distances) + np.log(15) / 15 + 1e-12)
    back = ExactLocalEntropy.from_arrays(*ex.to_arrays())
    assert np.array_equal(back.counts, ex.counts) and back.N == 15
    lam = np.array([0.0, 0.5, 1.0, 2.0])
    t = ex.tilted(lam)
    # q = dphi/dlambda, checked by finite differences
    eps = 1e-5
    dphi = (ex.tilted(lam + eps).free_entropy - ex.tilted(lam - eps).free_entropy) / (2 * eps)
    assert np.allclose(dphi, t.overlaps, atol=1e-7)
    assert t.free_entropy[0] == pytest.approx(np.log(len(sols)) / 15)
    # overlaps agree with the tilted marginals
    for j, lm in enumerate(lam):
        assert exact_marginals(sols, teacher, lm) @ teacher / 15 == pytest.approx(t.overlaps[j])


def test_binary_entropy_values():
    assert binary_entropy(0.5) == pytest.approx(np.log(2))
    assert binary_entropy(0.0) == 0.0 and binary_entropy(1.0) == 0.0
    assert binary_entropy(0.1) == pytest.approx(-0.1 * np.log(0.1) - 0.9 * np.log(0.9))
    with pytest.raises(ConfigError):
        binary_entropy(1.5)


def test_local_entropy_at_zero_load_is_the_binary_entropy_exactly():
    rng = np.random.default_rng(0)
    N = 101
    ref = rng.choice([-1.0, 1.0], size=N)
    xi, labels = np.zeros((0, N)), np.zeros(0)
    res = local_entropy(ref, xi, labels)
    assert np.all(res.converged)
    assert np.allclose(res.entropy, binary_entropy(res.distances), atol=1e-12)
    assert np.allclose(res.distances, (1 - np.tanh(res.couplings)) / 2, atol=1e-12)
    assert res.distances.min() < 0.002 and res.distances.max() > 0.25
    assert np.allclose(res.bound, binary_entropy(res.distances))


def _random_solution(sols: np.ndarray, seed: int) -> np.ndarray:
    return sols[np.random.default_rng(seed).integers(len(sols))].astype(np.float64)


@pytest.mark.parametrize(("alpha", "seed"), [(0.2, 0), (0.3, 1), (0.3, 2), (0.4, 0)])
def test_bp_local_entropy_agrees_with_enumeration_at_n21(alpha, seed):
    N = 21
    xi, labels = random_patterns(N, round(alpha * N), seed=seed)
    sols = enumerate_solutions(xi, labels)
    ref = _random_solution(sols, seed)
    lam = np.array([3.0, 2.0, 1.5, 1.0, 0.7, 0.5, 0.3, 0.1])
    exact = exact_local_entropy(ref, sols).tilted(lam)
    bp = local_entropy(ref, xi, labels, couplings=lam, tol=1e-10)
    assert np.all(bp.converged)
    # Measured over 12 instances per alpha at N = 21 (alpha <= 0.4): max |dphi| 0.025,
    # max |dd| 0.019, max |dS| 0.027 (median 0.01). BP with Gaussian cavity sums is exact only
    # as N -> infinity; the gap is the finite-N (20-term sum) error.
    assert np.max(np.abs(bp.free_entropy - exact.free_entropy)) < 0.03
    assert np.max(np.abs(bp.distances - exact.distances)) < 0.025
    assert np.max(np.abs(bp.entropy - exact.entropy)) < 0.035
    # and BP is not trivially H2: the patterns reduce the entropy (by more than the BP error)
    assert np.max(bp.bound - bp.entropy) > 0.05


def test_bp_flags_contradictions_instead_of_returning_garbage():
    # alpha = 0.4, seed 11: at lambda = 0.1 loopy BP leaves the solution space (measured)
    N = 21
    xi, labels = random_patterns(N, round(0.4 * N), seed=11)
    sols = enumerate_solutions(xi, labels)
    ref = _random_solution(sols, 11)
    lam = np.array([3.0, 2.0, 1.5, 1.0, 0.7, 0.5, 0.3, 0.1])
    bp = local_entropy(ref, xi, labels, couplings=lam, tol=1e-10)
    bad = ~bp.converged
    assert bad.any() and np.all(np.isnan(bp.entropy[bad]))
    assert np.all(np.isfinite(bp.entropy[~bad])) and np.all(bp.entropy[~bad] < 1)


def test_bp_marginals_agree_with_enumeration():
    N = 21
    xi, labels = random_patterns(N, 5, seed=7)
    sols = enumerate_solutions(xi, labels)
    ref = _random_solution(sols, 0)
    for lam in (0.0, 1.0):
        res = perceptron_bp(xi, labels, external_field=lam * ref, tol=1e-10)
        exact = exact_marginals(sols, ref, lam)
        assert res.converged
        # measured: max |m_BP - m_exact| <= 0.09, mean <= 0.03 at N = 21, P = 5
        assert np.max(np.abs(res.magnetizations - exact)) < 0.12
        assert np.mean(np.abs(res.magnetizations - exact)) < 0.04
        assert np.corrcoef(res.magnetizations, exact)[0, 1] > 0.95
        assert res.free_entropy == pytest.approx(
            exact_local_entropy(ref, sols).tilted(lam).free_entropy[0], abs=0.01
        )


def test_bp_errors_and_shape_checks():
    xi, labels = random_patterns(21, 4, seed=0)
    with pytest.raises(ConfigError):
        local_entropy(np.ones(21), xi, labels, K=3)
    with pytest.raises(ConfigError):
        local_entropy(np.ones(20), xi, labels)
    with pytest.raises(ConfigError):
        local_entropy(np.full(21, 0.5), xi, labels)
    with pytest.raises(ConfigError):
        perceptron_bp(xi, labels, damping=1.0)
    with pytest.raises(ConfigError):
        perceptron_bp(xi, labels[:3])
    with pytest.raises(ConfigError):
        perceptron_bp(xi, 2 * labels)
    res = perceptron_bp(xi, labels, max_iters=1)
    assert res.iterations == 1 and not res.converged


def test_results_round_trip_through_arrays():
    from landscape.shallow import BPResult, LocalEntropyResult

    xi, labels = random_patterns(21, 4, seed=0)
    sols = enumerate_solutions(xi, labels)
    ref = _random_solution(sols, 0)
    le = local_entropy(ref, xi, labels, couplings=np.array([2.0, 1.0]))
    back = LocalEntropyResult.from_arrays(*le.to_arrays())
    assert np.array_equal(back.entropy, le.entropy) and np.array_equal(back.converged, le.converged)
    assert back.K == 1 and back.damping == le.damping
    bp = perceptron_bp(xi, labels)
    assert BPResult.from_arrays(*bp.to_arrays()).free_entropy == bp.free_entropy
    # entropy decreases towards the reference and stays under the bound
    assert le.distances[0] < le.distances[1] and le.entropy[0] < le.entropy[1]
    assert np.all(le.entropy <= le.bound + 0.02)
