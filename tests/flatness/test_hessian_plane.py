"""The Hessian plane: top Hessian eigenvectors as surface directions, against a dense float64
Hessian, and the surface's curvature along them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from landscape.errors import ConfigError
from landscape.flatness import surface_2d
from landscape.flatness.directions import hessian_plane
from tests.hessian.conftest import dense_hessian, make_data, make_mlp

CE = nn.CrossEntropyLoss()


@pytest.fixture(scope="module")
def small() -> dict:
    model = make_mlp((3, 6, 3), seed=4)  # P = 45
    x, y = make_data(n=60, d=3, c=3, seed=5)
    H = dense_hessian(model, CE, x, y)
    evals, evecs = torch.linalg.eigh(H)
    return {"model": model, "x": x, "y": y, "evals": evals.flip(0), "evecs": evecs.flip(1)}


def _flat(d: dict[str, torch.Tensor], model: nn.Module) -> torch.Tensor:
    return torch.cat([d[n].reshape(-1) for n, _ in model.named_parameters()])


@pytest.mark.parametrize("which", ["largest", "smallest"])
def test_directions_are_the_dense_hessians_eigenvectors(small: dict, which: str) -> None:
    model = small["model"]
    plane = hessian_plane(model, CE, (small["x"], small["y"]), which=which)
    cols = [0, 1] if which == "largest" else [-1, -2]
    evals = small["evals"][cols]
    gaps = (small["evals"][:-1] - small["evals"][1:]).abs()
    assert gaps[[0, 1, -1, -2]].min() > 1e-3 * small["evals"].abs().max()  # well separated
    assert plane.kind == "hessian" and plane.norm == "none" and plane.ndim == 2
    np.testing.assert_allclose(plane.eigenvalues, evals.numpy(), rtol=1e-8)
    for part, c in zip((plane.x, plane.y), cols):
        v = _flat(part, model)
        assert v.norm().item() == pytest.approx(1.0, abs=1e-10)
        assert abs(float(v @ small["evecs"][:, c])) == pytest.approx(1.0, abs=1e-8)
        assert v[v.abs().argmax()] > 0  # the sign convention


def test_surface_curvature_at_the_centre_is_the_eigenvalues(small: dict) -> None:
    model, data = small["model"], (small["x"], small["y"])
    plane = hessian_plane(model, CE, data)
    h = 1e-3
    s = surface_2d(model, CE, data, xs=[-h, 0.0, h], ys=[-h, 0.0, h], directions=plane)
    L = s.loss
    d2x = (L[2, 1] - 2 * L[1, 1] + L[0, 1]) / h ** 2
    d2y = (L[1, 2] - 2 * L[1, 1] + L[1, 0]) / h ** 2
    dxy = (L[2, 2] - L[2, 0] - L[0, 2] + L[0, 0]) / (4 * h ** 2)
    lam = small["evals"]
    assert d2x == pytest.approx(float(lam[0]), rel=1e-4)
    assert d2y == pytest.approx(float(lam[1]), rel=1e-4)
    assert abs(dxy) < 1e-4 * float(lam[0])  # eigenvectors: no cross curvature


def test_a_surface_on_the_hessian_plane_records_it(small: dict) -> None:
    model, data = small["model"], (small["x"], small["y"])
    plane = hessian_plane(model, CE, data, seed=2)
    r = surface_2d(model, CE, data, xs=[-0.1, 0.0, 0.1], ys=[0.0, 0.1], directions=plane)
    assert r.kind == "hessian" and r.seed == 2 and r.explained_variance_ratio is None


def test_bad_input(small: dict) -> None:
    with pytest.raises(ConfigError, match="which"):
        hessian_plane(small["model"], CE, (small["x"], small["y"]),
                      which="top")  # type: ignore[arg-type]
    one = nn.Linear(1, 1, bias=False).double().eval()
    with pytest.raises(ConfigError, match="at least 2"):
        hessian_plane(one, nn.MSELoss(), (torch.ones(4, 1, dtype=torch.float64),
                                          torch.zeros(4, 1, dtype=torch.float64)))


def test_docstring_examples_run() -> None:
    import doctest

    import landscape.flatness.directions as mod

    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
