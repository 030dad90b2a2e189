"""Worst-case sharpness: closed forms on a quadratic, PGA between one step and the exact max."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.optimize import brentq
from torch import nn

from landscape.errors import ConfigError, NonDeterministicError
from landscape.flatness import SharpnessResult, sharpness
from landscape.store import Study, load_result, save_result
from tests.flatness._util import cls_data, mean_out, mlp, quad_data, quadratic

CE = nn.CrossEntropyLoss()


def _exact_max(A: torch.Tensor, g: torch.Tensor, rho: float) -> float:
    """max_{‖ε‖≤ρ} gᵀε + ½εᵀAε by the secular equation of the trust-region subproblem."""
    lam, Q = np.linalg.eigh(A.numpy())
    c = Q.T @ g.numpy()

    def norm_minus_rho(mu: float) -> float:          # ε(μ) = (μI − A)⁻¹ g, μ > λ_max
        return float(np.linalg.norm(c / (mu - lam))) - rho

    lo = lam[-1] + 1e-12
    hi = lam[-1] + np.linalg.norm(c) / rho + 1.0
    mu = brentq(norm_minus_rho, lo, hi, xtol=1e-15, rtol=1e-15)
    e = c / (mu - lam)
    return float(c @ e + 0.5 * e @ (lam * e))


def test_one_l2_step_on_a_quadratic_is_the_closed_form() -> None:
    model = quadratic(seed=3)
    A, g = model.A, model.grad()
    rho = 0.3
    r = sharpness(model, mean_out, quad_data(), rho)
    gh = g / g.norm()
    expected = rho * float(g.norm()) + 0.5 * rho**2 * float(gh @ A @ gh)
    assert r.delta_loss == pytest.approx(expected, rel=1e-12)
    torch.testing.assert_close(r.direction, rho * gh, rtol=1e-12, atol=1e-14)
    assert r.direction_dict()["w"].shape == (6,)
    assert math.isnan(r.delta_error)


def test_adaptive_one_step_closed_form() -> None:
    model = quadratic(seed=4)
    A, g, w = model.A, model.grad(), model.w.detach()
    rho, eta = 0.2, 0.01
    r = sharpness(model, mean_out, quad_data(), rho, norm="adaptive", eta=eta)
    T = w.abs() + eta
    eps = rho * T**2 * g / (T * g).norm()
    expected = float(g @ eps + 0.5 * eps @ A @ eps)
    assert r.delta_loss == pytest.approx(expected, rel=1e-12)
    assert float((r.direction / T).norm()) == pytest.approx(rho, rel=1e-12)


def test_multi_step_between_one_step_and_exact_maximum() -> None:
    model = quadratic(seed=5)
    A, g = model.A, model.grad()
    rho = 1.5  # large enough that the curvature, not the gradient, decides the direction
    one = sharpness(model, mean_out, quad_data(), rho)
    many = sharpness(model, mean_out, quad_data(), rho, steps=60)
    exact = _exact_max(A, g, rho)
    assert one.delta_loss < many.delta_loss - 1e-3
    assert many.delta_loss <= exact + 1e-10
    assert many.delta_loss == pytest.approx(exact, rel=1e-4)
    assert float(many.direction.norm()) <= rho * (1 + 1e-12)
    assert len(many.history) <= 60


def test_mlp_sharpness_properties_and_model_untouched(study_path: Path) -> None:
    model, data = mlp(), cls_data(30)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    one = sharpness(model, CE, data, 0.1)
    many = sharpness(model, CE, data, 0.1, steps=8)
    ada = sharpness(model, CE, data, 0.1, norm="adaptive", steps=4)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])
    assert many.delta_loss >= one.delta_loss > 0
    assert float(one.direction.norm()) == pytest.approx(0.1, rel=1e-12)
    assert ada.delta_loss > 0 and not math.isnan(ada.delta_error)
    # Δloss is the loss at w + ε: check by a plain forward pass
    m = mlp()
    with torch.no_grad():
        for n, p in m.named_parameters():
            p.add_(many.direction_dict()[n])
        assert float(CE(m(data[0]), data[1])) == pytest.approx(many.loss, rel=1e-12)
    assert sharpness(model, CE, data, 0.0).delta_loss == 0.0
    with Study(study_path, "a") as study:
        save_result(study.create_run("r0"), "sharp", many)
    with Study(study_path) as study:
        back = load_result(study.run("r0")["sharp"])
    assert isinstance(back, SharpnessResult)
    assert torch.equal(back.direction, many.direction) and back.param_names == many.param_names
    assert back.delta_loss == many.delta_loss


def test_sharpness_bad_input() -> None:
    model, data = mlp(), cls_data(20)
    with pytest.raises(ConfigError, match="rho"):
        sharpness(model, CE, data, -0.1)
    with pytest.raises(ConfigError, match="norm"):
        sharpness(model, CE, data, 0.1, norm="linf")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="steps"):
        sharpness(model, CE, data, 0.1, steps=0)
    with pytest.raises(NonDeterministicError):
        sharpness(mlp(batchnorm=True).train(), CE, data, 0.1)
