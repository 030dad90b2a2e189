"""HSIC bottleneck: the estimators against brute-force sums (float64), the layer-wise step against
a hand-rolled one, the frozen format stage, the unformatted read-out, and a bit-exact resume."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from landscape.cli import main
from landscape.errors import ConfigError
from landscape.models import build
from landscape.objectives import Batch, HSICBottleneck, StepContext, get
from landscape.objectives.hsic import (
    gaussian_kernel,
    greedy_class_units,
    hsic,
    hsic_parameters,
    normalized_hsic,
    recompute_batchnorm_stats,
)
from landscape.train import TrainConfig, train

GEN = np.random.default_rng(0)
A = GEN.normal(size=(5, 3))
B = GEN.normal(size=(5, 2))


def _kernel_loops(a: np.ndarray, sigma: float) -> np.ndarray:
    m, d = a.shape
    k = np.zeros((m, m))
    for i in range(m):
        for j in range(m):
            k[i, j] = math.exp(-sum((a[i, t] - a[j, t]) ** 2 for t in range(d))
                               / (2 * sigma ** 2 * d))
    return k


def test_kernel_and_hsic_against_brute_force_sums() -> None:
    sigma = 0.7
    ka, kb = _kernel_loops(A, sigma), _kernel_loops(B, sigma)
    np.testing.assert_allclose(gaussian_kernel(torch.tensor(A), sigma).numpy(), ka,
                               rtol=1e-12, atol=1e-14)
    m = len(A)
    # tr(K H L H) = Σ_ij K_ij L_ij − (2/m) Σ_ijq K_ij L_iq + (1/m²) Σ_ij K_ij Σ_qr L_qr
    s1 = sum(ka[i, j] * kb[i, j] for i in range(m) for j in range(m))
    s2 = sum(ka[i, j] * kb[i, q] for i in range(m) for j in range(m) for q in range(m))
    s3 = sum(ka[i, j] for i in range(m) for j in range(m)) * \
        sum(kb[q, r] for q in range(m) for r in range(m))
    expected = (s1 - 2 * s2 / m + s3 / m ** 2) / (m - 1) ** 2
    assert float(hsic(torch.tensor(A), torch.tensor(B), sigma)) == pytest.approx(expected,
                                                                                   rel=1e-12)


@pytest.mark.parametrize("epsilon", [1e-5, 0.05])
def test_normalized_hsic_against_brute_force(epsilon: float) -> None:
    sigma, m = 1.3, len(A)

    def tilde(x: np.ndarray) -> np.ndarray:
        k = _kernel_loops(x, sigma)
        kbar = np.array([[k[i, j] - sum(k[i, q] for q in range(m)) / m for j in range(m)]
                         for i in range(m)])  # K·H, centred on the right as the code
        return kbar @ np.linalg.inv(kbar + epsilon * m * np.eye(m))

    ra, rb = tilde(A), tilde(B)
    expected = sum(ra[i, j] * rb[j, i] for i in range(m) for j in range(m))
    got = normalized_hsic(torch.tensor(A), torch.tensor(B), sigma, epsilon)
    assert float(got) == pytest.approx(expected, rel=1e-9)
    # the label term saturates at rank(centred one-hot) = C − 1 for tiny ε
    y = F.one_hot(torch.arange(6) % 3, 3).double()
    assert float(normalized_hsic(y, y, 1.0, 1e-9)) == pytest.approx(2.0, rel=1e-6)


def test_greedy_class_units_by_hand() -> None:
    means = torch.tensor([[0.9, 0.8, 0.1, 0.0],
                          [0.95, 0.2, 0.3, 0.0],   # unit 0 is taken by class 0: takes unit 2
                          [0.1, 0.2, 0.05, 0.0],   # takes unit 1
                          [float("nan")] * 4])     # no samples: the first free unit, 3
    assert greedy_class_units(means).tolist() == [0, 2, 1, 3]
    with pytest.raises(ConfigError):
        greedy_class_units(torch.zeros(3, 2))


def test_one_hsic_step_is_layer_wise() -> None:
    """Each block moves by its own HSIC gradient, computed on the output of the blocks before it
    after their update, with no gradient from later blocks; the head does not move."""
    model = build("mlp", (3,), 2, seed=0, depth=2, width=4).double()
    x = torch.tensor(GEN.normal(size=(6, 3)))
    y = torch.tensor([0, 1, 0, 1, 1, 0])
    lr, wd, beta, sigma = 0.5, 1e-3, 3.0, 1.0
    expected = copy.deepcopy(model)
    h = x
    for block in expected.hidden:
        params = list(block.parameters())
        z = block.act(block.linear(h))
        loss = normalized_hsic(z, x, sigma) - beta * normalized_hsic(
            z, F.one_hot(y, 2).double(), sigma)
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g in zip(params, grads):
                p.sub_(lr * (g + wd * p))
            h = block.act(block.linear(h))
    objective = get("hsic_bottleneck", sigma=sigma, beta=beta, hsic_lr=lr, weight_decay=wd)
    objective.on_epoch_start(0, model, None)
    main_opt = torch.optim.SGD(model.parameters(), lr=1.0)
    head = model.out.weight.detach().clone()
    out = objective.training_step(Batch(x, y, y, torch.arange(6)),
                                  StepContext(model, main_opt, 0, 0, 2))
    for (name, p), q in zip(model.named_parameters(), expected.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-12, msg=name)
    assert torch.equal(model.out.weight, head)
    assert float(out.loss) == pytest.approx(sum(objective.last_layer_losses))


def _hsic_run(epochs: int = 6, **kw) -> tuple[HSICBottleneck, TrainConfig]:
    objective = get("hsic_bottleneck", hsic_lr=0.01, hsic_epochs=2, **kw)
    config = TrainConfig(epochs=epochs, batch_size=20, optimizer="adam", lr=0.05,
                         schedule="constant", seed=0)
    return objective, config


def test_format_stage_trains_only_the_head_on_frozen_blocks(data) -> None:
    objective, config = _hsic_run()
    model = build("mlp", (4,), 3, seed=0, depth=2, width=8, batchnorm=True)
    after_hsic: dict[str, torch.Tensor] = {}

    def snapshot(epoch: int, _: dict) -> None:
        if epoch == 2:
            after_hsic.update({k: v.clone() for k, v in model.state_dict().items()})

    result = train(model, objective, *data, config, progress=False, callback=snapshot)
    for key, value in model.state_dict().items():
        if key.startswith("hidden."):
            assert torch.equal(value, after_hsic[key]), key
    assert not torch.equal(model.out.weight, after_hsic["out.weight"])
    h = result.history
    assert objective.stage == "format"
    assert h["train_loss"][-1] < h["train_loss"][3]
    assert h["test_acc"][-1] > 0.9


def test_hsic_stage_raises_the_label_dependence(data) -> None:
    train_data = data[0]
    y = F.one_hot(train_data.y, 3).float()
    model = build("mlp", (4,), 3, seed=0, depth=2, width=3)
    objective, config = _hsic_run(epochs=3, readout="unformatted", beta=100.0)
    before = float(normalized_hsic(objective._frozen_features(model, train_data.x), y, 5.0))
    train(model, objective, *data, config, progress=False)
    after = float(normalized_hsic(objective._frozen_features(model, train_data.x), y, 5.0))
    assert after > before + 0.2
    # the unformatted read-out: the activations of the units mapped to each class
    units = objective.class_units(model, train_data)
    assert sorted(units.tolist()) == [0, 1, 2]
    x = data[1].x
    torch.testing.assert_close(objective.eval_logits(model, x),
                               objective._frozen_features(model, x)[:, units])


def test_resume_is_bit_exact_with_layer_optimiser_state(data, study_path: Path) -> None:
    objective, config = _hsic_run(epochs=3, momentum=0.9)
    reference = build("mlp", (4,), 3, seed=0, depth=2, width=8)
    train(reference, objective, *data, config, progress=False)

    def stop(epoch: int, _: dict) -> None:
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(build("mlp", (4,), 3, seed=0, depth=2, width=8), _hsic_run(momentum=0.9)[0],
              *data, config, study=study_path, run="r", callback=stop, progress=False)
    model = build("mlp", (4,), 3, seed=0, depth=2, width=8)
    result = train(model, _hsic_run(momentum=0.9)[0], *data, config, study=study_path, run="r",
                   progress=False)
    assert result.resumed_from == 1
    for (name, p), q in zip(model.state_dict().items(), reference.state_dict().values()):
        assert torch.equal(p, q), name


def test_hsic_stage_leaves_batchnorm_affine_at_identity() -> None:
    """The code's blocks are Linear → BatchNorm1d(affine=False) → ReLU and only the linear
    weight and bias are optimised; an affine BatchNorm keeps γ = 1, β = 0."""
    model = build("mlp", (3,), 2, seed=0, depth=2, width=4, batchnorm=True).double()
    assert [n for n, p in model.named_parameters() if any(p is q for q in
            hsic_parameters(model.hidden[0]))] == ["hidden.0.linear.weight", "hidden.0.linear.bias"]
    objective = get("hsic_bottleneck", hsic_lr=0.5)
    objective.on_epoch_start(0, model, None)
    w0 = model.hidden[1].linear.weight.detach().clone()
    x, y = torch.tensor(GEN.normal(size=(6, 3))), torch.tensor([0, 1, 0, 1, 1, 0])
    objective.training_step(Batch(x, y, y, torch.arange(6)), StepContext(
        model, torch.optim.SGD(model.parameters(), lr=1.0), 0, 0, 2))
    assert not torch.equal(model.hidden[1].linear.weight, w0)
    for block in model.hidden:
        assert torch.equal(block.bn.weight, torch.ones(4))
        assert torch.equal(block.bn.bias, torch.zeros(4))


def _batch_stats(blocks, x: torch.Tensor, size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per BatchNorm layer: the mean over the full batches of the batch mean and of the unbiased
    batch variance of its input, each batch normalised with its own statistics."""
    out = []
    with torch.no_grad():
        hs = [x[i:i + size] for i in range(0, len(x) - size + 1, size)]
        for block in blocks:
            pre = [block.linear(h) for h in hs]
            out.append((torch.stack([p.mean(0) for p in pre]).mean(0),
                        torch.stack([p.var(0, unbiased=True) for p in pre]).mean(0)))
            hs = [block.act((p - p.mean(0)) / torch.sqrt(p.var(0, unbiased=False) + block.bn.eps))
                  for p in pre]
    return out


