"""Flatness estimators with forward= on dict batches of padded sequences.

Oracles: the mean token loss computed directly (tests/padded.py) at the perturbed weights, and
the same estimator on the same problem packed into ``(x, y)`` batches for the default forward
(same parameter names and seeds, so the same noise draws).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from landscape.flatness import (
    flat_minimum_width,
    local_energy,
    local_entropy,
    sharpness,
    surface_1d,
    surface_2d,
)
from tests.padded import Tagger, padded_batches, token_loss

CE = nn.CrossEntropyLoss()
LENGTHS = [[4, 2, 3], [1, 5]]


class PackedTagger(Tagger):
    """The same tagger on packed rows ``[T, D + 1]`` (last channel: the mask), returning only
    the real tokens: the default forward then sees ``(packed, tokens' targets)``."""

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        m = x[..., -1] > 0
        return super().forward(x[..., :-1], m)[m]


def _models() -> tuple[Tagger, PackedTagger]:
    torch.manual_seed(0)
    a = Tagger().double().eval()
    b = PackedTagger().double().eval()
    b.load_state_dict(a.state_dict())
    return a, b


def _packed(batches: list[dict]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(torch.cat([b["inputs"], b["mask"][..., None].double()], -1),
             b["targets"][b["mask"]]) for b in batches]


def test_local_energy_and_width_match_the_packed_problem() -> None:
    model, packed = _models()
    batches = padded_batches(LENGTHS)
    sigmas = [0.0, 0.05, 0.2]
    r = local_energy(model, CE, batches, sigmas, 4, seed=3, forward="padded_sequence")
    ref = local_energy(packed, CE, _packed(batches), sigmas, 4, seed=3, batched=False)
    params = {n: p.detach() for n, p in model.named_parameters()}
    assert r.base == pytest.approx(float(token_loss(model, params, batches)), rel=1e-12)
    np.testing.assert_allclose(r.samples, ref.samples, rtol=1e-12)
    np.testing.assert_allclose(r.error_samples, ref.error_samples, rtol=0, atol=0)
    w = flat_minimum_width(model, CE, batches, 0.05, num_samples=4, grid=4, rtol=1e-2,
                           forward="padded_sequence")
    w_ref = flat_minimum_width(packed, CE, _packed(batches), 0.05, num_samples=4, grid=4,
                               rtol=1e-2, batched=False)
    assert w.width == pytest.approx(w_ref.width, rel=1e-10)


def test_sharpness_is_the_sam_step_of_the_token_loss() -> None:
    model, _ = _models()
    batches = padded_batches(LENGTHS)
    rho = 0.05
    r = sharpness(model, CE, batches, rho, forward="padded_sequence")
    params = {n: p.detach().clone().requires_grad_(True) for n, p in model.named_parameters()}
    g = torch.autograd.grad(token_loss(model, params, batches), list(params.values()))
    flat = torch.cat([t.reshape(-1) for t in g])
    eps = rho * flat / flat.norm()
    torch.testing.assert_close(r.direction, eps, rtol=1e-10, atol=1e-12)
    moved, start = {}, 0
    for n, p in params.items():
        moved[n] = p.detach() + eps[start:start + p.numel()].view_as(p)
        start += p.numel()
    assert r.loss == pytest.approx(float(token_loss(model, moved, batches)), rel=1e-12)


def test_surfaces_are_the_token_loss_along_the_direction() -> None:
    model, _ = _models()
    batches = padded_batches(LENGTHS)
    gen = torch.Generator().manual_seed(5)
    d = {n: torch.randn(p.shape, dtype=p.dtype, generator=gen)
         for n, p in model.named_parameters()}
    alphas = [-0.5, 0.0, 0.3]
    r = surface_1d(model, CE, batches, alphas=alphas, direction=d, forward="padded_sequence")
    w = {n: p.detach() for n, p in model.named_parameters()}
    want = [float(token_loss(model, {n: w[n] + a * d[n] for n in w}, batches)) for a in alphas]
    np.testing.assert_allclose(r.loss, want, rtol=1e-12)
    r2 = surface_2d(model, CE, batches, xs=[0.0, 0.3], ys=[-0.2, 0.0], seed=1,
                    forward="padded_sequence")
    assert r2.loss.shape == (2, 2) and r2.loss[0, 1] == pytest.approx(r.base, rel=1e-12)


def test_local_entropy_matches_the_packed_problem() -> None:
    model, packed = _models()
    batches = padded_batches(LENGTHS)
    kw = {"num_chains": 2, "num_steps": 6, "burn_in": 2, "seed": 0}
    r = local_entropy(model, CE, batches, [1e3, 1e4], forward="padded_sequence", **kw)
    ref = local_entropy(packed, CE, _packed(batches), [1e3, 1e4], **kw)
    np.testing.assert_allclose(r.loss_chains, ref.loss_chains, rtol=1e-8)
    np.testing.assert_allclose(r.delta_log_z, ref.delta_log_z, rtol=1e-8)
    assert r.beta == ref.beta == 15  # beta = N counts tokens
    assert r.base == pytest.approx(ref.base, rel=1e-12)
