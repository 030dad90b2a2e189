"""SAM and ASAM: one step against a hand computation (float64, linear model), BatchNorm statistics
untouched by the second pass, and training through ``train`` and the CLI."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from landscape.cli import main
from landscape.errors import ConfigError
from landscape.models import MLP, build
from landscape.objectives import ASAM, SAM, Batch, StepContext, get
from landscape.train import TrainConfig, train

RHO, LR, ETA = 0.3, 0.5, 0.01
X = np.array([[1.0, -2.0, 0.5], [0.3, 0.8, -1.0], [-1.5, 0.2, 0.7], [2.0, 1.0, 1.0]])
Y = np.array([0, 1, 1, 0])


def _linear() -> nn.Linear:
    lin = nn.Linear(3, 2).double()
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[0.2, -0.4, 0.1], [-0.3, 0.5, 0.6]], dtype=torch.float64))
        lin.bias.copy_(torch.tensor([0.05, -0.1], dtype=torch.float64))
    return lin


def _ce_grad(w: np.ndarray, b: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Mean softmax cross-entropy of the linear model and its gradient, by hand."""
    z = X @ w.T + b
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    onehot = np.eye(2)[Y]
    loss = float(-np.log(p[np.arange(len(Y)), Y]).mean())
    d = (p - onehot) / len(Y)
    return loss, d.T @ X, d.sum(axis=0)


def _step(objective: SAM) -> tuple[nn.Linear, float]:
    lin = _linear()
    opt = torch.optim.SGD(lin.parameters(), lr=LR)
    batch = Batch(torch.tensor(X), torch.tensor(Y), torch.tensor(Y), torch.arange(4))
    out = objective.training_step(batch, StepContext(lin, opt, 0, 0, 2))
    return lin, float(out.loss)


def test_sam_step_matches_hand_computation() -> None:
    w0 = np.array([[0.2, -0.4, 0.1], [-0.3, 0.5, 0.6]])
    b0 = np.array([0.05, -0.1])
    loss0, gw, gb = _ce_grad(w0, b0)
    norm = np.sqrt((gw ** 2).sum() + (gb ** 2).sum()) + 1e-12  # the code's guard
    ew, eb = RHO * gw / norm, RHO * gb / norm
    _, gw2, gb2 = _ce_grad(w0 + ew, b0 + eb)
    lin, loss = _step(get("sam", rho=RHO))
    assert loss == pytest.approx(loss0, rel=1e-12)
    np.testing.assert_allclose(lin.weight.detach().numpy(), w0 - LR * gw2, rtol=0, atol=1e-12)
    np.testing.assert_allclose(lin.bias.detach().numpy(), b0 - LR * gb2, rtol=0, atol=1e-12)
    # and it is not the plain gradient step
    assert not np.allclose(lin.weight.detach().numpy(), w0 - LR * gw, atol=1e-6)


def test_asam_perturbation_and_step_by_hand() -> None:
    w0 = np.array([[0.2, -0.4, 0.1], [-0.3, 0.5, 0.6]])
    b0 = np.array([0.05, -0.1])
    _, gw, gb = _ce_grad(w0, b0)
    tw = np.abs(w0) + ETA  # T_w for the weight; the bias is not scaled (SamsungLabs/ASAM)
    norm = np.sqrt(((tw * gw) ** 2).sum() + (gb ** 2).sum()) + 1e-12
    ew, eb = RHO * tw ** 2 * gw / norm, RHO * gb / norm
    asam = get("asam", rho=RHO, eta=ETA)
    eps = asam.perturbation([("weight", torch.tensor(w0)), ("bias", torch.tensor(b0))],
                            [torch.tensor(gw), torch.tensor(gb)])
    np.testing.assert_allclose(eps[0].numpy(), ew, rtol=1e-12, atol=0)
    np.testing.assert_allclose(eps[1].numpy(), eb, rtol=1e-12, atol=0)
    _, gw2, gb2 = _ce_grad(w0 + ew, b0 + eb)
    lin, _ = _step(asam)
    np.testing.assert_allclose(lin.weight.detach().numpy(), w0 - LR * gw2, rtol=0, atol=1e-12)
    np.testing.assert_allclose(lin.bias.detach().numpy(), b0 - LR * gb2, rtol=0, atol=1e-12)


def test_second_pass_leaves_batchnorm_statistics_alone() -> None:
    torch.manual_seed(0)
    model = MLP(4, 3, depth=2, width=8, batchnorm=True)
    with torch.no_grad():  # make the two passes see different batch statistics
        for block in model.hidden:
            block.bn.running_var.fill_(2.0)
    x, y = torch.randn(16, 4), torch.arange(16) % 3
    reference = copy.deepcopy(model).train()
    reference(x)  # the first pass only
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    model.train()
    get("sam", rho=0.5).training_step(Batch(x, y, y, torch.arange(16)),
                                      StepContext(model, opt, 0, 0, 3))
    for name, buf in reference.named_buffers():
        assert torch.equal(dict(model.named_buffers())[name], buf), name
    # a second forward in train mode would have moved them
    reference(x + 1.0)
    assert not torch.equal(reference.hidden[0].bn.running_mean, model.hidden[0].bn.running_mean)


@pytest.mark.parametrize("name", ["sam", "asam"])
def test_training_reduces_the_loss(name: str, data) -> None:
    model = build("mlp", (4,), 3, seed=0, depth=1, width=8, batchnorm=True)
    result = train(model, get(name), *data, TrainConfig(epochs=4, batch_size=32, lr=0.2, seed=0),
                   progress=False)
    h = result.history
    assert h["train_loss"][-1] < 0.3 * h["train_loss"][0]
    assert h["test_acc"][-1] > 0.9


def test_parameters_are_validated_and_base_is_passed_through() -> None:
    for bad in ({"rho": 0.0}, {"rho": -1}, {"rho": float("nan")}, {"base": "nope"},
                {"base": "sam"}, {"base": 3}, {"temperature": -1.0}, {"nope": 1}):
        with pytest.raises(ConfigError):
            get("sam", **bad)
    with pytest.raises(ConfigError):
        get("asam", eta=-0.1)
    sam = get("sam", base="gce_truncated", q=0.5)
    assert isinstance(sam, SAM) and not isinstance(sam, ASAM)
    assert sam.params()["base_params"]["q"] == 0.5
    assert "mask" in sam.state_dict()["base"]
    logits, y = torch.randn(5, 3), torch.arange(5) % 3
    torch.testing.assert_close(sam.evaluation_loss(logits, y), sam.base.per_sample(logits, y))


def test_cli_trains_with_sam(tmp_path: Path, capsys) -> None:
    out = tmp_path / "s.h5"
    args = ["train", "--dataset", "gaussian-mixture", "--epochs", "2", "--width", "8",
            "--objective", "asam", "--objective-param", "rho=0.2", "--out", str(out),
            "--run", "a", "--quiet"]
    assert main(args) == 0
    assert "a: trained" in capsys.readouterr().out
