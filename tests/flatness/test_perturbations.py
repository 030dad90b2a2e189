"""Noise models: the directions are what their formulas say, biases/BN handled as documented."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from landscape.errors import ConfigError
from landscape.flatness import default_biasbn, random_directions
from landscape.flatness.perturbations import (
    directions_from_normal,
    perturbed_parameters,
    standard_normal,
)
from tests.flatness._util import mlp


def _z(model: nn.Module, noise: str, k: int = 3, seed: int = 0) -> dict[str, torch.Tensor]:
    w = perturbed_parameters(model, noise)  # type: ignore[arg-type]
    return standard_normal(w, seed, range(k))


def test_multiplicative_and_additive_formulas() -> None:
    model = mlp()
    w = perturbed_parameters(model, "multiplicative")
    z = standard_normal(w, 0, range(3))
    mult = directions_from_normal(w, z, "multiplicative")
    add = directions_from_normal(w, z, "additive")
    for n in w:
        torch.testing.assert_close(mult[n], z[n] * w[n], rtol=0, atol=0)
        torch.testing.assert_close(add[n], z[n], rtol=0, atol=0)
    assert set(mult) == {n for n, _ in model.named_parameters()}  # biases perturbed by default


def test_filter_normalisation_per_row_and_layer_per_tensor() -> None:
    model = mlp()
    d = random_directions(model, 4, "filter", seed=3)
    params = dict(model.named_parameters())
    assert set(d) == {"0.weight", "2.weight"}  # biases ignored by default (Li et al.)
    zs = standard_normal(perturbed_parameters(model, "filter"), 3, range(4))
    for n, t in d.items():
        expect = params[n].detach().norm(dim=1).expand(4, -1)
        torch.testing.assert_close(t.norm(dim=2), expect)
        # the direction of each row is the normal draw's
        z = zs[n]
        cos = (t * z).sum(2) / (t.norm(dim=2) * z.norm(dim=2))
        torch.testing.assert_close(cos, torch.ones_like(cos))
    dl = random_directions(model, 4, "layer", seed=3, biasbn="perturb")
    for n, t in dl.items():
        norms = t.reshape(4, -1).norm(dim=1)
        torch.testing.assert_close(norms, params[n].detach().norm().expand(4))


def test_filter_perturbing_biases_normalises_them_as_one_filter() -> None:
    model = mlp()
    d = random_directions(model, 2, "filter", biasbn="perturb")
    b = dict(model.named_parameters())["0.bias"].detach()
    torch.testing.assert_close(d["0.bias"].norm(dim=1), b.norm().expand(2))


def test_biasbn_defaults_and_ignore() -> None:
    assert default_biasbn("multiplicative") == "perturb"
    assert default_biasbn("additive") == "perturb"
    assert default_biasbn("filter") == "ignore"
    assert default_biasbn("layer") == "ignore"
    model = mlp(batchnorm=True)
    d = random_directions(model, 1, "multiplicative", biasbn="ignore")
    assert all(t.ndim == 3 for t in d.values())
    assert "1.weight" not in d  # BatchNorm weight
    d = random_directions(model, 1, "additive")
    assert "1.weight" in d and "1.bias" in d


def test_draws_are_indexed_and_reproducible() -> None:
    model = mlp()
    a = random_directions(model, 5, "additive", seed=7)
    b = random_directions(model, 2, "additive", seed=7, start=3)
    c = random_directions(model, 5, "additive", seed=8)
    for n in a:
        assert torch.equal(a[n][3:], b[n])
        assert not torch.equal(a[n], c[n])


def test_bad_options_raise() -> None:
    model = mlp()
    with pytest.raises(ConfigError, match="noise"):
        random_directions(model, 1, "gaussian")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="biasbn"):
        random_directions(model, 1, "filter", biasbn="maybe")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="no parameter left"):
        random_directions(nn.BatchNorm1d(3).double(), 1, "filter")
    with pytest.raises(ConfigError, match="selects no"):
        random_directions(model, 1, params="nothing.*")
    with pytest.raises(ConfigError, match="positive"):
        random_directions(model, 0)
    w = perturbed_parameters(model, "additive")
    with pytest.raises(ConfigError, match="shape"):
        directions_from_normal(w, {n: t.unsqueeze(0).unsqueeze(0) for n, t in w.items()})
