r"""The γ-cross-entropy Hessian of the perceptron: closed form vs the Hessian engine.

For :math:`L(w) = \frac1P\sum_\mu f_\gamma(x^\mu)` with
:math:`x^\mu = \sigma^\mu w\cdot\xi^\mu/\sqrt N`, the Hessian is (labels square to 1,
research/baldassi.md §3.3, normalised here by the mean over patterns that
:class:`~landscape.hessian.HessianOperator` uses)

.. math::  \nabla^2 L = \frac{1}{P N}\sum_\mu f_\gamma''(x^\mu)\,\xi^\mu\xi^{\mu\top},
           \qquad f_\gamma''(x) = \frac{\gamma}{2\cosh^2\gamma x} > 0,

so it is positive semi-definite (the loss is convex in :math:`w`).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from landscape.hessian import HessianOperator
from landscape.shallow import (
    cross_entropy_gamma,
    cross_entropy_gamma_hess,
    gamma_ce_sgd,
    random_patterns,
    stabilities,
)


def closed_form(w: np.ndarray, xi: np.ndarray, labels: np.ndarray, gamma: float) -> np.ndarray:
    P, N = xi.shape
    fpp = cross_entropy_gamma_hess(stabilities(w, xi, labels), gamma)
    return (xi.T * fpp) @ xi / (P * N)


def engine_dense(w: np.ndarray, xi: np.ndarray, labels: np.ndarray, gamma: float) -> np.ndarray:
    N = xi.shape[1]
    model = nn.Linear(N, 1, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(torch.from_numpy(w)[None])

    def loss_fn(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return cross_entropy_gamma(y * out[:, 0] / np.sqrt(N), gamma).mean()

    data = (torch.from_numpy(xi), torch.from_numpy(labels))
    H = HessianOperator(model, loss_fn, data)
    return (H @ torch.eye(N, dtype=torch.float64)).numpy()


@pytest.mark.parametrize("gamma", [0.5, 2.0, 10.0])
@pytest.mark.parametrize("where", ["random", "trained"])
def test_perceptron_gamma_ce_hessian_closed_form_matches_the_engine(gamma, where):
    N, P = 20, 30
    xi, labels = random_patterns(N, P, seed=3, kind="gaussian")
    if where == "random":
        w = np.random.default_rng(0).standard_normal(N)
        w *= np.sqrt(N) / np.linalg.norm(w)
    else:  # a CE minimiser on the sphere: many large stabilities, f'' spread over decades
        w = gamma_ce_sgd(xi, labels, binary=False, epochs=100, seed=0).weights
    exact = closed_form(w, xi, labels, gamma)
    dense = engine_dense(w, xi, labels, gamma)
    scale = np.abs(exact).max()
    assert scale > 1e-4
    assert np.abs(dense - exact).max() <= 1e-8 * max(scale, 1.0)
    assert np.allclose(dense, dense.T, atol=1e-12)
    eig = np.linalg.eigvalsh(exact)
    assert eig.min() >= -1e-12 * scale  # convex: positive semi-definite
    # trace identity: tr H = (1/(P N)) sum_mu f''(x_mu) |xi_mu|^2
    fpp = cross_entropy_gamma_hess(stabilities(w, xi, labels), gamma)
    assert np.trace(dense) == pytest.approx(fpp @ (xi**2).sum(axis=1) / (P * N), rel=1e-10)


def test_hessian_rank_and_large_margin_flattening():
    # P < N: the Hessian has rank P (N - P zero eigenvalues); at large gamma, patterns with large
    # stability contribute ~0 (f'' ~ 2 gamma e^{-2 gamma x}), so the spectrum collapses
    N, P = 20, 8
    xi, labels = random_patterns(N, P, seed=1, kind="gaussian")
    w = np.linalg.lstsq(xi, labels * 3.0 * np.sqrt(N), rcond=None)[0]  # every stability = 3
    assert np.allclose(stabilities(w, xi, labels), 3.0)
    H1 = engine_dense(w, xi, labels, 1.0)
    eig = np.linalg.eigvalsh(H1)
    assert np.sum(eig > 1e-10 * eig.max()) == P
    H10 = engine_dense(w, xi, labels, 10.0)
    expected_ratio = cross_entropy_gamma_hess(np.array(3.0), 10.0) / cross_entropy_gamma_hess(
        np.array(3.0), 1.0)
    assert np.linalg.eigvalsh(H10).max() / eig.max() == pytest.approx(expected_ratio, rel=1e-8)
