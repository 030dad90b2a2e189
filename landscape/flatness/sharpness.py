"""Worst-case sharpness: the largest loss increase within a ρ-ball around the weights.

.. math::
    S_\\rho(w) = \\max_{\\lVert T_w^{-1} \\varepsilon \\rVert_2 \\le \\rho}
    L(w + \\varepsilon) - L(w),
    \\qquad T_w = I \\ (\\text{"l2"}), \\quad T_w = \\operatorname{diag}(|w| + \\eta)
    \\ (\\text{"adaptive"}),

the inner problem of SAM (Foret et al., ICLR 2021; ``davda54/sam``) and of its scale-invariant
variant ASAM (Kwon et al., ICML 2021). ``L`` is the size-weighted mean loss over all batches.

- ``steps=1``: SAM's one ascent step ``ε = ρ T² g / ‖T g‖`` with ``g = ∇L(w)`` (for ``"l2"``,
  ``ρ g/‖g‖``). It is the exact maximiser of the first-order model of ``L``, and a lower bound of
  ``S_ρ``.
- ``steps > 1``: projected normalised gradient ascent in ``u = T⁻¹ε`` started from that step:
  ``u ← P_ρ(u + α ∇_u/‖∇_u‖)``, where ``P_ρ`` projects onto the ball; a step that does not
  increase the loss is rejected and ``α`` halved (the step-size control of APGD, Croce & Hein 2020,
  used for sharpness by Andriushchenko et al. 2023), starting from ``α = ρ/2``. The best iterate is
  returned, so the result is never below the one-step value and never above ``S_ρ``.

The training error at the returned point is reported as well (``Δerror``); the ascent maximises
the loss, not the error. The model must be in eval mode (BatchNorm uses its stored statistics,
never updated here, unlike SAM's training passes, ``davda54/sam`` #17).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from landscape.errors import ConfigError, NonFiniteError
from landscape.flatness._evaluate import Evaluator, LossFn, check_mode
from landscape.forward import Forward
from landscape.hessian._checks import check_choice, check_positive
from landscape.hessian._data import ParamSelection, select_parameters

#: The ball: ``"l2"`` (SAM) or ``"adaptive"`` (ASAM's element-wise ``T_w = |w| + η``).
SharpnessNorm = Literal["l2", "adaptive"]


@dataclass(frozen=True, eq=False)
class SharpnessResult:
    """The worst-case perturbation found in the ρ-ball and its loss and error increase.

    Attributes:
        rho, norm, steps, eta: the settings.
        base, loss: ``L(w)`` and ``L(w + ε)``. base_error, error: the training error at both.
        direction: float64 ``[P]`` (CPU), ``ε`` flattened over :attr:`param_names` in order.
        param_names, param_shapes: the perturbed parameters and their shapes.
        history: float64 ``[steps]``, the loss of each accepted-or-rejected iterate.
    """

    rho: float
    norm: str
    steps: int
    eta: float
    base: float
    loss: float
    base_error: float
    error: float
    direction: torch.Tensor
    param_names: tuple[str, ...]
    param_shapes: tuple[tuple[int, ...], ...]
    history: np.ndarray

    @property
    def delta_loss(self) -> float:
        """``L(w + ε) − L(w)``, the sharpness."""
        return self.loss - self.base

    @property
    def delta_error(self) -> float:
        """``error(w + ε) − error(w)``."""
        return self.error - self.base_error

    def direction_dict(self) -> dict[str, torch.Tensor]:
        """``ε`` by parameter name, in the parameters' shapes."""
        out, i = {}, 0
        for n, s in zip(self.param_names, self.param_shapes):
            k = math.prod(s)
            out[n] = self.direction[i: i + k].reshape(s)
            i += k
        return out

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Arrays and attributes for :func:`landscape.store.save_result`."""
        arrays = {"direction": self.direction.numpy(), "history": self.history}
        attrs = {"result_type": type(self).__name__, "rho": self.rho, "norm": self.norm,
                 "steps": self.steps, "eta": self.eta, "base": self.base, "loss": self.loss,
                 "base_error": self.base_error, "error": self.error,
                 "param_names": json.dumps(list(self.param_names)),
                 "param_shapes": json.dumps([list(s) for s in self.param_shapes])}
        return arrays, attrs

    @classmethod
    def from_arrays(cls, arrays: dict[str, Any], attrs: dict[str, Any]) -> SharpnessResult:
        """Rebuild from :meth:`to_arrays` output."""
        def js(v: Any) -> Any:
            return json.loads(v) if isinstance(v, (str, bytes)) else v
        return cls(rho=float(attrs["rho"]), norm=str(attrs["norm"]), steps=int(attrs["steps"]),
                   eta=float(attrs["eta"]), base=float(attrs["base"]),
                   loss=float(attrs["loss"]), base_error=float(attrs["base_error"]),
                   error=float(attrs["error"]),
                   direction=torch.from_numpy(np.array(arrays["direction"])),
                   param_names=tuple(js(attrs["param_names"])),
                   param_shapes=tuple(tuple(s) for s in js(attrs["param_shapes"])),
                   history=np.asarray(arrays["history"], dtype=np.float64))


class _Objective:
    """Full-data loss, error and gradient at ``w + ε`` (private)."""

    def __init__(self, model: nn.Module, loss_fn: LossFn, data: object,
                 names: list[str], forward: Forward | str | None = None) -> None:
        self.ev = Evaluator(model, loss_fn, data, names, forward=forward)
        self.model, self.loss_fn, self.names = model, loss_fn, names

    def __call__(self, theta: list[torch.Tensor]) -> tuple[float, float, list[torch.Tensor]]:
        leaves = [t.detach().requires_grad_(True) for t in theta]
        p = dict(zip(self.names, leaves))
        total, wrong = 0.0, 0.0
        with torch.enable_grad():
            for batch in self.ev.batches():
                lb, out, y, n = self.ev.call(p, batch)
                (lb * (n / self.ev.num_data)).backward()
                total += float(lb.detach()) * n
                o = out.detach()
                wrong += float(self.ev._wrong(o.unsqueeze(0) if isinstance(o, torch.Tensor)
                                              else o, y)[0])
        grads = [t.grad if t.grad is not None else torch.zeros_like(t) for t in leaves]
        if self.ev.group is not None:  # shards: the gradient and the sums over every rank
            flat = torch.cat([g.reshape(-1) for g in grads])
            sums = torch.tensor([total, wrong], dtype=torch.float64, device=flat.device)
            torch.distributed.all_reduce(flat, group=self.ev.group)
            torch.distributed.all_reduce(sums, group=self.ev.group)
            total, wrong = float(sums[0]), float(sums[1])
            grads = [g.view_as(t) for g, t in
                     zip(torch.split(flat, [g.numel() for g in grads]), leaves)]
        loss = total / self.ev.num_data
        if not math.isfinite(loss):
            raise NonFiniteError(f"the loss is {loss} in the rho-ball; use a smaller rho")
        return loss, wrong / self.ev.num_data, grads


def _norm(ts: list[torch.Tensor]) -> float:
    return math.sqrt(sum(float((t.double() ** 2).sum()) for t in ts))


def sharpness(model: nn.Module, loss_fn: LossFn, data: object, rho: float, *,
              norm: SharpnessNorm = "l2", steps: int = 1, step_size: float | None = None,
              eta: float = 0.0, params: ParamSelection = None,
              forward: Forward | str | None = None) -> SharpnessResult:
    """Worst-case sharpness in a ρ-ball (see the module docstring).

    Args:
        model, loss_fn, data: as for :func:`~landscape.flatness.local_energy`; the model must
            be in eval mode and is not modified.
        rho: radius ρ ≥ 0 of the ball (in ``T⁻¹``-scaled coordinates for ``"adaptive"``).
        norm: ``"l2"`` (default, SAM) or ``"adaptive"`` (ASAM).
        steps: ascent steps (gradient evaluations after the one at ``w``). Default ``1``
            (SAM's single step).
        step_size: initial ``α`` of the multi-step ascent. Default ``ρ/2``.
        eta: ASAM's ``η`` in ``T_w = |w| + η``. Default ``0`` (``davda54/sam`` and
            Andriushchenko et al. 2023); Kwon et al. use ``0.01``.
        params: which parameters are perturbed (``None``: all trainable ones).
        forward: structured batches, ``forward(model, batch) -> (outputs, targets)``
            (:mod:`landscape.forward`); a batch weighs ``len(targets)``.

    Returns:
        :class:`SharpnessResult` with ``delta_loss``, ``delta_error`` and the direction ``ε``.

    Example:
        >>> model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)).double().eval()
        >>> x, y = torch.randn(32, 4, dtype=torch.float64), torch.randint(0, 3, (32,))
        >>> r = sharpness(model, nn.CrossEntropyLoss(), (x, y), 0.05)
        >>> round(float(r.direction.norm()), 12), r.delta_loss > 0
        (0.05, True)
    """
    rho = float(rho)
    if not math.isfinite(rho) or rho < 0:
        raise ConfigError(f"rho must be finite and >= 0, got {rho}")
    check_choice("norm", norm, ("l2", "adaptive"))
    steps = check_positive("steps", steps)
    if eta < 0:
        raise ConfigError(f"eta must be >= 0, got {eta}")
    check_mode(model, "stored")
    names, tensors = select_parameters(model, params)
    w = [t.detach() for t in tensors]
    f = _Objective(model, loss_fn, data, names, forward)
    T = [t.abs() + eta for t in w] if norm == "adaptive" else [torch.ones_like(t) for t in w]
    base, base_err, g = f(w)

    def at(u: list[torch.Tensor]) -> list[torch.Tensor]:
        return [wi + ti * ui for wi, ti, ui in zip(w, T, u)]

    def ascent(grads: list[torch.Tensor]) -> list[torch.Tensor]:
        tg = [ti * gi for ti, gi in zip(T, grads)]             # ∇_u L(w + T u) = T g
        n = _norm(tg)
        return [torch.zeros_like(t) for t in tg] if n == 0 else [t / n for t in tg]

    u = [rho * d for d in ascent(g)]
    loss, err, g = f(at(u))
    history = [loss]
    best = (loss, err, u, g)
    alpha = rho / 2 if step_size is None else float(step_size)
    for _ in range(steps - 1):
        if rho == 0 or alpha < 1e-12 * rho:
            break
        cand = [ui + alpha * di for ui, di in zip(best[2], ascent(best[3]))]
        n = _norm(cand)
        if n > rho:
            cand = [c * (rho / n) for c in cand]
        loss, err, g = f(at(cand))
        history.append(loss)
        if loss > best[0]:
            best = (loss, err, cand, g)
        else:
            alpha /= 2
    loss, err, u, _ = best
    eps = [ti * ui for ti, ui in zip(T, u)]
    direction = torch.cat([e.reshape(-1) for e in eps]).detach().to("cpu", torch.float64)
    return SharpnessResult(rho=rho, norm=norm, steps=steps, eta=float(eta), base=base,
                           loss=loss, base_error=base_err, error=err, direction=direction,
                           param_names=tuple(names),
                           param_shapes=tuple(tuple(t.shape) for t in w),
                           history=np.array(history, dtype=np.float64))
