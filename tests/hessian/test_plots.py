"""The plot helpers draw what they are given."""

from __future__ import annotations

import numpy as np
import torch

from landscape.hessian import eigenvalues, spectral_density
from landscape.hessian.plots import plot_density, plot_topk


def test_density_and_topk_plots() -> None:
    A = torch.diag(torch.linspace(0.0, 2.0, 60, dtype=torch.float64))
    slq = spectral_density(A, num_probes=3, num_steps=10)
    ax = plot_density(slq)
    line = ax.get_lines()[0]
    smooth = slq.density()
    np.testing.assert_allclose(line.get_ydata(), smooth.density + 1e-7)
    assert ax.get_yscale() == "log"
    top = eigenvalues(A, k=3)
    ax2 = plot_topk(top)
    assert ax2.get_xlabel() == "rank (largest)"
    ax2.figure.canvas.draw()
