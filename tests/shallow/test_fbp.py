from __future__ import annotations

import numpy as np
import pytest

from landscape.errors import ConfigError
from landscape.shallow import (
    LearnerResult,
    focusing_bp,
    num_errors,
    protocol_schedule,
    random_patterns,
    teacher_patterns,
)
from landscape.shallow.fbp import focusing_field

PROTOCOLS = ["pseudo_reinforcement", "scoping", "reinforcement"]


def test_protocol_schedules_follow_the_reference_code():
    g, y = protocol_schedule("reinforcement")
    assert len(g) == 100 and np.all(np.isinf(g)) and y[0] == 1 and y[-1] == pytest.approx(100)
    g, y = protocol_schedule("scoping")
    assert g[0] == 0 and g[-2] == pytest.approx(7) and np.isinf(g[-1]) and np.all(y == 21)
    g, y = protocol_schedule("pseudo_reinforcement")
    rho = 0.25
    j = 25
    assert g[j] == pytest.approx(np.arctanh(np.sqrt(rho)))
    assert y[j] == pytest.approx((2 - rho) / (1 - rho))
    assert len(g) == 104 and np.all(np.diff(g) > 0)
    with pytest.raises(ConfigError):
        protocol_schedule("annealing")  # type: ignore[arg-type]
    assert np.array_equal(g, np.arctanh(np.sqrt(np.r_[np.arange(100) / 100, 0.992:0.999:0.002])))


def test_protocol_step_refines_the_schedules():
    g, y = protocol_schedule("pseudo_reinforcement", 0.005)
    assert len(g) == 199 + 4 and g[50] == pytest.approx(np.arctanh(0.5))
    assert np.all(np.diff(g) > 0) and y[-1] == pytest.approx((2 - 0.998) / 0.002)
    g, y = protocol_schedule("reinforcement", 0.02)
    assert len(g) == 50 and y[-1] == pytest.approx(1 / (1 - 0.98))
    g, _ = protocol_schedule("scoping", 0.005)
    assert len(g) == 202 and g[-2] == pytest.approx(7)
    for bad in (0.0, -0.01, 0.5):
        with pytest.raises(ConfigError, match="step"):
            protocol_schedule("reinforcement", bad)
    xi, labels = random_patterns(101, 40, seed=0)
    slow = focusing_bp(xi, labels, seed=0, protocol="reinforcement", protocol_step=0.005)
    assert slow.solved


def test_focusing_field_matches_the_magnetisation_formula():
    c = np.linspace(-3, 3, 13)
    for gamma, y in [(0.5, 3.0), (2.0, 21.0), (0.1, 1.5)]:
        expected = np.tanh(gamma) * np.tanh((y - 1) * np.arctanh(np.tanh(c) * np.tanh(gamma)))
        assert np.allclose(np.tanh(focusing_field(c, gamma, y)), expected, atol=1e-12)
    assert np.allclose(focusing_field(c, np.inf, 5.0), 4 * c)
    assert np.all(focusing_field(c, 2.0, 1.0) == 0) and np.all(focusing_field(c, 0.0, 9.0) == 0)
    # saturated inputs stay finite and bounded by gamma
    big = focusing_field(np.array([-1e6, 1e6]), 3.0, 50.0)
    assert np.allclose(big, [-3.0, 3.0])


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("alpha", [0.3, 0.5])
def test_fbp_solves_random_instances_n201(protocol, alpha):
    N = 201
    for seed in range(2):
        xi, labels = random_patterns(N, round(alpha * N), seed=seed)
        res = focusing_bp(xi, labels, protocol=protocol, seed=seed)
        assert isinstance(res, LearnerResult)
        assert res.solved and res.errors == 0
        assert num_errors(res.weights, xi, labels) == 0
        assert set(np.unique(res.weights)) <= {-1.0, 1.0} and res.weights.shape == (N,)
        assert res.iterations >= 1 and res.seconds > 0 and res.protocol == protocol


def test_fbp_is_seeded_and_round_trips():
    xi, labels = random_patterns(101, 45, seed=3)
    a = focusing_bp(xi, labels, seed=5)
    b = focusing_bp(xi, labels, seed=5)
    assert np.array_equal(a.weights, b.weights) and a.iterations == b.iterations
    back = LearnerResult.from_arrays(*a.to_arrays())
    assert np.array_equal(back.weights, a.weights) and back.solved == a.solved
    assert back.algorithm == "focusing_bp"


def test_fbp_solves_teacher_and_gaussian_instances():
    xi, labels, _ = teacher_patterns(201, 120, seed=0)
    assert focusing_bp(xi, labels, seed=0).solved
    xg, lg = random_patterns(201, 80, seed=0, kind="gaussian")
    res = focusing_bp(xg, lg, seed=0)
    assert res.solved and num_errors(res.weights, xg, lg) == 0


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_fbp_never_claims_a_solution_above_capacity(protocol):
    N = 101
    xi, labels = random_patterns(N, round(0.9 * N), seed=0)
    res = focusing_bp(xi, labels, protocol=protocol, seed=0, max_iters=10)
    assert not res.solved and res.errors > 0
    assert res.errors == num_errors(res.weights, xi, labels)


def test_fbp_margin_is_respected():
    xi, labels = random_patterns(201, 40, seed=2)
    res = focusing_bp(xi, labels, seed=0, kappa=0.3)
    assert res.solved
    assert num_errors(res.weights, xi, labels, kappa=0.3) == 0


def test_fbp_config_errors():
    xi, labels = random_patterns(21, 5, seed=0)
    with pytest.raises(ConfigError, match="odd"):
        focusing_bp(xi, labels, K=2)
    with pytest.raises(ConfigError):
        focusing_bp(xi, labels, protocol="nope")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        focusing_bp(xi, labels, damping=1.0)
    with pytest.raises(ConfigError):
        focusing_bp(xi, labels[:-1])


@pytest.mark.slow
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_fbp_success_rate_n401_alpha05(protocol):
    N = 401
    solved = [
        focusing_bp(*random_patterns(N, round(0.5 * N), seed=s), protocol=protocol, seed=s).solved
        for s in range(10)
    ]
    assert sum(solved) >= 9


@pytest.mark.slow
def test_fbp_zero_solved_at_alpha09_n201():
    N = 201
    for s in range(3):
        xi, labels = random_patterns(N, round(0.9 * N), seed=100 + s)
        res = focusing_bp(xi, labels, protocol="reinforcement", seed=s)
        assert not res.solved and res.errors == num_errors(res.weights, xi, labels) > 0
