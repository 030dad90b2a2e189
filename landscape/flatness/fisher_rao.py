"""The Fisher–Rao norm of the parameters (Liang, Poggio, Rakhlin & Stokes, AISTATS 2019).

.. math::
    \\|\\theta\\|_{fr}^2 = \\theta^\\top F(\\theta)\\,\\theta
      = \\mathbb{E}\\big[\\langle \\theta, \\nabla_\\theta \\ell(f_\\theta(x), y)\\rangle^2\\big],

with ``F = E[∇ℓ ∇ℓᵀ]`` the Fisher information. Two Fishers are offered:

- ``fisher="empirical"``: the expectation is the mean over the samples with their labels,
  ``(1/N) Σ_i ⟨θ, ∇_θ ℓ(f(x_i), y_i)⟩²`` (``ℓ`` is ``loss_fn``).
- ``fisher="model"``: the labels are drawn from the model's own predictive distribution
  ``p(c|x) = softmax(f(x))_c`` and the expectation over ``c`` is taken exactly (no sampling),
  ``(1/N) Σ_i Σ_c p_ic ⟨θ, ∇_θ log p(c|x_i)⟩²``. Here the score is that of the softmax
  likelihood, whatever ``loss_fn`` is (``loss_fn`` is only evaluated to check it).

Neither needs a per-sample gradient. By the chain rule ``⟨θ, ∇_θ ℓ_i⟩ = ⟨∂ℓ_i/∂f_i, ḟ_i⟩``,
where ``ḟ = J_f θ`` is the directional derivative of the outputs along ``θ`` itself, obtained for
a whole batch by the double-backward trick (``u ↦ ⟨Jᵀu, θ⟩`` differentiated in ``u``): one forward
and two backward passes per batch, whatever the number of parameters. For the model Fisher and
logits ``f``, ``⟨θ, ∇ log p(c|x)⟩ = ḟ_c − Σ_k p_k ḟ_k``, so each sample contributes the variance of
``ḟ_c`` under ``c ~ p(·|x)``.

Liang et al.'s identity for a bias-free ReLU network with ``L`` hidden layers (``L + 1`` weight
matrices; ``f`` is positively homogeneous of degree ``L + 1`` in ``θ``) is
``⟨θ, ∂ℓ/∂θ⟩ = (L+1) ⟨∂ℓ/∂f, f⟩``, i.e. ``ḟ = (L+1) f``; the tests use it as a closed form.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from landscape._losses import check_loss_fn
from landscape.errors import ConfigError
from landscape.hessian import _checks, _data
from landscape.hessian._data import ParamSelection

FisherKind = Literal["empirical", "model"]


@dataclass(frozen=True)
class FisherRaoResult:
    """The Fisher–Rao norm ``θᵀFθ`` with the spread of its per-sample terms.

    Attributes:
        value: ``‖θ‖²_fr``, the mean of the per-sample terms (squared Fisher–Rao norm, as in
            Liang et al.'s tables).
        stderr: ``std(terms, ddof=1)/√N``, the standard error of that mean as an estimate of the
            population expectation (the value itself is exact on the given data).
        fisher: ``"empirical"`` or ``"model"``.
        num_samples: ``N``.
        num_params: number of parameters in ``θ`` (the selected block).
    """

    value: float
    stderr: float
    fisher: str
    num_samples: int
    num_params: int

    def __float__(self) -> float:
        return self.value


def _output_tangent(model: nn.Module, params: list[nn.Parameter], x: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Outputs ``f`` and their directional derivative ``ḟ = J_f θ`` along ``θ = params``.

    ``g(u) = J_fᵀ u`` is linear in ``u``, so ``∂⟨g(u), θ⟩/∂u = J_f θ`` (double-backward trick:
    reverse mode only, so every module with a second derivative works).
    """
    with torch.enable_grad():
        out = model(x)
        if not isinstance(out, torch.Tensor) or not out.requires_grad:
            raise ConfigError("the model's output must be a tensor that depends on the selected "
                              "parameters")
        u = torch.zeros_like(out, requires_grad=True)
        g = torch.autograd.grad(out, params, u, create_graph=True, allow_unused=True)
        dot = sum((gi * p.detach()).sum() for gi, p in zip(g, params) if gi is not None)
        if not isinstance(dot, torch.Tensor) or not dot.requires_grad:
            return out.detach(), torch.zeros_like(out.detach())
        (fdot,) = torch.autograd.grad(dot, u)
    return out.detach(), fdot.detach()


def _loss_output_grad(loss_fn: object, out: torch.Tensor, y: object, n: int) -> torch.Tensor:
    """Per-sample ``∂ℓ_i/∂f_i`` from the batch-mean loss: ``n · ∂L_b/∂f``."""
    with torch.enable_grad():
        o = out.detach().requires_grad_(True)
        loss = _checks.check_scalar_loss(loss_fn(o, y))  # type: ignore[operator]
        _checks.check_finite_losses([loss])
        (g,) = torch.autograd.grad(loss, o, allow_unused=True)
    return torch.zeros_like(out) if g is None else g * n


def _batch_terms(model: nn.Module, params: list[nn.Parameter], loss_fn: object,
                 batch: _data.Batch, fisher: str) -> torch.Tensor:
    """The per-sample terms ``[n]`` (float64) of one batch."""
    out, fdot = _output_tangent(model, params, batch.x)
    gout = _loss_output_grad(loss_fn, out, batch.y, batch.n)
    if fisher == "empirical":
        return (gout * fdot).double().reshape(batch.n, -1).sum(1).pow(2)
    if out.ndim != 2:
        raise ConfigError(f"fisher='model' needs logits of shape [batch, classes] (a softmax "
                          f"predictive distribution), got outputs of shape {list(out.shape)}")
    p = torch.softmax(out.double(), dim=1)
    fd = fdot.double()
    score = fd - (p * fd).sum(1, keepdim=True)  # ⟨θ, ∇ log p(c|x)⟩ for every class c
    return (p * score.pow(2)).sum(1)


def fisher_rao(model: nn.Module, loss_fn: object, batches: object, *,
               fisher: FisherKind = "empirical", params: ParamSelection = None
               ) -> FisherRaoResult:
    """The squared Fisher–Rao norm ``θᵀF(θ)θ`` of the model's parameters, with its evidence.

    Args:
        model: the network, in eval mode (BatchNorm in train mode or active dropout would make
            the per-sample terms depend on the batch or on chance: refused).
        loss_fn: ``loss_fn(outputs, targets)`` → the **mean** loss over the batch, a sum of
            per-sample terms each depending only on its own output (e.g.
            ``nn.CrossEntropyLoss()``); ``∂ℓ_i/∂f_i`` is read off as ``n·∂L_b/∂f_i``.
        batches: one ``(x, y)`` batch or an iterable of them (a one-shot iterator is read once);
            only the first two entries of a batch are used.
        fisher: ``"empirical"`` (labels of the data, default, as in Liang et al.'s experiments)
            or ``"model"`` (labels from the softmax of the outputs, exact expectation).
        params: the parameters forming ``θ``: ``None`` (all trainable ones), a glob pattern, a
            list of names or a predicate (see :class:`~landscape.hessian.HessianOperator`).

    Returns:
        :class:`FisherRaoResult` (``float(result)`` is the value).

    Raises:
        ConfigError: unknown ``fisher``, a non-scalar loss, no data, or ``fisher="model"``
            with outputs that are not ``[batch, classes]`` logits.
        NonDeterministicError: BatchNorm or dropout in train mode.
        NonFiniteError: a non-finite loss.

    Cost: one forward and two backward passes per batch (plus one backward through the loss).

    Example:
        >>> import torch
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)).double().eval()
        >>> x, y = torch.randn(32, 4, dtype=torch.float64), torch.randint(0, 3, (32,))
        >>> r = fisher_rao(model, nn.CrossEntropyLoss(), [(x[:20], y[:20]), (x[20:], y[20:])])
        >>> r.num_samples, r.value > 0
        (32, True)
    """
    _checks.check_choice("fisher", fisher, ("empirical", "model"))
    loss_fn = check_loss_fn(loss_fn)
    if not isinstance(model, nn.Module):
        raise ConfigError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    _checks.raise_nondeterministic(_checks.stochastic_modules(model))
    _, tensors = _data.select_parameters(model, params)
    device, dtype = tensors[0].device, tensors[0].dtype
    if isinstance(batches, Iterator):
        batches = list(batches)
    _data.check_reiterable(batches)
    terms = [_batch_terms(model, tensors, loss_fn, b, fisher)
             for b in _data.iterate(batches, device, dtype)]
    if not terms:
        raise ConfigError("batches yields no batch")
    t = torch.cat(terms).cpu()
    n = int(t.numel())
    stderr = float(t.std(correction=1)) / math.sqrt(n) if n > 1 else math.nan
    return FisherRaoResult(value=float(t.mean()), stderr=stderr, fisher=fisher,
                           num_samples=n, num_params=sum(p.numel() for p in tensors))


def fisher_rao_norm(model: nn.Module, loss_fn: object, batches: object, *,
                    fisher: FisherKind = "empirical", params: ParamSelection = None) -> float:
    """``‖θ‖²_fr = θᵀF(θ)θ`` as a float (a measure ``fn(model, loss_fn, batches, **settings)``).

    Lower means flatter/simpler (Liang et al. 2019 report it correlating with the generalisation
    gap). See :func:`fisher_rao` for the arguments and the maths.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Linear(4, 3, bias=False)).double().eval()
        >>> x, y = torch.randn(16, 4, dtype=torch.float64), torch.randint(0, 3, (16,))
        >>> emp = fisher_rao_norm(model, nn.CrossEntropyLoss(), (x, y))
        >>> mod = fisher_rao_norm(model, nn.CrossEntropyLoss(), (x, y), fisher="model")
        >>> emp > 0 and mod > 0
        True
    """
    return fisher_rao(model, loss_fn, batches, fisher=fisher, params=params).value
