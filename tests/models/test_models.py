"""Models: shapes, stable parameter names, seeded initialisation, rebuild from config."""

from __future__ import annotations

import pytest
import torch

from landscape.errors import ConfigError
from landscape.models import MLP, LeNet, build, build_from_config, model_config
from landscape.models.cnn import MaxPool2x2


def test_mlp_names_shapes_and_options() -> None:
    model = MLP((1, 8, 8), 10, depth=2, width=32, batchnorm=True, dropout=0.1)
    names = [n for n, _ in model.named_parameters()]
    assert names == ["hidden.0.linear.weight", "hidden.0.linear.bias", "hidden.0.bn.weight",
                     "hidden.0.bn.bias", "hidden.1.linear.weight", "hidden.1.linear.bias",
                     "hidden.1.bn.weight", "hidden.1.bn.bias", "out.weight", "out.bias"]
    assert model(torch.zeros(3, 1, 8, 8)).shape == (3, 10)
    assert sum(p.numel() for p in MLP(64, 10, depth=0).parameters()) == 650


@pytest.mark.parametrize("side,channels", [(8, 1), (28, 1), (32, 3)])
def test_lenet_works_on_the_datasets_image_sizes(side: int, channels: int) -> None:
    model = LeNet(channels, 10, image_size=side, batchnorm=True)
    assert model(torch.zeros(2, channels, side, side)).shape == (2, 10)
    assert {"conv1.weight", "conv2.weight", "fc1.weight", "fc2.weight", "out.weight",
            "bn1.running_mean"} <= set(model.state_dict())


def test_seeded_build_is_reproducible_and_config_rebuilds() -> None:
    a = build("mlp", (1, 8, 8), 10, seed=3, width=16)
    b = build("mlp", (1, 8, 8), 10, seed=3, width=16)
    c = build("mlp", (1, 8, 8), 10, seed=4, width=16)
    assert torch.equal(a.out.weight, b.out.weight)
    assert not torch.equal(a.out.weight, c.out.weight)
    cfg = model_config(a)
    assert cfg == {"class": "landscape.models.mlp.MLP",
                   "kwargs": {"in_features": 64, "num_classes": 10, "depth": 2, "width": 16,
                              "activation": "relu", "batchnorm": False, "dropout": 0.0,
                              "bias": True}}
    rebuilt = build_from_config(cfg)
    assert [n for n, _ in rebuilt.named_parameters()] == [n for n, _ in a.named_parameters()]
    lenet = build("lenet", (1, 8, 8), 10, seed=0)
    assert isinstance(build_from_config(model_config(lenet)), LeNet)


def test_bad_model_arguments() -> None:
    with pytest.raises(ConfigError, match="unknown model"):
        build("resnet", (3, 32, 32), 10)
    with pytest.raises(ConfigError, match="square image"):
        build("lenet", (64,), 10)
    with pytest.raises(ConfigError, match="unknown activation"):
        MLP(4, 2, activation="swishy")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="dropout"):
        MLP(4, 2, dropout=1.5)
    with pytest.raises(ConfigError, match="not a registered model"):
        build_from_config({"class": "nowhere.Model", "kwargs": {}})


@pytest.mark.parametrize("shape", [(3, 2, 8, 8), (2, 3, 7, 9), (1, 1, 2, 3), (4, 5, 14, 14)])
def test_max_pool_2x2_fast_path_equals_max_pool2d(shape: tuple[int, ...]) -> None:
    """The no-autograd path (strided maxima) gives exactly ``F.max_pool2d``'s values, including
    ties (ReLU zeros), NaN and odd sizes; with autograd the gradient is max_pool2d's."""
    g = torch.Generator().manual_seed(0)
    x = torch.relu(torch.randn(shape, generator=g, dtype=torch.float64))
    x.view(-1)[0] = float("nan")
    ref = torch.nn.functional.max_pool2d(x, 2)
    with torch.no_grad():
        fast = MaxPool2x2()(x)
    assert fast.shape == ref.shape
    assert torch.equal(fast.isnan(), ref.isnan())
    assert torch.equal(fast.nan_to_num(), ref.nan_to_num())
    xr = x.nan_to_num().requires_grad_()
    gout = torch.randn(ref.shape, generator=g, dtype=torch.float64)
    (gr,) = torch.autograd.grad(MaxPool2x2()(xr), xr, gout)
    (gref,) = torch.autograd.grad(torch.nn.functional.max_pool2d(xr, 2), xr, gout)
    assert torch.equal(gr, gref)


def test_lenet_output_is_the_same_with_and_without_autograd() -> None:
    model = build("lenet", (1, 28, 28), 10, seed=0).double()
    x = torch.randn(16, 1, 28, 28, dtype=torch.float64)
    with torch.no_grad():
        fast = model(x)
    assert torch.equal(fast, model(x))
