"""The model zoo: exact parameter counts against the published ones, shapes, names, rebuilds."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from landscape.errors import ConfigError
from landscape.models import MODELS, VGG, ViT, build, build_from_config, model_config


def _count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# name: (exact count of our build for 3×32×32 inputs and 10 classes, published count in
# millions, digits the paper rounds to)
ZOO = {
    "resnet20": (269_722, 0.27, 2),   # He et al. 2016, Table 6
    "resnet56": (853_018, 0.85, 2),   # He et al. 2016, Table 6
    "wrn16_4": (2_748_890, 2.7, 1),   # Zagoruyko & Komodakis 2016, Table 4
    "wrn28_10": (36_479_194, 36.5, 1),  # Zagoruyko & Komodakis 2016, Table 5
    "resnet18": (11_173_962, None, 0),
    "vgg11_bn": (9_231_114, None, 0),
    "vgg16_bn": (14_728_266, None, 0),
    "vit_tiny": (5_362_762, None, 0),
}


@pytest.mark.parametrize("name", sorted(ZOO))
def test_exact_and_published_parameter_counts(name: str) -> None:
    exact, published, digits = ZOO[name]
    model = build(name, (3, 32, 32), 10, seed=0)
    assert _count(model) == exact
    if published is not None:
        assert round(exact / 1e6, digits) == published


def test_counts_derived_from_the_published_imagenet_models() -> None:
    # ResNet-18: 11,689,512 for ImageNet (He et al. 2016, Table 1: 11.7M); the CIFAR variant swaps
    # the 7×7 stem (3·64·49) for a 3×3 one (3·64·9) and the 1000-way head for a 10-way one
    assert round(11_689_512 / 1e6, 1) == 11.7
    assert ZOO["resnet18"][0] == 11_689_512 - 3 * 64 * 49 + 3 * 64 * 9 - 513_000 + 5_130
    # VGG: Simonyan & Zisserman 2015, Table 2, with three FC layers 25088→4096→4096→1000
    fc = 25088 * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * 1000 + 1000
    for depth, published in ((11, 133), (16, 138)):
        conv = sum(p.numel() for m in VGG(3, 10, depth=depth).features
                   if isinstance(m, torch.nn.Conv2d) for p in m.parameters())
        assert round((conv + fc) / 1e6) == published
    # ViT: DeiT-Ti (Touvron et al. 2021, Table 1: 5.7M) at 224×224, 16×16 patches, 1000 classes
    deit_ti = _count(ViT(3, 1000, image_size=224, patch=16))
    assert deit_ti == 5_717_416 and round(deit_ti / 1e6, 1) == 5.7


SMALL = {"resnet20": {}, "resnet56": {"width": 4}, "resnet18": {"width": 4},
         "wrn16_4": {}, "wrn28_10": {"dropout": 0.3}, "vgg11_bn": {}, "vgg16_bn": {},
         "vit_tiny": {"dim": 24, "depth": 2, "heads": 2}}


@pytest.mark.parametrize("name", sorted(SMALL))
def test_forward_seeding_and_rebuild_from_config(name: str) -> None:
    a = build(name, (3, 32, 32), 10, seed=1, **SMALL[name])
    b = build(name, (3, 32, 32), 10, seed=1, **SMALL[name])
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert a.eval()(torch.randn(1, 3, 32, 32)).shape == (1, 10)
    assert MODELS[name] is type(a)
    rebuilt = build_from_config(model_config(a))
    assert [(n, p.shape) for n, p in rebuilt.named_parameters()] == \
        [(n, p.shape) for n, p in a.named_parameters()]


def test_vit_names_each_projection_and_grey_inputs_work() -> None:
    model = build("vit_tiny", (1, 28, 28), 10, dim=8, depth=1, heads=2, patch=7)
    names = {n for n, _ in model.named_parameters()}
    assert {"embed.cls", "embed.pos", "embed.proj.weight", "blocks.0.attn.query.weight",
            "blocks.0.attn.key.weight", "blocks.0.attn.value.weight", "blocks.0.attn.out.weight",
            "blocks.0.mlp.fc1.weight", "blocks.0.mlp.fc2.weight", "blocks.0.norm1.weight",
            "norm.weight", "head.weight"} <= names
    x = torch.randn(3, 1, 28, 28)
    sdpa = build("vit_tiny", (1, 28, 28), 10, dim=8, depth=1, heads=2, patch=7,
                 attention="sdpa")
    sdpa.load_state_dict(model.state_dict())
    torch.testing.assert_close(sdpa(x), model(x))


def test_resnets_take_small_images_and_bad_options_fail() -> None:
    assert build("resnet20", (1, 8, 8), 10)(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    with pytest.raises(ConfigError, match="fixes"):
        build("resnet20", (3, 32, 32), 10, depth=56)
    with pytest.raises(ConfigError, match="resnet20"):
        build("resnet20", (3, 32, 32), 10, colour="red")
    with pytest.raises(ConfigError, match="side >= 32"):
        build("vgg11_bn", (1, 8, 8), 10)
    with pytest.raises(ConfigError, match="square image"):
        build("vit_tiny", (64,), 10)
    with pytest.raises(ConfigError, match="divide"):
        build("vit_tiny", (3, 32, 32), 10, patch=5)


def _write_cifar(directory: Path, n: int = 24) -> None:
    directory.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"labels": [int(v) for v in rng.integers(0, 10, n)],
                 b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)}
        (directory / name).write_bytes(pickle.dumps(batch, protocol=2))


@pytest.mark.parametrize("name,options", [("resnet20", ["width=4"]),
                                          ("vit_tiny", ["dim=8", "depth=1", "heads=2"])])
def test_cli_trains_zoo_models_on_cifar_shaped_data(tmp_path: Path, name: str,
                                                    options: list[str]) -> None:
    from landscape.cli import main
    from landscape.store import load_model

    data = tmp_path / "cifar-10-batches-py"
    _write_cifar(data)
    out = tmp_path / "s.h5"
    argv = ["train", "--dataset", "cifar10", "--data-dir", str(data), "--model", name,
            "--epochs", "1", "--batch-size", "40", "--out", str(out), "--run", "r", "--quiet"]
    for opt in options:
        argv += ["--model-option", opt]
    assert main(argv) == 0
    model = load_model(out, "r")
    assert type(model) is MODELS[name] and model(torch.zeros(1, 3, 32, 32)).shape == (1, 10)
