from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from landscape.errors import ConfigError
from landscape.shallow import (
    LocalEnergyResult,
    focusing_bp,
    local_energy,
    random_patterns,
    training_error,
)


@pytest.fixture(scope="module")
def solved():
    xi, labels = random_patterns(201, 80, seed=4)
    res = focusing_bp(xi, labels, seed=0)
    assert res.solved
    return res.weights, xi, labels


def test_local_energy_endpoints_and_monotonicity(solved):
    w, xi, labels = solved
    p = np.array([0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5])
    le = local_energy(w, xi, labels, p, num_samples=60, seed=0)
    assert le.base_error == 0.0 and le.mean[0] == 0.0 and le.stderr[0] == 0.0
    assert le.samples.shape == (8, 60)
    assert np.array_equal(le.num_flipped, np.rint(p * 201).astype(int))
    assert abs(le.mean[-1] - 0.5) < 0.05
    assert spearmanr(p, le.mean).statistic > 0.9
    assert np.all(le.increase >= 0) and le.increase[3] > 0
    assert np.allclose(le.stderr, le.samples.std(axis=1, ddof=1) / np.sqrt(60))
    back = LocalEnergyResult.from_arrays(*le.to_arrays())
    assert np.array_equal(back.samples, le.samples)


def test_local_energy_p0_gives_the_base_error_of_a_non_solution():
    xi, labels = random_patterns(101, 150, seed=0)
    w = np.random.default_rng(0).choice([-1.0, 1.0], size=101)
    le = local_energy(w, xi, labels, [0.0, 1.0], num_samples=5, seed=1)
    base = training_error(w, xi, labels)
    assert le.mean[0] == pytest.approx(base) and le.base_error == pytest.approx(base)
    # p = 1 flips every weight: the error becomes the complement (no zero stabilities, N odd)
    assert le.mean[1] == pytest.approx(1 - base)


def test_local_energy_flips_exactly_the_requested_number():
    xi, labels = random_patterns(51, 10, seed=0)
    w = np.ones(51)
    le = local_energy(w, xi, labels, [0.2], num_samples=3, seed=0)
    assert le.num_flipped[0] == 10
    # seeded: same seed same samples, different seed different samples
    again = local_energy(w, xi, labels, [0.2], num_samples=3, seed=0)
    assert np.array_equal(le.samples, again.samples)


def test_local_energy_committee_and_errors():
    xi, labels = random_patterns(21, 30, seed=0)
    W = np.random.default_rng(0).choice([-1.0, 1.0], size=(3, 21))
    le = local_energy(W, xi, labels, [0.0, 0.5], num_samples=20, seed=0)
    assert le.machine == "committee"
    assert le.mean[0] == pytest.approx(training_error(W, xi, labels, machine="committee"))
    with pytest.raises(ConfigError):
        local_energy(np.full(21, 0.3), xi, labels, [0.1])
    with pytest.raises(ConfigError):
        local_energy(np.ones(21), xi, labels, [1.5])
    with pytest.raises(ConfigError):
        local_energy(np.ones(21), xi, labels, [0.1], num_samples=0)


# ------------------------------------------------------------------ multiplicative Gaussian noise
def test_gaussian_local_energy_matches_the_closed_form_for_the_perceptron() -> None:
    # ±1 patterns: w'·ξ = Δ + σ Σ_i w_i ξ_i z_i with Σ_i (w_i ξ_i)² = |w|², so pattern μ is wrong
    # with probability Φ(−Δ_μ / (σ|w|)) exactly, Δ_μ = σ^μ w·ξ^μ
    from scipy.stats import norm

    from landscape.shallow import gamma_ce_sgd, local_energy_gaussian, random_patterns

    xi, labels = random_patterns(101, 40, seed=3)
    w = gamma_ce_sgd(xi, labels, binary=False, seed=0).weights
    sigmas = [0.0, 0.1, 0.3, 1.0]
    r = local_energy_gaussian(w, xi, labels, sigmas, num_samples=4000, seed=1)
    delta = labels * (xi @ w)
    assert r.increase[0] == 0.0 and r.samples.shape == (4, 4000)
    for j, s in enumerate(sigmas[1:], start=1):
        exact = float(np.mean(norm.cdf(-delta / (s * np.linalg.norm(w)))))
        # 4 standard errors, or a few error events where the rate is tiny (σ = 0.1, 0.3)
        assert abs(r.mean[j] - exact) < 4 * r.stderr[j] + 5 / r.samples.size, (s, r.mean[j],
                                                                                 exact)
    assert np.all(np.diff(r.mean) >= 0) and r.mean[-1] > 0.05


def test_gaussian_local_energy_is_a_batched_loop_and_reproducible() -> None:
    from landscape._seeding import numpy_rng
    from landscape.shallow import local_energy_gaussian, random_patterns, training_error

    xi, labels = random_patterns(31, 20, seed=0)
    w = np.random.default_rng(0).standard_normal((3, 31))
    r = local_energy_gaussian(w, xi, labels, [0.2, 0.5], num_samples=7, seed=5)
    z = numpy_rng(5, "local_energy_gaussian").standard_normal((7, 3, 31))
    for j, s in enumerate([0.2, 0.5]):
        loop = [training_error(w * (1 + s * z[k]), xi, labels, machine="committee")
                for k in range(7)]
        np.testing.assert_array_equal(r.samples[j], loop)
    again = local_energy_gaussian(w, xi, labels, [0.2, 0.5], num_samples=7, seed=5)
    np.testing.assert_array_equal(again.samples, r.samples)


@pytest.mark.parametrize("kw", [{"sigmas": [-0.1]}, {"num_samples": 0}])
def test_gaussian_local_energy_bad_input(kw) -> None:
    from landscape.shallow import local_energy_gaussian, random_patterns

    xi, labels = random_patterns(11, 5, seed=0)
    args = {"sigmas": [0.1], "num_samples": 3, **kw}
    with pytest.raises(ConfigError):
        local_energy_gaussian(np.ones(11), xi, labels, args.pop("sigmas"), **args)
