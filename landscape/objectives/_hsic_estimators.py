"""The HSIC estimators of the HSIC bottleneck (private; importable from
:mod:`landscape.objectives.hsic`): Gaussian kernels, the biased HSIC estimate and its normalised
form, after the authors' code choasma/HSIC-bottleneck (``source/hsicbt/math/hsic.py``), and the
greedy assignment of output units to classes.
"""

from __future__ import annotations

import torch

from landscape.errors import ConfigError


def flat(a: torch.Tensor) -> torch.Tensor:
    return a.reshape(a.shape[0], -1)


def gaussian_kernel(a: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian kernel matrix with a per-dimension width: K_ij = exp(−‖a_i − a_j‖² / (2σ²·d)).

    ``a`` is ``[m, ...]``, flattened to ``[m, d]``. Scaling the width by the dimension d is the
    authors' code (``kernelmat``), so one σ serves layers of any width.
    """
    a = flat(a)
    sq = (a * a).sum(dim=1)
    dist = (sq[:, None] - 2.0 * a @ a.T + sq[None, :]).abs()  # as the code's ``distmat``
    return torch.exp(-dist / (2.0 * sigma * sigma * a.shape[1]))


def _right_centred(k: torch.Tensor) -> torch.Tensor:
    """K·H with H = I − (1/m)·11ᵀ: every row minus its mean."""
    return k - k.mean(dim=1, keepdim=True)


def hsic(a: torch.Tensor, b: torch.Tensor, sigma: float) -> torch.Tensor:
    """The (biased) HSIC estimator (m − 1)⁻²·tr(K_a H K_b H) with :func:`gaussian_kernel`."""
    m = a.shape[0]
    ka, kb = _right_centred(gaussian_kernel(a, sigma)), _right_centred(gaussian_kernel(b, sigma))
    return (ka * kb.T).sum() / (m - 1) ** 2


def normalized_hsic(a: torch.Tensor, b: torch.Tensor, sigma: float,
                    epsilon: float = 1e-5) -> torch.Tensor:
    """Normalised HSIC nHSIC(a, b) = tr(K̃_a K̃_b), K̃ = K̄(K̄ + ε·m·I)⁻¹, K̄ = K·H.

    As the authors' ``hsic_normalized_cca``: the kernel is centred on the right only, and
    ε = 1e-5 by default. K̄ commutes with (K̄ + εmI)⁻¹, so K̃ is computed by one linear solve.
    Costs O(m³) in the batch size m.
    """
    m = a.shape[0]
    eye = torch.eye(m, dtype=a.dtype, device=a.device)

    def tilde(x: torch.Tensor) -> torch.Tensor:
        kc = _right_centred(gaussian_kernel(x, sigma))
        return torch.linalg.solve(kc + epsilon * m * eye, kc)

    ra, rb = tilde(a), tilde(b.to(a.dtype))
    return (ra * rb.T).sum()


def greedy_class_units(mean_activations: torch.Tensor) -> torch.Tensor:
    """The unformatted read-out's class → unit map from per-class mean activations ``[C, U]``.

    Classes in order 0, 1, …: class c takes the unit with the largest mean activation over
    class c's samples among the units not taken yet (the authors' ``get_accuracy_hsic``).
    A row of NaN (a class without samples) takes the first free unit. Returns ``[C]`` unit indices.
    """
    c, u = mean_activations.shape
    if u < c:
        raise ConfigError(f"the unformatted read-out needs at least one unit per class in the last"
                          f" hidden layer: {u} units for {c} classes")
    free = torch.ones(u, dtype=torch.bool)
    units = torch.empty(c, dtype=torch.long)
    for cls in range(c):
        row = torch.nan_to_num(mean_activations[cls].double(), nan=float("-inf"))
        row = row.masked_fill(~free, float("-inf"))
        pick = int(torch.argmax(row)) if bool(torch.isfinite(row).any()) \
            else int(torch.nonzero(free)[0])
        units[cls] = pick
        free[pick] = False
    return units
