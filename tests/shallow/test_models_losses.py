from __future__ import annotations

import numpy as np
import pytest
import torch

from landscape.errors import ConfigError
from landscape.shallow.data import num_patterns, random_patterns, teacher_patterns
from landscape.shallow.losses import (
    cross_entropy_gamma,
    cross_entropy_gamma_grad,
    cross_entropy_gamma_hess,
    error_loss,
)
from landscape.shallow.models import (
    hidden_fields,
    num_errors,
    predict,
    spherical,
    stabilities,
    training_error,
)


def test_random_patterns_shapes_values_and_seeding():
    xi, labels = random_patterns(21, 40, seed=3)
    assert xi.shape == (40, 21) and labels.shape == (40,)
    assert set(np.unique(xi)) == {-1.0, 1.0} and set(np.unique(labels)) == {-1.0, 1.0}
    xi2, labels2 = random_patterns(21, 40, seed=3)
    assert np.array_equal(xi, xi2) and np.array_equal(labels, labels2)
    xi3, _ = random_patterns(21, 40, seed=4)
    assert not np.array_equal(xi, xi3)
    g, _ = random_patterns(200, 300, seed=0, kind="gaussian")
    assert abs(g.mean()) < 0.02 and abs(g.std() - 1) < 0.02
    big, lab = random_patterns(101, 4000, seed=1)
    assert abs(big.mean()) < 0.01 and abs(lab.mean()) < 0.05
    assert num_patterns(0.3, 321, K=5) == 482 and num_patterns(0.5, 201) == 100
    with pytest.raises(ConfigError):
        random_patterns(21, 4, seed=0, kind="ternary")  # type: ignore[arg-type]


@pytest.mark.parametrize("K", [1, 3])
def test_teacher_labels_are_realised_by_the_teacher(K):
    xi, labels, teacher = teacher_patterns(21, 50, seed=0, K=K)
    machine = "perceptron" if K == 1 else "committee"
    assert num_errors(teacher, xi, labels, machine=machine) == 0
    assert np.array_equal(predict(teacher, xi, machine=machine), labels)
    # a different random teacher does not realise them
    other = -teacher
    assert num_errors(other, xi, labels, machine=machine) == 50
    with pytest.raises(ConfigError):
        teacher_patterns(20, 5, seed=0)
    with pytest.raises(ConfigError):
        teacher_patterns(21, 5, seed=0, K=2)


def test_models_fields_outputs_batched():
    rng = np.random.default_rng(0)
    xi, labels = random_patterns(15, 8, seed=1)
    w = rng.choice([-1.0, 1.0], size=(4, 15))
    h = hidden_fields(w, xi)
    assert h.shape == (4, 8)
    assert np.allclose(h[2], xi @ w[2] / np.sqrt(15))
    assert np.allclose(stabilities(w, xi, labels), labels * h)
    errs = num_errors(w, xi, labels)
    assert errs.shape == (4,) and all(errs[b] == int(np.sum(labels * h[b] <= 0)) for b in range(4))
    assert np.allclose(training_error(w, xi, labels), errs / 8)
    # committee: majority of hidden signs; tree: blocks; parity: product
    W = rng.choice([-1.0, 1.0], size=(3, 15))
    hc = hidden_fields(W, xi, machine="committee")
    assert hc.shape == (8, 3) and np.allclose(hc[:, 1], xi @ W[1] / np.sqrt(15))
    out = predict(W, xi, machine="committee")
    assert np.array_equal(out, np.sign(np.sign(hc).sum(1)))
    Wt = rng.choice([-1.0, 1.0], size=(3, 5))
    ht = hidden_fields(Wt, xi, machine="tree")
    assert np.allclose(ht[:, 2], xi[:, 10:15] @ Wt[2] / np.sqrt(5))
    assert np.array_equal(predict(Wt, xi, machine="parity"), np.prod(np.sign(ht), axis=1))
    assert np.array_equal(predict(Wt, xi, machine="tree"), np.sign(np.sign(ht).sum(1)))
    with pytest.raises(ConfigError):
        hidden_fields(np.ones(14), xi)
    with pytest.raises(ConfigError):
        num_errors(W, xi, labels, machine="committee", kappa=0.1)
    s = spherical(rng.standard_normal((2, 15)))
    assert np.allclose((s**2).sum(1), 15)