def test_recompute_batchnorm_stats_against_batch_averages() -> None:
    model = build("mlp", (3,), 2, seed=0, depth=2, width=4, batchnorm=True).double()
    model.hidden[0].drop = torch.nn.Dropout(0.5)  # off during the recomputation
    x = torch.tensor(GEN.normal(size=(23, 3)))
    model.train()
    recompute_batchnorm_stats(list(model.hidden), x, 5)  # 4 full batches, the last 3 rows unused
    assert model.training and model.hidden[0].drop.training
    assert model.hidden[0].bn.momentum == 0.1
    for block, (mean, var) in zip(model.hidden, _batch_stats(list(model.hidden), x, 5)):
        torch.testing.assert_close(block.bn.running_mean, mean, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(block.bn.running_var, var, rtol=1e-10, atol=1e-12)


def test_frozen_blocks_use_batchnorm_stats_of_their_final_weights(data) -> None:
    """The fixed discrepancy: with few batches, running statistics updated once per batch keep
    most of their initial variance 1 (here 0.9⁶ ≈ 53 %), where the code's (1 + blocks updates per
    batch over ≥ 117 batches) are those of the final weights. They are recomputed before the
    blocks are evaluated and before the format stage."""
    train_data = data[0]  # 120 samples: 6 batches of 20 per epoch
    objective, config = _hsic_run(epochs=2)
    objective.hsic_epochs = 1
    model = build("mlp", (4,), 3, seed=0, depth=2, width=8, batchnorm=True)
    seen: list[list[torch.Tensor]] = []

    def check(epoch: int, _: dict) -> None:
        seen.append([b.bn.running_var.clone() for b in model.hidden])
        for block, (mean, var) in zip(model.hidden, _batch_stats(list(model.hidden),
                                                                 train_data.x, 20)):
            torch.testing.assert_close(block.bn.running_mean, mean, rtol=1e-4, atol=1e-6)
            torch.testing.assert_close(block.bn.running_var, var, rtol=1e-4, atol=1e-6)

    train(model, objective, *data, config, progress=False,
          callback=lambda e, row: check(e, row) if e >= 1 else None)
    assert objective.stage == "format" and len(seen) == 2
    for a, b in zip(*seen):  # the format epoch does not touch the frozen statistics
        assert torch.equal(a, b)


def test_parameters_are_validated() -> None:
    for bad in ({"sigma": 0}, {"beta": -1}, {"epsilon": 0}, {"hsic_lr": -1},
                {"momentum": 1.0}, {"weight_decay": -1}, {"hsic_epochs": -1},
                {"hsic_epochs": 1.5}, {"readout": "nope"}, {"sigma": "x"}):
        with pytest.raises(ConfigError):
            get("hsic_bottleneck", **bad)
    with pytest.raises(ConfigError):
        get("hsic").on_epoch_start(0, build("mlp", (4,), 3, depth=0), None)
    assert get("hsic").params()["sigma"] == 5.0 and get("hsic").params()["beta"] == 50.0


def test_cli_trains_with_the_hsic_bottleneck(tmp_path: Path, capsys) -> None:
    args = ["train", "--dataset", "gaussian-mixture", "--epochs", "2", "--width", "8",
            "--objective", "hsic_bottleneck", "--objective-param", "hsic_epochs=1",
            "--objective-param", "hsic_lr=0.01", "--out", str(tmp_path / "s.h5"), "--run", "h",
            "--quiet"]
    assert main(args) == 0
    assert "h: trained" in capsys.readouterr().out
