"""The BP kernels against a slow, unfused reference of the factor updates (the oracle).

The reference below is the textbook formulation, one message at a time with explicit cavity
sums and ``scipy.special.log_ndtr`` (perceptron) or the ``logaddexp`` mixture (committee
machine); both backends of the package must give the same messages to 1e-10.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import log_ndtr

from landscape.errors import ConfigError
from landscape.shallow import focusing_bp, local_entropy, perceptron_bp, random_patterns
from landscape.shallow._bp_committee import CommitteeGraph, _output_fields
from landscape.shallow._bp_core import PerceptronGraph

CAP, FLOOR = 50.0, 1e-12


def reference_perceptron_messages(xi, g, external, kappa):
    """New factor → weight fields, one (mu, i) at a time, no damping (xi label-absorbed)."""
    P, N = xi.shape
    H = external + g.sum(axis=0)
    h = np.tanh(H[None, :] - g)
    new = np.empty_like(g)
    for mu in range(P):
        for i in range(N):
            others = np.arange(N) != i
            m = np.sum(xi[mu, others] * h[mu, others])
            s = np.sqrt(max(np.sum(xi[mu, others] ** 2 * (1 - h[mu, others] ** 2)), FLOOR))
            thr = kappa * np.sqrt(N)
            new[mu, i] = 0.5 * (log_ndtr((m + xi[mu, i] - thr) / s)
                                - log_ndtr((m - xi[mu, i] - thr) / s))
    return np.clip(new, -CAP, CAP)


def reference_committee_messages(xi, g, external):
    """New first layer → weight fields ``[P, K, N]`` of the committee machine, one at a time."""
    P, K, N = g.shape
    H = external + g.sum(axis=0)
    h = np.tanh(H[None] - g)
    mu_full = np.einsum("pn,pkn->pk", xi, h)
    s_full = np.sqrt(np.maximum(np.einsum("pn,pkn->pk", xi**2, 1 - h**2), FLOOR))
    D = _output_fields(0.5 * (log_ndtr(mu_full / s_full) - log_ndtr(-mu_full / s_full)))
    new = np.empty_like(g)
    for p in range(P):
        for k in range(K):
            t_plus = np.log(2.0) - np.logaddexp(0.0, -2.0 * D[p, k])  # log(1 + tanh D)
            t_minus = np.log(2.0) - np.logaddexp(0.0, 2.0 * D[p, k])
            for i in range(N):
                others = np.arange(N) != i
                m = np.sum(xi[p, others] * h[p, k, others])
                s = np.sqrt(max(np.sum(xi[p, others] ** 2 * (1 - h[p, k, others] ** 2)), FLOOR))
                sp, sm = (m + xi[p, i]) / s, (m - xi[p, i]) / s
                num = np.logaddexp(t_plus + log_ndtr(sp), t_minus + log_ndtr(-sp))
                den = np.logaddexp(t_plus + log_ndtr(sm), t_minus + log_ndtr(-sm))
                new[p, k, i] = 0.5 * (num - den)
    return np.clip(new, -CAP, CAP)


def _instance(N, P, seed, gaussian=False):
    xi, labels = random_patterns(N, P, seed=seed, kind="gaussian" if gaussian else "binary")
    rng = np.random.default_rng(seed)
    return xi, labels, rng


CASES = [  # (N, P, gaussian, kappa, field scale, message scale)
    (21, 12, False, 0.0, 0.0, 0.3),
    (21, 12, False, 0.0, 1.5, 2.0),  # strongly polarised cavities, small variances
    (15, 9, True, 0.0, 0.5, 0.5),
    (17, 8, False, 0.4, 0.3, 1.0),
    (9, 6, False, 0.0, 6.0, 8.0),  # near-saturated messages: the deep-tail fallback is used
]


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize(("N", "P", "gaussian", "kappa", "b_scale", "g_scale"), CASES)
def test_perceptron_kernel_matches_reference(backend, N, P, gaussian, kappa, b_scale, g_scale):
    xi, labels, rng = _instance(N, P, 3, gaussian)
    g0 = rng.normal(0.0, g_scale, (P, N))
    b = rng.normal(0.0, b_scale, N)
    graph = PerceptronGraph.create(xi, labels, kappa=kappa, init=g0, backend=backend)
    g = g0
    for _ in range(4):  # several undamped sweeps, each compared with the reference
        expected = reference_perceptron_messages(graph.xi, g, b, kappa)
        graph.sweep(b, 0.0)
        g = graph.messages()
        np.testing.assert_allclose(g, expected, rtol=0, atol=1e-10)


def test_perceptron_tail_fallback_is_exercised_and_exact():
    # a pattern violated by far more than 25 sqrt(2) cavity standard deviations
    xi = np.ones((2, 6))
    labels = np.array([1.0, -1.0])
    b = np.full(6, 6.0)  # cavities ~ +1 on every weight: pattern 2 (label -1) is violated
    g0 = np.zeros((2, 6))
    graph = PerceptronGraph.create(xi, labels, init=g0, backend="torch")
    graph.sweep(b, 0.0)
    expected = reference_perceptron_messages(graph.xi, g0, b, 0.0)
    assert np.min(expected) < -30  # the deep tail
    np.testing.assert_allclose(graph.messages(), expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize(("gaussian", "g_scale"), [(False, 0.3), (False, 3.0), (True, 0.5)])
def test_committee_kernel_matches_reference(backend, gaussian, g_scale):
    N, K, P = 9, 3, 7
    xi, labels, rng = _instance(N, P, 5, gaussian)
    g0 = rng.normal(0.0, g_scale, (P, K, N))
    b = rng.normal(0.0, 0.3, (K, N))
    graph = CommitteeGraph.create(xi, labels, K, g0, backend=backend)
    g = g0
    for _ in range(3):
        expected = reference_committee_messages(graph.xi, g, b)
        graph.sweep(b, 0.0)
        g = graph.messages()
        np.testing.assert_allclose(g, expected, rtol=0, atol=1e-10)


def test_damping_and_change_agree_between_backends():
    xi, labels, rng = _instance(31, 20, 0)
    g0 = rng.normal(0.0, 0.4, (20, 31))
    graphs = [PerceptronGraph.create(xi, labels, init=g0, backend=be) for be in ("numpy", "torch")]
    for _ in range(20):
        changes = [gr.sweep(np.zeros(31), 0.5) for gr in graphs]
        assert changes[0] == pytest.approx(changes[1], abs=1e-12)
    np.testing.assert_allclose(graphs[1].messages(), graphs[0].messages(), rtol=0, atol=1e-10)


def test_fixed_points_and_free_entropies_agree_between_backends():
    xi, labels = random_patterns(21, 6, seed=0)
    w = focusing_bp(xi, labels, seed=0, backend="numpy").weights
    res = {be: local_entropy(w, xi, labels, couplings=np.array([2.0, 1.0, 0.6]), backend=be,
                             tol=1e-12, max_iters=5000) for be in ("numpy", "torch")}
    for name in ("free_entropy", "overlaps", "entropy"):
        np.testing.assert_allclose(getattr(res["torch"], name), getattr(res["numpy"], name),
                                   rtol=0, atol=1e-10)
    bp = {be: perceptron_bp(xi, labels, backend=be, tol=1e-12) for be in ("numpy", "torch")}
    np.testing.assert_allclose(bp["torch"].fields, bp["numpy"].fields, rtol=0, atol=1e-10)
    assert bp["torch"].free_entropy == pytest.approx(bp["numpy"].free_entropy, abs=1e-10)


def test_committee_local_entropy_agrees_between_backends():
    xi, labels = random_patterns(9, 4, seed=1)
    w = focusing_bp(xi, labels, K=3, seed=0, backend="numpy").weights
    res = {be: local_entropy(w, xi, labels, K=3, couplings=np.array([2.0, 1.0]), backend=be,
                             tol=1e-12, max_iters=5000) for be in ("numpy", "torch")}
    np.testing.assert_allclose(res["torch"].free_entropy, res["numpy"].free_entropy,
                               rtol=0, atol=1e-10)


def test_backend_errors():
    xi, labels = random_patterns(11, 5, seed=0)
    with pytest.raises(ConfigError, match="backend"):
        perceptron_bp(xi, labels, backend="jax")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="CPU only"):
        focusing_bp(xi, labels, backend="numpy", device="cuda")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA"):
            focusing_bp(xi, labels, device="cuda")
    with pytest.raises(ConfigError, match="device"):
        focusing_bp(xi, labels, device="no-such-device")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_kernels_match_numpy():
    xi, labels, rng = _instance(201, 120, 0)
    g0 = rng.normal(0.0, 0.5, (120, 201))
    b = rng.normal(0.0, 0.5, 201)
    graphs = [PerceptronGraph.create(xi, labels, init=g0, backend="numpy"),
              PerceptronGraph.create(xi, labels, init=g0, backend="torch", device="cuda")]
    for _ in range(5):
        for gr in graphs:
            gr.sweep(b, 0.5)
    np.testing.assert_allclose(graphs[1].messages(), graphs[0].messages(), rtol=0, atol=1e-10)
    g3 = rng.normal(0.0, 0.5, (60, 3, 201))
    comm = [CommitteeGraph.create(xi[:60], labels[:60], 3, g3, backend="numpy"),
            CommitteeGraph.create(xi[:60], labels[:60], 3, g3, backend="torch", device="cuda")]
    for _ in range(5):
        for gr in comm:
            gr.sweep(np.zeros((3, 201)), 0.5)
    np.testing.assert_allclose(comm[1].messages(), comm[0].messages(), rtol=0, atol=1e-10)
    res = focusing_bp(*random_patterns(401, 200, seed=0), seed=0, device="cuda")
    assert res.solved