def test_error_loss_margin():
    x = np.array([-1.0, 0.0, 0.1, 0.5])
    assert np.array_equal(error_loss(x), [1, 1, 0, 0])
    assert np.array_equal(error_loss(x, kappa=0.2), [1, 1, 1, 0])
    expected = torch.tensor([1.0, 1, 1, 0], dtype=torch.float64)
    assert torch.equal(error_loss(torch.tensor(x), kappa=0.2), expected)


@pytest.mark.parametrize("gamma", [0.1, 1.0, 10.0])
def test_cross_entropy_identities(gamma):
    rng = np.random.default_rng(1)
    x = rng.normal(scale=3.0, size=500)
    f = cross_entropy_gamma(x, gamma)
    direct = -x / 2 + np.log(2 * np.cosh(gamma * x)) / (2 * gamma)
    assert np.allclose(f, direct, rtol=1e-12, atol=1e-12)
    softplus = np.log1p(np.exp(-2 * gamma * x)) / (2 * gamma)  # |2 gamma x| < 700 here
    assert np.allclose(f, softplus, rtol=1e-12, atol=0)
    # symmetry f(x) - f(-x) = -x and value at zero
    assert np.allclose(f - cross_entropy_gamma(-x, gamma), -x, atol=1e-12)
    assert cross_entropy_gamma(np.array(0.0), gamma) == pytest.approx(np.log(2) / (2 * gamma))
    # derivatives against autograd
    xt = torch.tensor(x, requires_grad=True)
    (g,) = torch.autograd.grad(cross_entropy_gamma(xt, gamma).sum(), xt, create_graph=True)
    (h,) = torch.autograd.grad(g.sum(), xt)
    assert np.allclose(cross_entropy_gamma_grad(x, gamma), g.detach().numpy(), atol=1e-8)
    assert np.allclose(cross_entropy_gamma_hess(x, gamma), h.numpy(), atol=1e-8)
    assert np.allclose(cross_entropy_gamma_hess(x, gamma), gamma / (2 * np.cosh(gamma * x) ** 2))
    grad = cross_entropy_gamma_grad(x, gamma)
    assert np.all(grad <= 0) and np.all(grad >= -1)
    assert np.all(np.diff(grad[np.argsort(x)]) >= 0)
    assert np.allclose(grad, (np.tanh(gamma * x) - 1) / 2, rtol=1e-10, atol=1e-15)
    # bound between the hinge-type limit and it plus log 2 / (2 gamma)
    hinge = np.maximum(-x, 0)
    assert np.all(f >= hinge - 1e-15) and np.all(f <= hinge + np.log(2) / (2 * gamma) + 1e-15)


def test_cross_entropy_large_gamma_limit_is_stable():
    x = np.concatenate([np.linspace(-5, -0.01, 50), np.linspace(0.01, 5, 50)])
    f = cross_entropy_gamma(x, 1e4)
    assert np.all(np.isfinite(f))
    assert np.max(np.abs(f - np.maximum(-x, 0))) < 1e-3
    # zero set of the limit = zero set of the error loss
    assert np.array_equal(np.maximum(-x, 0) == 0, error_loss(x) == 0)
    # no overflow at huge arguments, exact tails
    big = cross_entropy_gamma(np.array([-1e6, 1e6]), 50.0)
    assert big[0] == pytest.approx(1e6) and big[1] == 0.0
    assert np.all(np.isfinite(cross_entropy_gamma_hess(np.array([-1e6, 1e6]), 50.0)))
    with pytest.raises(ConfigError):
        cross_entropy_gamma(x, 0.0)
