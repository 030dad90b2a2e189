"""Linear interpolation between two trained models: :func:`interpolation`, the loss along
``θ(α) = (1−α) θ_a + α θ_b`` (Goodfellow et al. 2015), with BatchNorm running statistics
interpolated along with the weights (``bn="interpolate"``, Li et al.'s ``dir_type=states``) or
re-estimated at every point (``bn="recalibrate"``). Importable from
:mod:`landscape.flatness.surfaces` as before.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from landscape.errors import ConfigError
from landscape.flatness._evaluate import LossFn
from landscape.flatness.local_energy import DEFAULT_MEMORY_BUDGET
from landscape.flatness.surfaces import (
    Coords,
    InterpolationBN,
    Surface1DResult,
    _Grid,
    check_coords,
)
from landscape.forward import Forward
from landscape.hessian._checks import check_choice


def interpolation(model_a: nn.Module, model_b: nn.Module, loss_fn: LossFn, data: object, *,
                  alphas: Coords, bn: InterpolationBN = "interpolate",
                  bn_batches: int | None = None, chunk_size: int | None = None,
                  memory_budget: int = DEFAULT_MEMORY_BUDGET, batched: bool = True,
                  progress: bool = False, forward: Forward | str | None = None
                  ) -> Surface1DResult:
    """The loss along the straight line ``θ(α) = (1−α) θ_a + α θ_b`` between two models.

    ``α = 0`` is model a and ``α = 1`` model b exactly; other ``alphas`` extrapolate.

    Args:
        model_a, model_b: the same architecture (same parameter and buffer names and shapes),
            in eval mode; never modified.
        bn: ``"interpolate"`` (default) moves every floating-point buffer (BatchNorm running
            mean and variance) along the same line as the weights (Li et al.'s
            ``dir_type=states``); ``"recalibrate"`` re-estimates the BatchNorm statistics at
            every point from ``bn_batches`` batches of ``data`` (SWA's ``update_bn``). Integer
            buffers (``num_batches_tracked``) are model a's. Without BatchNorm both agree.
        Other arguments as :func:`surface_1d`.

    Returns:
        :class:`Surface1DResult` with ``kind="interpolation"`` and ``base`` the value at ``α=0``.
    """
    check_choice("bn", bn, ("interpolate", "recalibrate"))
    a = check_coords("alphas", alphas)
    sa = dict(model_a.named_parameters()) | dict(model_a.named_buffers())
    sb = dict(model_b.named_parameters()) | dict(model_b.named_buffers())
    if set(sa) != set(sb) or any(sa[n].shape != sb[n].shape for n in sa):
        raise ConfigError("model_a and model_b must have the same parameter and buffer names "
                          "and shapes")
    names = [n for n, _ in model_a.named_parameters()]
    if bn == "interpolate":
        names += [n for n, b in model_a.named_buffers() if b.is_floating_point()]
    grid = _Grid(model_a, loss_fn, data, names, bn=bn, bn_batches=bn_batches,
                 chunk_size=chunk_size, memory_budget=memory_budget, batched=batched,
                 forward=forward)
    ta = {n: sa[n].detach() for n in names}
    tb = {n: sb[n].detach().to(device=ta[n].device, dtype=ta[n].dtype) for n in names}

    def stack(al: np.ndarray) -> dict[str, torch.Tensor]:
        out = {}
        for n, wa in ta.items():
            c = torch.as_tensor(al, dtype=wa.dtype, device=wa.device).reshape(-1, *[1] * wa.ndim)
            out[n] = (1 - c) * wa.unsqueeze(0) + c * tb[n].unsqueeze(0)
        return out

    loss, err = np.empty(a.size), np.empty(a.size)
    with tqdm(total=a.size, desc="interpolation", disable=not progress, leave=False) as bar:
        for start in range(0, a.size, grid.chunk):
            sl = slice(start, start + grid.chunk)
            loss[sl], err[sl] = grid(stack(a[sl]))
            bar.update(a[sl].size)
    base, base_err = grid(stack(np.zeros(1)))
    return Surface1DResult(alphas=a, loss=loss, error=err, base=float(base[0]),
                           base_error=float(base_err[0]), kind="interpolation", norm="none",
                           biasbn="perturb", bn=bn, seed=-1, num_data=grid.evaluator.num_data)
