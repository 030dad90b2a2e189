"""GCE, truncated GCE, SCE and IMAE against values computed by hand; their limits; the truncated
loss's pruning mask, its schedule and its survival across a resume."""

from __future__ import annotations

import io
import math
from pathlib import Path

import pytest
import torch
from scipy.integrate import quad
from torch import nn

from landscape.data._dataset import LabelledDataset
from landscape.errors import ConfigError
from landscape.models import build
from landscape.objectives import Batch, get
from landscape.train import TrainConfig, train

# softmax([2, 0, −1]) = [0.843794734481339, 0.114195199384594, 0.042010066134066]
# log softmax        = [−0.169846019556286, −2.169846019556286, −3.169846019556286]
P = [0.843794734481339, 0.114195199384594, 0.042010066134066]
LOGITS = torch.tensor([[2.0, 0.0, -1.0], [2.0, 0.0, -1.0]], dtype=torch.float64)
Y = torch.tensor([0, 2])
LQ_K = 0.5491825618964884  # (1 − 0.5^0.7)/0.7


def _random_logits() -> torch.Tensor:
    return torch.randn(16, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(5)) * 3


def test_gce_by_hand() -> None:
    # (1 − p_y^0.7)/0.7 for p_y = 0.843794734… and 0.042010066…
    torch.testing.assert_close(get("gce", q=0.7).per_sample(LOGITS, Y),
                               torch.tensor([0.1601378579332464, 1.2732435840349006],
                                            dtype=torch.float64))


def test_gce_limits_cross_entropy_and_mae() -> None:
    logits, y = _random_logits(), torch.arange(16) % 5
    ce = get("ce").per_sample(logits, y)
    torch.testing.assert_close(get("gce", q=1e-6).per_sample(logits, y), ce, rtol=0, atol=1e-4)
    # q = 1: 1 − p_y
    torch.testing.assert_close(get("gce", q=1.0).per_sample(LOGITS, Y),
                               torch.tensor([1 - P[0], 1 - P[2]], dtype=torch.float64))
    p_y = torch.softmax(logits, dim=1)[torch.arange(16), y]
    torch.testing.assert_close(get("gce", q=1.0).per_sample(logits, y), 1 - p_y)


def test_sce_by_hand_and_its_reverse_term() -> None:
    # RCE = −Σ_c p_c·log q_c with log q_y = log 1 = 0 and log q_c = A = −4 elsewhere:
    # y = 0: 4·(0.114195199… + 0.042010066…) = 0.624821062…; y = 2: 4·(0.843794… + 0.114195…)
    rce = get("sce", alpha=0.0, beta=1.0).per_sample(LOGITS, Y)
    torch.testing.assert_close(rce, torch.tensor([0.6248210620746422, 3.8319597354637356],
                                                 dtype=torch.float64))
    # α·CE + β·RCE with the CIFAR-10 defaults α = 0.1, β = 1: 0.1·0.169846… + 0.624821…
    torch.testing.assert_close(get("sce").per_sample(LOGITS, Y),
                               torch.tensor([0.6418056640302707, 4.148944337419364],
                                            dtype=torch.float64))
    # the official code's constant, ln(1e-4) = −9.2103…
    code = get("sce", alpha=0.0, beta=1.0, A=math.log(1e-4)).per_sample(LOGITS, Y)
    torch.testing.assert_close(code, torch.tensor([1.4387036633217782, 8.823413363832204],
                                                  dtype=torch.float64))


def test_imae_by_hand() -> None:
    # T = 0: ½·log((1 − p_y)/p_y)
    torch.testing.assert_close(get("imae", T=0.0, direction="normalised").per_sample(LOGITS, Y),
                               torch.tensor([-0.8433691562408885, 1.5634640055214861],
                                            dtype=torch.float64))
    # T = 8: −∫_{½}^{p_y} exp(8·s(1 − s))/(2·s(1 − s)) ds, by quadrature
    torch.testing.assert_close(get("imae", T=8.0, direction="normalised").per_sample(LOGITS, Y),
                               torch.tensor([-4.492739259241635, 5.882250465850842],
                                            dtype=torch.float64))
    assert get("imae", direction="normalised").per_sample(torch.zeros(1, 2),
                                                     torch.tensor([1])).item() == 0.0


