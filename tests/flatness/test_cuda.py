"""Flatness measurements on CUDA against the same measurements on the CPU (float64).

Skipped without a GPU. The noise is drawn on the CPU from per-draw streams, so a CUDA run uses
the very draws of a CPU run and the curves agree to rounding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from landscape.flatness import local_energy, sharpness, surface_2d
from landscape.models import MLP
from tests.flatness.test_fused import _calibrate_bn, _data

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


def _cuda(data):
    return [(x.cuda(), y.cuda()) for x, y in data]


@pytest.mark.parametrize("kind", ["mlp", "batchnorm", "conv"])
def test_local_energy_on_cuda_matches_cpu(kind: str) -> None:
    torch.manual_seed(0)
    data = _data([40, 25])
    if kind == "conv":  # the generic vmap path
        model = nn.Sequential(nn.Unflatten(1, (1, 12)), nn.Conv1d(1, 3, 3), nn.ReLU(),
                              nn.Flatten(), nn.Linear(30, 4)).double().eval()
    else:
        model = MLP(12, 4, depth=2, width=16, batchnorm=kind == "batchnorm").double()
        _calibrate_bn(model, data)
    sig = [0.01, 0.1, 0.3]
    cpu = local_energy(model, nn.CrossEntropyLoss(), data, sig, 9, seed=5, chunk_size=4)
    gpu = local_energy(model.cuda(), nn.CrossEntropyLoss(), _cuda(data), sig, 9, seed=5,
                       chunk_size=4)
    np.testing.assert_allclose(gpu.samples, cpu.samples, rtol=1e-10, atol=0)
    np.testing.assert_array_equal(gpu.error_samples, cpu.error_samples)


def test_surface_and_sharpness_on_cuda_match_cpu() -> None:
    torch.manual_seed(0)
    model = MLP(12, 4, depth=2, width=16).double().eval()
    data = _data([40, 25])
    coords = np.linspace(-1, 1, 7)
    cpu = surface_2d(model, nn.CrossEntropyLoss(), data, xs=coords, ys=coords[:4], seed=1)
    cpu_sharp = sharpness(model, nn.CrossEntropyLoss(), data, rho=0.05)
    model = model.cuda()
    gpu = surface_2d(model, nn.CrossEntropyLoss(), _cuda(data), xs=coords, ys=coords[:4], seed=1)
    gpu_sharp = sharpness(model, nn.CrossEntropyLoss(), _cuda(data), rho=0.05)
    np.testing.assert_allclose(gpu.loss, cpu.loss, rtol=1e-10, atol=0)
    np.testing.assert_allclose(gpu_sharp.delta_loss, cpu_sharp.delta_loss, rtol=1e-8, atol=1e-12)
