"""GCL: cloud sizes, sampler weights and the perturbed loss against hand computations, the two
stages through ``train`` (frozen backbone, re-sampling, unperturbed evaluation), a bit-exact
resume inside stage 2, and the CLI."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from landscape.cli import main
from landscape.data._dataset import LabelledDataset
from landscape.errors import ConfigError
from landscape.models import build
from landscape.objectives import GCL, get
from landscape.objectives.gcl import cloud_sizes, sampler_class_weights
from landscape.train import TrainConfig, train
from tests.helpers import blobs

COUNTS = [100, 10, 1]


def _long_tailed(counts: list[int] = [40, 12, 4]) -> LabelledDataset:  # noqa: B006
    full = blobs(120, seed=0)
    keep = torch.cat([torch.nonzero(full.y == c).flatten()[:n] for c, n in enumerate(counts)])
    return LabelledDataset(x=full.x[keep], y=full.y[keep], y_clean=full.y[keep],
                           index=full.index[keep], num_classes=3, name="blobs/train")


def test_cloud_sizes_by_hand() -> None:
    # a = log 100 − log n = [0, log 10, log 100], divided by log 100
    torch.testing.assert_close(cloud_sizes(COUNTS), torch.tensor([0.0, 0.5, 1.0],
                                                                 dtype=torch.float64))
    torch.testing.assert_close(cloud_sizes([8, 4, 2, 1]),
                               torch.tensor([0.0, 1 / 3, 2 / 3, 1.0], dtype=torch.float64))
    assert cloud_sizes([5, 5]).tolist() == [0.0, 0.0]
    assert get("gcl", class_counts=[8, 4, 2, 1]).clouds.tolist() == \
        cloud_sizes([8, 4, 2, 1]).tolist()


def test_sampler_weights_by_hand() -> None:
    betas = [0.9999, 0.9999 + 0.5e-5, 0.9999 + 1e-5]
    expected = [(1 - b) / (1 - b ** n) for b, n in zip(betas, COUNTS)]
    torch.testing.assert_close(sampler_class_weights(COUNTS),
                               torch.tensor(expected, dtype=torch.float64), rtol=1e-12, atol=0)
    plain = [(1 - 0.9999) / (1 - 0.9999 ** n) for n in COUNTS]
    torch.testing.assert_close(sampler_class_weights(COUNTS, "effective_number"),
                               torch.tensor(plain, dtype=torch.float64), rtol=1e-12, atol=0)
    torch.testing.assert_close(sampler_class_weights(COUNTS, "balanced"),
                               torch.tensor([0.01, 0.1, 1.0], dtype=torch.float64))
    # per sample: the class weight of its label, only in stage 2
    data = _long_tailed([4, 2, 1])
    gcl = get("gcl", class_counts=[4, 2, 1], stage1_epochs=1)
    assert gcl.sampler_weights(0, data) is None
    w = gcl.sampler_weights(1, data)
    b = [0.9999, 0.9999 + 0.5e-5, 0.9999 + 1e-5]
    per_class = [(1 - bc) / (1 - bc ** n) for bc, n in zip(b, [4, 2, 1])]
    torch.testing.assert_close(w, torch.tensor([per_class[c] for c in data.y.tolist()],
                                               dtype=torch.float64), rtol=1e-12, atol=0)


def test_perturbed_logits_by_hand() -> None:
    gcl = get("gcl", class_counts=COUNTS, noise_mul=0.5)
    cos = torch.tensor([[0.2, -0.1, 0.4]], dtype=torch.float64)
    noise = torch.tensor([[-0.9, 0.6, -0.3]], dtype=torch.float64)
    y = torch.tensor([2])
    got = gcl.perturbed_logits(cos, y, noise, s=20.0, m=0.1)
    # class 0: â = 0 → 0.2; class 1: −0.1 − 0.5·0.6·0.5 = −0.25; class 2: 0.4 − 0.5·0.3·1 − 0.1
    torch.testing.assert_close(got, 20.0 * torch.tensor([[0.2, -0.25, 0.15]],
                                                        dtype=torch.float64))
    eps = gcl.noise(torch.Size([2000, 3]), cos)
    assert float(eps.abs().max()) <= 1.0 and 0.30 < float(eps.std()) < 0.36
    seeded = get("gcl", class_counts=COUNTS, seed=3)
    assert torch.equal(seeded.noise(torch.Size([4, 3]), cos, 1, 7),
                       seeded.noise(torch.Size([4, 3]), cos, 1, 7))
    assert not torch.equal(seeded.noise(torch.Size([4, 3]), cos, 1, 7),
                           seeded.noise(torch.Size([4, 3]), cos, 1, 8))


def _config() -> TrainConfig:
    return TrainConfig(epochs=6, batch_size=8, lr=0.01, schedule="constant", seed=0)


def test_two_stages_freeze_the_backbone_and_evaluate_unperturbed(data) -> None:
    train_data = _long_tailed()
    gcl = get("gcl", class_counts=train_data.class_counts.tolist(), stage1_epochs=4)
    model = build("mlp", (4,), 3, seed=0, depth=2, width=8, bias=False)
    after_stage1: dict[str, torch.Tensor] = {}

    def snapshot(epoch: int, _: dict) -> None:
        if epoch == 4:
            after_stage1.update({k: v.clone() for k, v in model.state_dict().items()})

    result = train(model, gcl, train_data, data[1], _config(), progress=False, callback=snapshot)
    assert gcl.stage == 2 and gcl.head_reset
    for key, value in model.state_dict().items():
        if key.startswith("hidden."):
            assert torch.equal(value, after_stage1[key]), key
    assert not torch.equal(model.out.weight, after_stage1["out.weight"])
    x = data[1].x
    logits = gcl.eval_logits(model, x)
    torch.testing.assert_close(logits, gcl.eval_logits(model, x))  # no noise
    head = model.out.weight
    feats = model.hidden[1].act(model.hidden[1].linear(model.hidden[0].act(
        model.hidden[0].linear(x))))
    cos = torch.nn.functional.normalize(feats, dim=1) @ \
        torch.nn.functional.normalize(head, dim=1).T
    torch.testing.assert_close(logits, 20.0 * cos)
    assert gcl.balanced_accuracy(model, data[1]) > 0.85
    assert result.history["test_acc"][-1] > 0.85


def test_resume_inside_stage_two_is_bit_exact(study_path: Path) -> None:
    train_data = _long_tailed()
    counts = train_data.class_counts.tolist()
    reference = build("mlp", (4,), 3, seed=0, depth=1, width=8)
    train(reference, get("gcl", class_counts=counts, stage1_epochs=4), train_data, None,
          _config(), progress=False)

    def stop(epoch: int, _: dict) -> None:
        if epoch == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(build("mlp", (4,), 3, seed=0, depth=1, width=8),
              get("gcl", class_counts=counts, stage1_epochs=4), train_data, None, _config(),
              study=study_path, run="r", callback=stop, progress=False)
    model = build("mlp", (4,), 3, seed=0, depth=1, width=8)
    resumed = get("gcl", class_counts=counts, stage1_epochs=4)
    result = train(model, resumed, train_data, None, _config(), study=study_path, run="r",
                   progress=False)
    assert result.resumed_from == 5 and resumed.head_reset
    for (name, p), q in zip(model.state_dict().items(), reference.state_dict().values()):
        assert torch.equal(p, q), name


def test_parameters_are_validated() -> None:
    for bad in ({"s": 0}, {"stage2_s": -1}, {"noise_mul": -0.1}, {"gamma": -1},
                {"stage1_epochs": -1}, {"stage1_epochs": 2.5}, {"sampler": "nope"},
                {"seed": 1.5}, {"m": math.inf}, {"class_counts": [3, 0]}):
        with pytest.raises(ConfigError):
            get("gcl", **{"class_counts": COUNTS, **bad})
    with pytest.raises(ConfigError):
        get("gcl")
    gcl = get("gcl", class_counts=COUNTS)
    assert isinstance(gcl, GCL)
    assert (gcl.s, gcl.m, gcl.noise_mul, gcl.stage2_s, gcl.stage2_m, gcl.gamma) == \
        (30.0, 0.0, 0.5, 20.0, 0.1, 1.0)
    with pytest.raises(ConfigError):
        gcl.cosine(torch.nn.Sequential(torch.nn.Linear(4, 3)), torch.zeros(2, 4))


def test_cli_trains_with_gcl(tmp_path: Path, capsys) -> None:
    args = ["train", "--dataset", "gaussian-mixture", "--long-tail", "exp:10", "--epochs", "2",
            "--width", "8", "--objective", "gcl", "--objective-param", "stage1_epochs=1",
            "--out", str(tmp_path / "s.h5"), "--run", "g", "--quiet"]
    assert main(args) == 0
    assert "g: trained" in capsys.readouterr().out
