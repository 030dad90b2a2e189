"""Flatness of trained networks: local energy, flat-minimum width, PAC-Bayes σ, sharpness.

Average-case flatness:
    :func:`local_energy` → :class:`LocalEnergyResult`: δE(σ) = E_z[L(w + σ d(z))] − L(w) as a
    curve over σ, for the loss and the training error, perturbed copies evaluated in vmapped
    chunks, resumable per σ from a checkpoint (:mod:`landscape._checkpoint`).
    Noise models: :mod:`landscape.flatness.perturbations`.
Width:
    :func:`flat_minimum_width` → :class:`WidthResult` (the σ where δE crosses a threshold, by
    bisection in log σ with common random numbers, with a confidence interval);
    :func:`pac_bayes_sigma` → :class:`PacBayesSigmaResult` (Jiang et al. 2020's σ search).
Worst case:
    :func:`sharpness` → :class:`SharpnessResult` (largest loss increase in a ρ-ball, L2 or
    element-wise adaptive, one ascent step or projected gradient ascent).

Example:
    >>> import torch
    >>> from torch import nn
    >>> from landscape.flatness import local_energy
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)).double().eval()
    >>> x, y = torch.randn(64, 4, dtype=torch.float64), torch.randint(0, 3, (64,))
    >>> r = local_energy(model, nn.CrossEntropyLoss(), (x, y), [0.0, 0.05, 0.1], 16)
    >>> r.delta.shape, r.error_samples.shape
    ((3,), (3, 16))
"""

from __future__ import annotations

from landscape.flatness.directions import (
    Directions,
    hessian_plane,
    random_direction,
    random_plane,
)
from landscape.flatness.interpolation import interpolation
from landscape.flatness.local_energy import (
    BNPolicy,
    LocalEnergyResult,
    local_energy,
)
from landscape.flatness.local_entropy import (
    LocalEntropyResult,
    local_entropy,
)
from landscape.flatness.perturbations import (
    BiasBN,
    NoiseModel,
    default_biasbn,
    random_directions,
)
from landscape.flatness.sharpness import SharpnessNorm, SharpnessResult, sharpness
from landscape.flatness.surfaces import (
    PCAPlane,
    Surface1DResult,
    Surface2DResult,
    pca_plane,
    surface_1d,
    surface_2d,
)
from landscape.flatness.width import (
    PacBayesSigmaResult,
    Quantity,
    WidthResult,
    flat_minimum_width,
    pac_bayes_sigma,
)

__all__ = [
    "BNPolicy",
    "BiasBN",
    "Directions",
    "LocalEnergyResult",
    "LocalEntropyResult",
    "NoiseModel",
    "PCAPlane",
    "PacBayesSigmaResult",
    "Quantity",
    "SharpnessNorm",
    "SharpnessResult",
    "Surface1DResult",
    "Surface2DResult",
    "WidthResult",
    "default_biasbn",
    "flat_minimum_width",
    "hessian_plane",
    "interpolation",
    "local_energy",
    "local_entropy",
    "pac_bayes_sigma",
    "pca_plane",
    "random_direction",
    "random_directions",
    "random_plane",
    "sharpness",
    "surface_1d",
    "surface_2d",
]