@pytest.mark.parametrize("T", [0.0, 3.0, 8.0, 20.0])
def test_imae_value_is_the_potential_of_its_gradient(T: float) -> None:
    logits, y = _random_logits(), torch.arange(16) % 5
    p_y = torch.softmax(logits, dim=1)[torch.arange(16), y]
    for i in (0, 7, 13):
        pi = float(p_y[i])
        expected, _ = quad(lambda s: -math.exp(T * s * (1 - s)) / (2 * s * (1 - s)), 0.5, pi,
                           epsabs=1e-12, epsrel=1e-12)
        value = get("imae", T=T, direction="normalised").per_sample(logits[i:i + 1],
                                                                    y[i:i + 1]).item()
        assert value == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_imae_gradient_magnitude_is_the_exponential_weight() -> None:
    # ∂ℓ/∂z = exp(T·p_y(1 − p_y))·(p − onehot)/‖p − onehot‖₁: weight 9.1878… for p_y = 0.8438
    # (w = exp(8·0.131802…)/(2·0.156205…) on the CE gradient) and 0.72017… for p_y = 0.0420
    logits = LOGITS.clone().requires_grad_(True)
    get("imae", T=8.0, direction="normalised").per_sample(logits, Y).sum().backward()
    ce_grad = torch.tensor([[P[0] - 1, P[1], P[2]], [P[0], P[1], P[2] - 1]], dtype=torch.float64)
    weights = torch.tensor([[9.187819099198423], [0.7201704144608019]], dtype=torch.float64)
    torch.testing.assert_close(logits.grad, weights * ce_grad)
    for p_y, row in ((P[0], 0), (P[2], 1)):
        assert logits.grad[row].abs().sum().item() == pytest.approx(
            math.exp(8 * p_y * (1 - p_y)))


# --- truncated GCE -------------------------------------------------------------------------

