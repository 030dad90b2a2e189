r"""Cover's counting for the spherical perceptron (research/baldassi.md §1.3 and §7 A.2).

``P`` points in general position in :math:`\mathbb R^N` with random ±1 labels are linearly
separable through the origin with probability :math:`C(P, N)/2^P`,
:math:`C(P, N) = 2\sum_{k=0}^{N-1}\binom{P-1}{k}`; exactly 1/2 at :math:`P = 2N`. Separability is
decided by a linear programme (``scipy.optimize.linprog``): the largest margin :math:`t` with
:math:`\sigma^\mu w\cdot\xi^\mu \ge t` in the box :math:`|w_i| \le 1` is positive iff the
instance is strictly separable. Gaussian patterns are in general position almost
surely (±1 patterns are not, so the formula is exact only for the former).
"""

from __future__ import annotations

from math import comb

import numpy as np
import pytest
from scipy.optimize import linprog

from landscape.shallow import num_errors, random_patterns


def cover_probability(P: int, N: int) -> float:
    """Cover's probability that ``P`` random points in general position in ``R^N`` are separable."""
    return 2 * sum(comb(P - 1, k) for k in range(min(N, P))) / 2**P


def separable(xi: np.ndarray, labels: np.ndarray) -> tuple[bool, np.ndarray]:
    """Largest margin ``t <= 1`` with ``labels * (xi @ w) >= t`` over the box ``|w_i| <= 1``.

    The LP is always feasible (``w = 0``) and bounded, so the solver never has to certify
    infeasibility; the instance is separable iff the optimal ``t > 0``.
    """
    P, N = xi.shape
    c = np.zeros(N + 1)
    c[-1] = -1.0  # maximise t
    A = np.hstack([-(labels[:, None] * xi), np.ones((P, 1))])
    res = linprog(c, A_ub=A, b_ub=np.zeros(P), bounds=[(-1.0, 1.0)] * N + [(None, 1.0)],
                  method="highs")
    assert res.status == 0, res.message
    return bool(res.x[-1] > 1e-7), res.x[:N]


def separable_fraction(N: int, P: int, instances: int, seed0: int) -> float:
    hits = 0
    for s in range(instances):
        xi, labels = random_patterns(N, P, seed=seed0 + s, kind="gaussian")
        ok, w = separable(xi, labels)
        # the LP's answer is checked: its w separates a separable instance
        assert not ok or num_errors(w, xi, labels) == 0
        hits += ok
    return hits / instances


def test_cover_formula_identities():
    for N in (1, 5, 20, 50):
        assert cover_probability(2 * N, N) == pytest.approx(0.5, abs=1e-15)
        assert cover_probability(N, N) == 1.0  # P <= N: always separable
    assert cover_probability(3, 2) == pytest.approx(0.75)  # 3 points in the plane: 6 of 8
    assert cover_probability(4, 1) == pytest.approx(2 / 16)  # N = 1: the two constant signs
    p = [cover_probability(P, 25) for P in range(25, 80)]
    assert np.all(np.diff(p) < 0)  # strictly decreasing in P beyond N


def test_lp_separability_on_constructed_cases():
    xi = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    assert separable(xi, np.array([1.0, 1.0, 1.0]))[0]
    assert not separable(xi, np.array([1.0, 1.0, -1.0]))[0]  # xi3 = xi1 + xi2 forces +1
    teacher = np.ones(7)
    x = random_patterns(7, 40, seed=0, kind="gaussian")[0]
    assert separable(x, np.sign(x @ teacher))[0]  # teacher labels are always separable


@pytest.mark.parametrize(("ratio", "low", "high"), [(1.5, 0.95, 1.0), (2.0, 0.4, 0.6),
                                                     (2.5, 0.0, 0.05)])
def test_cover_transition_n40(ratio, low, high):
    N, instances = 40, 150
    P = round(ratio * N)
    frac = separable_fraction(N, P, instances, seed0=1000 * int(10 * ratio))
    expected = cover_probability(P, N)
    assert low <= frac <= high
    se = np.sqrt(max(expected * (1 - expected), 0.01 * 0.99) / instances)
    assert abs(frac - expected) <= 3.5 * se  # within Monte-Carlo error of Cover's formula


@pytest.mark.slow
@pytest.mark.parametrize(("ratio", "low", "high"), [(1.5, 0.95, 1.0), (2.0, 0.4, 0.6),
                                                     (2.5, 0.0, 0.05)])
def test_cover_transition_n50_200_instances(ratio, low, high):
    # research/baldassi.md §7 A.2 as stated: N = 50, 200 instances
    N, instances = 50, 200
    P = round(ratio * N)
    frac = separable_fraction(N, P, instances, seed0=50_000 + 1000 * int(10 * ratio))
    expected = cover_probability(P, N)
    assert low <= frac <= high
    se = np.sqrt(max(expected * (1 - expected), 0.01 * 0.99) / instances)
    assert abs(frac - expected) <= 3.5 * se
