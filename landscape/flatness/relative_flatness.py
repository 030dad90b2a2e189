"""Relative flatness of one layer (Petzka, Kamp, Adilova, Sminchisescu & Boley, NeurIPS 2021).

For a fully connected layer with weight matrix ``W ∈ R^{d×m}`` (rows ``w_s``, the feature layer
``φ`` being the layer's input) and the Hessian ``H`` of the mean training loss w.r.t. ``W``,

.. math::
    \\kappa^\\phi_{Tr}(w) = \\sum_{s,s'=1}^{d} \\langle w_s, w_{s'}\\rangle\\,
        \\operatorname{Tr}(H_{s,s'})
      = \\operatorname{Tr}\\big(H\\,(G \\otimes I_m)\\big),\\qquad G = W W^\\top,

where ``H_{s,s'}`` is the ``m × m`` block of second derivatives w.r.t. rows ``s`` and ``s'``
(``W`` flattened row-major, so ``(s, i)`` is entry ``s·m + i``). With the factorisation
``G = C Cᵀ`` (``C = U Λ^{1/2}`` from the eigendecomposition of ``G``, keeping its ``r ≤ min(d, m)``
non-zero eigenvalues) the measure is the trace of an ``rm × rm`` symmetric operator,

.. math::
    \\kappa = \\operatorname{Tr}(B),\\qquad B = (C \\otimes I_m)^\\top H\\,(C \\otimes I_m),
    \\qquad B\\,\\operatorname{vec}(Z) = \\operatorname{vec}\\big(C^\\top
        \\operatorname{mat}(H \\operatorname{vec}(C Z))\\big),

so one product with ``B`` is one Hessian-vector product of the layer block (a
:class:`~landscape.hessian.HessianOperator` with ``params=`` the layer's weight; the bias and the
other layers are held fixed). ``method="exact"`` sums ``Tr(B)`` from its ``rm`` basis columns
(``r·m`` HVPs, in blocks of ``block_size`` per data pass); ``method="hutch++"``/``"hutchinson"``
estimates it with :func:`landscape.hessian.trace` from ``num_matvecs`` HVPs, unbiased, with a
standard error. ``"auto"`` is exact when ``r·m ≤ num_matvecs`` (exact costs no more than the
estimate). An HVP costs about 1.6–2.6 gradients (``landscape.hessian.HvpMethod``), so for the last
layer of a 10-class network with 512 hidden units the exact value costs ~5000 HVPs, i.e. ~10⁴
gradient evaluations over the data.

Why relative: rescaling a ReLU network layer-wise (``W → λW`` and the previous layer's weights and
bias by ``1/λ``) leaves the function unchanged and multiplies ``H`` by ``1/λ²`` and ``G`` by ``λ²``,
so ``κ`` is unchanged, whereas the plain Hessian trace ``Tr(H)`` is not (Petzka et al., Thm 5).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from landscape.errors import ConfigError
from landscape.hessian import HessianOperator
from landscape.hessian import trace as trace_estimate
from landscape.hessian._checks import check_choice, check_positive

RelativeFlatnessMethod = Literal["auto", "exact", "hutch++", "hutchinson"]


@dataclass(frozen=True)
class RelativeFlatnessResult:
    """Relative flatness ``κ^φ_Tr`` of one layer, with how it was obtained.

    Attributes:
        value: ``κ^φ_Tr(w)``.
        stderr: standard error of a stochastic estimate; ``0.0`` for ``method="exact"``.
        method: ``"exact"``, ``"hutch++"`` or ``"hutchinson"`` (after ``"auto"``).
        layer: the module name of the layer (its weight is ``f"{layer}.weight"``).
        rank: ``r``, the rank of ``W Wᵀ`` used (the operator ``B`` has side ``r·m``).
        num_matvecs: Hessian-vector products spent.
    """

    value: float
    stderr: float
    method: str
    layer: str
    rank: int
    num_matvecs: int

    def __float__(self) -> float:
        return self.value


def default_layer(model: nn.Module) -> str:
    """The name of the model's last :class:`torch.nn.Linear` module (the paper's choice)."""
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not names:
        raise ConfigError("the model has no nn.Linear layer; relative flatness needs a fully "
                          "connected layer (pass layer= the name of one)")
    return names[-1]


class _RelativeOperator:
    """``B = (C ⊗ I)ᵀ H (C ⊗ I)`` on ``R^{r·m}`` (the operator interface of the estimators)."""

    def __init__(self, H: HessianOperator, C: torch.Tensor, m: int) -> None:
        self.H, self.C, self.m = H, C.to(device=H.device, dtype=H.dtype), m
        self.r = int(C.shape[1])

    @property
    def shape(self) -> tuple[int, int]:
        return (self.r * self.m, self.r * self.m)

    @property
    def dtype(self) -> torch.dtype:
        return self.H.dtype

    @property
    def device(self) -> torch.device:
        return self.H.device

    def __matmul__(self, v: torch.Tensor) -> torch.Tensor:
        single = v.ndim == 1
        block = v.reshape(self.r, self.m, -1).to(device=self.device, dtype=self.dtype)
        k = block.shape[2]
        up = torch.einsum("dr,rmk->dmk", self.C, block).reshape(-1, k)
        hv = (self.H @ up).reshape(self.C.shape[0], self.m, k)
        out = torch.einsum("dr,dmk->rmk", self.C, hv).reshape(self.r * self.m, k)
        return out[:, 0] if single else out


def _factor(W: torch.Tensor) -> torch.Tensor:
    """``C`` with ``C Cᵀ = W Wᵀ`` and full column rank (float64, on the CPU)."""
    G = W.detach().double().cpu() @ W.detach().double().cpu().t()
    lam, U = torch.linalg.eigh(G)
    keep = lam > lam.max().clamp_min(0) * G.shape[0] * torch.finfo(torch.float64).eps
    return U[:, keep] * lam[keep].sqrt()


def _exact_trace(B: _RelativeOperator, block_size: int) -> float:
    n = B.shape[0]
    total = 0.0
    for s in range(0, n, block_size):
        cols = torch.eye(n, dtype=torch.float64)[:, s:s + block_size]
        total += float((cols * (B @ cols).double().cpu()).sum())
    return total


def relative_flatness_result(model: nn.Module, loss_fn: object, batches: object, *,
                             layer: str | None = None, method: RelativeFlatnessMethod = "auto",
                             num_matvecs: int = 100, seed: int = 0, block_size: int = 10
                             ) -> RelativeFlatnessResult:
    """Relative flatness ``κ^φ_Tr`` of a fully connected layer, with its evidence.

    Args:
        model: the network (eval mode: BatchNorm in train mode or dropout is refused by the
            Hessian operator).
        loss_fn: ``loss_fn(outputs, targets)`` → the mean loss over the batch.
        batches: one ``(x, y)`` batch or a re-iterable of them (a one-shot iterator is
            materialised into a list); batches are weighted by their size.
        layer: the module name of an ``nn.Linear`` layer; default: the last one (Petzka et al.
            measure the penultimate feature layer, i.e. the classifier's weights).
        method: ``"auto"`` (exact if ``r·m ≤ num_matvecs``, else ``"hutch++"``), ``"exact"``
            (``r·m`` HVPs), ``"hutch++"`` or ``"hutchinson"`` (``num_matvecs`` HVPs).
        num_matvecs: HVP budget of the stochastic methods. Default ``100`` (the default of
            :func:`landscape.hessian.trace`, PyHessian's).
        seed: seed of the stochastic probes.
        block_size: HVPs per pass over the data.

    Returns:
        :class:`RelativeFlatnessResult` (``float(result)`` is the value).

    Raises:
        ConfigError: unknown layer or method, a layer that is not ``nn.Linear``, bad data.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3)).double().eval()
        >>> x, y = torch.randn(40, 4, dtype=torch.float64), torch.randint(0, 3, (40,))
        >>> r = relative_flatness_result(model, nn.CrossEntropyLoss(), (x, y), method="exact")
        >>> r.layer, r.rank, r.num_matvecs
        ('2', 3, 18)
    """
    check_choice("method", method, ("auto", "exact", "hutch++", "hutchinson"))
    num_matvecs = check_positive("num_matvecs", num_matvecs)
    block_size = check_positive("block_size", block_size)
    if not isinstance(model, nn.Module):
        raise ConfigError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    name = default_layer(model) if layer is None else layer
    module = dict(model.named_modules()).get(name)
    if not isinstance(module, nn.Linear):
        linear = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
        raise ConfigError(f"layer {name!r} is not an nn.Linear module of the model; linear "
                          f"layers: {linear}")
    if isinstance(batches, Iterator):
        batches = list(batches)
    H = HessianOperator(model, loss_fn, batches, params=[f"{name}.weight"])
    C = _factor(module.weight)
    B = _RelativeOperator(H, C, int(module.weight.shape[1]))
    size = B.shape[0]
    if method == "auto":
        method = "exact" if size <= num_matvecs else "hutch++"
    if size == 0:  # W = 0: κ = 0 exactly
        return RelativeFlatnessResult(0.0, 0.0, "exact", name, 0, 0)
    if method == "exact":
        value, stderr, used = _exact_trace(B, block_size), 0.0, size
    else:
        t = trace_estimate(B, num_matvecs, method=method, seed=seed, block_size=block_size)
        value, stderr, used = t.estimate, t.stderr, t.num_matvecs
    return RelativeFlatnessResult(value=value, stderr=stderr, method=method, layer=name,
                                  rank=int(C.shape[1]), num_matvecs=used)


def relative_flatness(model: nn.Module, loss_fn: object, batches: object, *,
                      layer: str | None = None, method: RelativeFlatnessMethod = "auto",
                      num_matvecs: int = 100, seed: int = 0) -> float:
    """``κ^φ_Tr`` as a float (a measure ``fn(model, loss_fn, batches, **settings)``).

    Lower means flatter relative to the weights' scale. See :func:`relative_flatness_result`.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3)).double().eval()
        >>> x, y = torch.randn(40, 4, dtype=torch.float64), torch.randint(0, 3, (40,))
        >>> relative_flatness(model, nn.CrossEntropyLoss(), (x, y)) > 0
        True
    """
    return relative_flatness_result(model, loss_fn, batches, layer=layer, method=method,
                                    num_matvecs=num_matvecs, seed=seed).value