class FixedLogits(nn.Module):
    """Returns ``scale · x`` as logits; records the mode and grad state of every call."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones((), dtype=torch.float64))
        self.calls: list[tuple[bool, bool]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append((self.training, torch.is_grad_enabled()))
        return self.scale * x


def _pruning_data() -> LabelledDataset:
    rows = [  # logits, label, p_y, (source index)
        ([0.0, 0.0, -1e4], 0),              # p = 0.5 exactly: p ≤ k, dropped   (10)
        ([math.log(0.6), math.log(0.4), -1e4], 0),  # p ≈ 0.6: kept           (3)
        ([0.0, 2.0, 0.0], 1),               # p = 0.787: kept                   (7)
        ([2.0, 0.0, 0.0], 1),               # p = 0.106: dropped                (0)
        ([0.0, 0.0, 0.0], 2),               # p = 1/3: dropped                  (5)
        ([0.1, 0.0, -1e4], 0),              # p = 0.525: kept                   (8)
        ([-0.1, 0.0, -1e4], 0),             # p = 0.475: dropped                (1)
        ([-2.0, 0.0, 0.0], 0),              # p = 0.063: dropped; 0.787 at scale −1 (4)
    ]
    x = torch.tensor([r[0] for r in rows], dtype=torch.float64)
    y = torch.tensor([r[1] for r in rows])
    index = torch.tensor([10, 3, 7, 0, 5, 8, 1, 4])
    return LabelledDataset(x=x, y=y, y_clean=y.clone(), index=index, num_classes=3, name="fixed")


def test_truncated_gce_per_sample_is_the_papers_truncation() -> None:
    # y = 0: p_y = 0.8438 > 0.5 → L_q(p_y); y = 2: p_y = 0.042 ≤ 0.5 → L_q(0.5)
    torch.testing.assert_close(get("gce_truncated").per_sample(LOGITS, Y),
                               torch.tensor([0.1601378579332464, LQ_K], dtype=torch.float64))


def test_truncated_gce_prunes_exactly_the_samples_with_p_y_at_most_k_on_schedule() -> None:
    data, model = _pruning_data(), FixedLogits().train()
    objective = get("gce_truncated", start_prune=3, prune_every=2)
    # pruning before the 1-based epochs 4 and 6, i.e. the 0-based epochs 3 and 5
    assert [e for e in range(8) if objective.prunes_at(e)] == [3, 5, 7]
    expected_first = [False, True, True, False, False, True, False, False]
    expected_flipped = [False, False, False, False, False, False, False, True]
    for epoch in range(7):
        if epoch == 4:
            with torch.no_grad():
                model.scale.fill_(-1.0)  # the model changes; the mask must wait for epoch 5
        calls = len(model.calls)
        objective.on_epoch_start(epoch, model, data)
        assert (len(model.calls) > calls) == (epoch in (3, 5))
        kept = objective.kept(data.index).tolist()
        if epoch < 3:
            assert all(kept)
        elif epoch < 5:
            assert kept == expected_first
        else:
            assert kept == expected_flipped  # recomputed, not accumulated: index 4 came back
    assert set(model.calls) == {(False, False)}  # eval mode, no grad
    assert model.training  # train mode restored


def test_truncated_gce_training_loss_uses_the_mask() -> None:
    data, objective = _pruning_data(), get("gce_truncated", start_prune=1, prune_every=1)
    objective.on_epoch_start(0, FixedLogits(), data)
    logits = torch.tensor([[2.0, 0.0, -1.0]] * 8, dtype=torch.float64, requires_grad=True)
    y = torch.zeros(8, dtype=torch.long)
    batch = Batch(torch.zeros(8, 3), y, y, data.index)
    per_row = [objective.loss(logits[i:i + 1], Batch(batch.x[i:i + 1], y[i:i + 1], y[i:i + 1],
                                                      data.index[i:i + 1]), None).item()
               for i in range(8)]
    kept = [False, True, True, False, False, True, False, False]
    assert per_row == pytest.approx([0.1601378579332464 if k else LQ_K for k in kept])
    objective.loss(logits, batch, None).backward()
    grad_norm = logits.grad.abs().sum(dim=1)
    assert [bool(g > 0) for g in grad_norm] == kept  # pruned samples get no gradient


def test_truncated_gce_state_round_trips() -> None:
    data, objective = _pruning_data(), get("gce_truncated", start_prune=1, prune_every=1)
    objective.on_epoch_start(0, FixedLogits(), data)
    state = objective.state_dict()
    buf = io.BytesIO()
    torch.save(state, buf)  # as the training loop stores it
    restored = get("gce_truncated", start_prune=1, prune_every=1)
    restored.load_state_dict(torch.load(io.BytesIO(buf.getvalue()), weights_only=True))
    assert torch.equal(restored.mask, objective.mask)
    assert restored.kept(data.index).tolist() == [False, True, True, False, False, True, False,
                                                False]
    objective.mask[:] = True  # the state is a copy, not a view
    assert not bool(state["mask"].all())


def test_truncated_gce_mask_survives_a_resume(data, study_path: Path) -> None:
    config = TrainConfig(epochs=4, batch_size=32, seed=1, schedule="constant")

    def objective() -> object:  # prunes before the 0-based epochs 1 and 3
        return get("gce_truncated", start_prune=2, prune_every=2)

    def model() -> nn.Module:
        return build("mlp", (4,), 3, seed=0, depth=1, width=8)

    reference = objective()
    masks: dict[int, torch.Tensor] = {}
    ref = train(model(), reference, *data, config, progress=False,
                callback=lambda e, _: masks.__setitem__(e, reference.mask.clone()))
    dropped = int((~masks[2][data[0].index]).sum())
    assert 0 < dropped < len(data[0])  # the mask used in epoch 3 matters

    def stop(epoch: int, _: dict) -> None:
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(model(), objective(), *data, config, study=study_path, run="r", callback=stop,
              progress=False)
    resumed = objective()
    out = train(model(), resumed, *data, config, study=study_path, run="r", progress=False)
    assert out.resumed_from == 2
    assert torch.equal(resumed.mask, reference.mask)
    for a, b in zip(ref.model.parameters(), out.model.parameters()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("T", [0.0, 8.0, 30.0])
def test_imae_ce_direction_value_gradient_and_limits(T: float) -> None:
    logits = (_random_logits() * 3).requires_grad_(True)
    y = torch.arange(16) % 5
    loss = get("imae", T=T, direction="ce").per_sample(logits, y)
    loss.sum().backward()
    p = torch.softmax(logits.detach(), dim=1)
    p_y = p[torch.arange(16), y]
    # gradient: CE's times the detached weight exp(T·p_y(1 − p_y))
    weight = torch.exp(T * p_y * (1 - p_y))[:, None]
    expected = weight * (p - torch.nn.functional.one_hot(y, 5).to(p.dtype))
    torch.testing.assert_close(logits.grad, expected, rtol=1e-10, atol=1e-12)
    # value: −log p_y + ∫_{p_y}^1 (e^{T s(1−s)} − 1)/s ds, by adaptive quadrature
    for i in (0, 5, 11):
        tail, _ = quad(lambda s: math.expm1(T * s * (1 - s)) / s, float(p_y[i]), 1.0,
                       epsabs=1e-13, epsrel=1e-13)
        assert loss[i].item() == pytest.approx(-math.log(float(p_y[i])) + tail, rel=1e-10)
    assert bool((loss >= 0).all())
    if T == 0.0:
        ce = torch.nn.functional.cross_entropy(logits.detach(), y, reduction="none")
        torch.testing.assert_close(loss.detach(), ce)
    # a fitted sample has (near) zero loss and gradient, unlike direction="normalised"
    z = torch.tensor([[40.0, 0.0, 0.0]], dtype=torch.float64, requires_grad=True)
    fitted = get("imae", T=T, direction="ce").per_sample(z, torch.tensor([0]))
    fitted.sum().backward()
    assert fitted.item() < 1e-15 and z.grad.abs().max().item() < 1e-15


def test_imae_bad_direction() -> None:
    with pytest.raises(ConfigError, match="direction"):
        get("imae", direction="mae")
