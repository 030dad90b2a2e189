"""A fused evaluator of ``K`` weight copies of a chain of linear layers (private).

:func:`plan` recognises, structurally, a network that is a chain ``[flatten] → Linear →
(eval-mode BatchNorm1d) → elementwise activation → ... → Linear`` (``landscape.models.MLP``, a
plain ``nn.Sequential`` of such modules): the model is traced with ``torch.fx`` and every node
must take the previous node's output, and nothing else, and be one of the recognised module types
or ``flatten``; no module may carry hooks or parametrisations. Anything else gives ``None`` and
the caller keeps its generic ``functional_call``-under-``vmap`` path.

:meth:`FusedPlan.outputs` then evaluates ``K`` copies with a few large GEMMs per row chunk instead
of a vmapped module call: a layer whose input is shared by all copies and whose weight is stacked
is one ``baddbmm`` of the shared input (a stride-0 expansion, no copy) against the ``K`` weights,
a stacked input with stacked weights is a ``baddbmm`` over ``K``, a stacked input with a shared
weight is one ``addmm`` over all ``K·n`` rows; biases enter the GEMM (``beta = 1``) and
activations are applied in place. An eval-mode BatchNorm1d right after a linear layer is folded
into it (``W' = α W``, ``b' = α b + β − α μ`` with ``α = γ / √(σ² + ε)``, the affine map that
``F.batch_norm`` applies in eval mode). The numbers equal the generic path up to rounding (the
order of the bias addition and the BatchNorm folding).

Three more savings, each measured on the digits MLP below: (1) the layer outputs go into two
work buffers kept with the model (:data:`_PLANS`, with the traced steps) instead of fresh
multi-MiB tensors, whose page faults cost ~0.45 ms per 4 MiB against a ~2 ms GEMM (1.31 → 0.97
ms per perturbed model); (2) a narrow stacked layer (a classifier head, fewer than
:data:`NARROW` outputs) computes ``W hᵀ`` (4-5x faster at 10 outputs); (3) when the copies'
weights are affine in a few fixed directions (local energy across σ, a line or a plane), the
first layer is ``B + Σ_j c_kj P_j`` from products computed once (:class:`FirstLayer`).

Measured on a shared 2-core AMD EPYC (MKL, fp32, 2 threads), digits MLP 64→128→128→10: a
stride-0 ``baddbmm`` for the first layer was as fast as or faster than one matmul against the
``K`` weights concatenated along the output dimension (whose ``[n, K·h]`` output must then be
transposed to ``[K, n, h]`` for the next layer; a strided or a copied transpose both cost more
than they saved); folding the biases into the GEMMs through a column of ones was no faster than
``baddbmm``. Row blocks holding 1-4 MiB of ``[K, rows, width]`` activations were ~25 % faster
than 8-32 MiB ones (16 and 64 copies), so :data:`ACTIVATION_BUDGET` is 4 MiB, with row chunks of
at least :data:`MIN_ROWS` rows; copies are split into chunks only when ``K`` is so large that the
budget would force smaller row chunks. Consecutive batches are evaluated as one row block (see
:meth:`landscape.flatness._evaluate.Evaluator.stacked`). At these sizes the GEMMs run at
~100-150 GFLOP/s, close to what ``torch.bmm`` reaches on this machine at all.
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

#: Bytes of ``[K, rows, width]`` activations one row chunk may hold.
ACTIVATION_BUDGET = 4 << 20
#: The smallest row chunk (unless the batch is smaller).
MIN_ROWS = 128
#: Stacked layers narrower than this (classifier heads) compute ``W hᵀ`` instead of ``h Wᵀ``:
#: measured 4-5x faster at 2-10 outputs and equal from 32 (``[32, 256, d]`` inputs, d = 64-256).
NARROW = 32


class Unsupported(Exception):
    """Raised when a call cannot take the fused path (the caller falls back)."""


# ---------------------------------------------------------------------------------- steps
@dataclass
class _Linear:
    weight: str
    bias: str | None
    module: nn.Linear
    bn: nn.modules.batchnorm._BatchNorm | None = None
    bn_names: dict[str, str | None] = field(default_factory=dict)


@dataclass
class _Act:
    fn: Callable[[torch.Tensor], torch.Tensor]
    module: nn.Module | None


@dataclass
class _Flatten:
    start: int
    end: int


_Step = _Linear | _Act | _Flatten


def _activation(m: nn.Module) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """An elementwise function equal to ``m`` (in place where that is exact), or ``None``."""
    t = type(m)
    if t is nn.ReLU:
        return torch.relu_
    if t is nn.Tanh:
        return torch.tanh_
    if t is nn.Sigmoid:
        return torch.sigmoid_
    if t is nn.GELU:
        approximate = m.approximate
        return lambda h: F.gelu(h, approximate=approximate)
    if t is nn.ELU:
        alpha = m.alpha
        return lambda h: F.elu(h, alpha)
    if t is nn.Softplus:
        beta, threshold = m.beta, m.threshold
        return lambda h: F.softplus(h, beta, threshold)
    if t is nn.LeakyReLU:
        slope = m.negative_slope
        return lambda h: F.leaky_relu(h, slope)
    if t is nn.SiLU:
        return F.silu
    return None


_FUNCTIONS: dict[Any, Callable[[torch.Tensor], torch.Tensor]] = {
    torch.relu: torch.relu_, F.relu: torch.relu_, torch.tanh: torch.tanh_,
    torch.sigmoid: torch.sigmoid_, F.gelu: F.gelu,
}
_FUNCTION_KWARGS: dict[Any, set[str]] = {F.relu: {"inplace"}, F.gelu: {"approximate"}}
_METHODS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": torch.relu_, "tanh": torch.tanh_, "sigmoid": torch.sigmoid_,
}
_SKIP = (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
         nn.FeatureAlphaDropout)
_LEAVES = (nn.Linear, nn.BatchNorm1d, nn.Flatten, *_SKIP, nn.ReLU, nn.Tanh, nn.Sigmoid, nn.GELU,
           nn.ELU, nn.Softplus, nn.LeakyReLU, nn.SiLU)


def _hooked(model: nn.Module) -> bool:
    """Whether any module (or the global registry) carries hooks the fused path would skip."""
    glob = nn.modules.module
    if glob._global_forward_hooks or glob._global_forward_pre_hooks:
        return True
    for m in model.modules():
        if m._forward_hooks or m._forward_pre_hooks or m._backward_hooks \
                or getattr(m, "parametrizations", None) is not None:
            return True
    return False


def _prefilter(model: nn.Module) -> bool:
    """Cheap structural test before tracing: only recognised leaves and parameter-free
    containers, at least one linear layer, no hooks, no tied parameters."""
    if _hooked(model):
        return False
    named = list(model.named_parameters(remove_duplicate=False))
    if len({id(p) for _, p in named}) != len(named):
        return False
    linear = False
    for m in model.modules():
        children = list(m.children())
        if not children:
            if type(m) not in _LEAVES:
                return False
            linear = linear or type(m) is nn.Linear
        elif m._parameters or m._buffers:
            return False
    return linear


def _flatten_args(node: Any) -> tuple[int, int] | None:
    args = list(node.args[1:])
    kw = dict(node.kwargs)
    start = args[0] if args else kw.pop("start_dim", 0)
    end = args[1] if len(args) > 1 else kw.pop("end_dim", -1)
    if kw or len(args) > 2 or not isinstance(start, int) or not isinstance(end, int):
        return None
    return (start, end) if start >= 1 and (end == -1 or end >= start) else None


def _trace_steps(model: nn.Module) -> list[_Step] | None:
    import torch.fx as fx

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gm = fx.symbolic_trace(model)
    except Exception:  # anything untraceable is just not eligible
        return None
    modules = dict(model.named_modules())
    steps: list[_Step] = []
    prev = None
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            if prev is not None:
                return None
            prev = node
            continue
        if prev is None or not node.args or node.args[0] is not prev or len(prev.users) != 1:
            return None
        others = [a for a in (*node.args[1:], *node.kwargs.values()) if isinstance(a, fx.Node)]
        if others:
            return None
        if node.op == "output":
            return steps if any(isinstance(s, _Linear) for s in steps) else None
        if node.op == "call_module":
            m = modules.get(node.target)
            if m is None or len(node.args) != 1 or node.kwargs:
                return None
            if type(m) is nn.Linear:
                steps.append(_Linear(f"{node.target}.weight",
                                     f"{node.target}.bias" if m.bias is not None else None, m))
            elif type(m) is nn.BatchNorm1d:
                last = steps[-1] if steps else None
                if not isinstance(last, _Linear) or last.bn is not None:
                    return None
                last.bn = m
                last.bn_names = {k: (f"{node.target}.{k}" if getattr(m, k) is not None else None)
                                 for k in ("weight", "bias", "running_mean", "running_var")}
            elif type(m) is nn.Flatten:
                if not (m.start_dim >= 1 and (m.end_dim == -1 or m.end_dim >= m.start_dim)):
                    return None
                steps.append(_Flatten(m.start_dim, m.end_dim))
            elif type(m) in _SKIP:
                steps.append(_Act(lambda h: h, m))
            else:
                fn = _activation(m)
                if fn is None:
                    return None
                steps.append(_Act(fn, m))
        elif (node.op == "call_method" and node.target == "flatten") \
                or (node.op == "call_function" and node.target is torch.flatten):
            fl = _flatten_args(node)
            if fl is None:
                return None
            steps.append(_Flatten(*fl))
        elif node.op == "call_method" and node.target in _METHODS \
                and len(node.args) == 1 and not node.kwargs:
            steps.append(_Act(_METHODS[node.target], None))
        elif node.op == "call_function" and node.target in _FUNCTIONS and len(node.args) == 1:
            allowed = _FUNCTION_KWARGS.get(node.target, set())
            if not set(node.kwargs) <= allowed:
                return None
            if node.target is F.gelu:
                approximate = node.kwargs.get("approximate", "none")
                steps.append(_Act(lambda h, a=approximate: F.gelu(h, approximate=a), None))
            else:
                steps.append(_Act(_FUNCTIONS[node.target], None))
        else:
            return None
        prev = node
    return None


# ---------------------------------------------------------------------------------- losses
def _loss_kind(loss_fn: Any) -> str:
    from landscape.objectives.basic import CrossEntropy

    if type(loss_fn) is nn.CrossEntropyLoss and loss_fn.weight is None \
            and loss_fn.reduction == "mean" and loss_fn.label_smoothing == 0.0 \
            and not loss_fn._forward_hooks and not loss_fn._forward_pre_hooks:
        return "nn_ce"
    if type(loss_fn) is CrossEntropy:
        return "ce"
    return "generic"


# ---------------------------------------------------------------------------------- first layer
@dataclass
class FirstLayer:
    """The first linear layer's pre-activations of ``K`` copies whose weights are affine in a few
    fixed directions (private).

    A linear layer on the shared input ``x`` is affine in its weights: with ``W_k = W + Σ_j c_kj
    D_j`` (and the bias likewise), ``x W_kᵀ + b_k = (x Wᵀ + b) + Σ_j c_kj (x D_jᵀ + d_j)``. So the
    ``m`` products ``P_j = x D_jᵀ + d_j`` and the base ``B = x Wᵀ + b`` are computed once and every
    copy's pre-activation is a weighted sum of them: an axpy instead of a GEMM per copy. Local
    energy reuses ``P`` across σ (copy ``k`` is ``B + σ P_k``: ``coeffs`` is ``None``); a
    surface has ``m = 1`` or ``2`` directions for all grid points (``B + C P``). An eval-mode
    BatchNorm folded into the layer keeps it affine when its own tensors are not perturbed.
    """

    base: torch.Tensor  # [n, width]
    parts: torch.Tensor  # [m, n, width]
    sigma: float | None = None  # copy k: base + sigma * parts[k]
    coeffs: torch.Tensor | None = None  # [K, m]: copy k: base + Σ_j coeffs[k, j] parts[j]

    @property
    def width(self) -> int:
        return int(self.base.shape[-1])

    def __call__(self, k0: int, k1: int, r0: int, r1: int, out: torch.Tensor) -> torch.Tensor:
        """Pre-activations of copies ``k0:k1`` on rows ``r0:r1``, written into ``out``."""
        b = self.base[r0:r1]
        if self.coeffs is None:
            assert self.sigma is not None
            return torch.add(b, self.parts[k0:k1, r0:r1], alpha=self.sigma, out=out)
        m = self.parts.shape[0]
        kk = k1 - k0
        p = self.parts[:, r0:r1].reshape(m, -1)
        torch.addmm(b.reshape(1, -1), self.coeffs[k0:k1], p, out=out.view(kk, -1))
        return out


# ---------------------------------------------------------------------------------- plan
class FusedPlan:
    """The recognised chain of a model and how to evaluate stacked copies of it."""

    def __init__(self, model: nn.Module, steps: list[_Step], loss_fn: Any,
                 workspace: list[torch.Tensor | None] | None = None) -> None:
        self.model = model
        self.steps = steps
        self.loss_fn = loss_fn
        self.loss_kind = _loss_kind(loss_fn)
        self.names = {s.weight for s in steps if isinstance(s, _Linear)} \
            | {s.bias for s in steps if isinstance(s, _Linear) and s.bias is not None} \
            | {n for s in steps if isinstance(s, _Linear) for n in s.bn_names.values() if n}
        self.widest = max(max(s.module.in_features, s.module.out_features)
                          for s in steps if isinstance(s, _Linear))
        #: a one-element list holding the work buffers (shared by the plans of one model)
        self._workspace: list[torch.Tensor | None] = workspace if workspace is not None \
            else [None]

    def usable(self) -> bool:
        """Re-checked per call: no hooks since, BatchNorm in eval mode with running statistics,
        dropout off."""
        if _hooked(self.model):
            return False
        for s in self.steps:
            if isinstance(s, _Linear) and s.bn is not None and (
                    s.bn.training or s.bn.running_mean is None or s.bn.running_var is None):
                return False
            if isinstance(s, _Act) and isinstance(s.module, nn.modules.dropout._DropoutNd) \
                    and s.module.training and s.module.p > 0:
                return False
        return True

    # ------------------------------------------------------------------ weights
    def prepare(self, get: Callable[[str], tuple[torch.Tensor, bool]], k: int,
                first: bool = False) -> list[tuple[Any, ...]]:
        """Per step: ``("lin", Wt, b, stacked)`` with ``Wt`` ``[K, in, out]`` (stacked) or
        ``[in, out]`` and ``b`` broadcastable to ``[K, n, out]`` / ``[n, out]`` or ``None``;
        ``("act", fn)``; ``("flat", start, end)``. ``get(name)`` gives ``(tensor, stacked)``.
        ``first``: the first linear layer becomes ``("first",)``, its input flattening is
        dropped (a :class:`FirstLayer` computes it; see :meth:`first_layer`)."""
        out: list[tuple[Any, ...]] = []
        lead = self._first_step() if first else None
        for s in self.steps:
            if lead is not None:
                if s is lead:
                    out.append(("first",))
                    lead = None
                continue
            if isinstance(s, _Act):
                if type(s.module) not in _SKIP:
                    out.append(("act", s.fn))
                continue
            if isinstance(s, _Flatten):
                out.append(("flat", s.start, s.end))
                continue
            w, ws = get(s.weight)
            b, bs = get(s.bias) if s.bias is not None else (None, False)
            if s.bn is not None:
                w, ws, b, bs = self._fold(s, get, w, ws, b, bs)
            stacked = ws or bs
            if stacked and not ws:
                w = w.unsqueeze(0).expand(k, *w.shape)
            wt = w.transpose(-1, -2)
            if b is not None:
                b = b.unsqueeze(-2) if bs else b  # [K, 1, out] or [out]
            out.append(("lin", wt, b, stacked))
        return out

    @staticmethod
    def _fold(s: _Linear, get: Callable[[str], tuple[torch.Tensor, bool]], w: torch.Tensor,
              ws: bool, b: torch.Tensor | None, bs: bool
              ) -> tuple[torch.Tensor, bool, torch.Tensor, bool]:
        names = s.bn_names
        mean, ms = get(names["running_mean"])  # type: ignore[arg-type]
        alpha, stacked = FusedPlan._bn_scale(s, get)
        stacked = stacked or ws or bs or ms
        shift = -mean * alpha
        if names["bias"] is not None:
            beta, be = get(names["bias"])
            shift, stacked = beta + shift, stacked or be
        w2 = w * alpha.unsqueeze(-1)
        b2 = shift if b is None else b * alpha + shift
        return w2, w2.ndim == 3, b2, b2.ndim == 2

    @staticmethod
    def _bn_scale(s: _Linear, get: Callable[[str], tuple[torch.Tensor, bool]]
                  ) -> tuple[torch.Tensor, bool]:
        """``α = γ / √(σ² + ε)`` of the BatchNorm folded into ``s``, and whether it is stacked."""
        assert s.bn is not None
        var, stacked = get(s.bn_names["running_var"])  # type: ignore[arg-type]
        alpha = torch.rsqrt(var + s.bn.eps)
        if s.bn_names["weight"] is not None:
            g, gs = get(s.bn_names["weight"])
            alpha, stacked = alpha * g, stacked or gs
        return alpha, stacked

    def _first_step(self) -> _Linear | None:
        """The first linear step if only flattening (or identity modules) precedes it."""
        for s in self.steps:
            if isinstance(s, _Linear):
                return s
            if isinstance(s, _Act) and type(s.module) not in _SKIP:
                return None
        return None

    def first_width(self) -> int:
        """Output features of the first linear layer."""
        s = self._first_step()
        return 0 if s is None else int(s.module.out_features)

    def affine_first(self, perturbed: set[str]) -> bool:
        """Whether the first layer's pre-activations are affine in the perturbed tensors: the
        layer reads the (flattened) input, its weight is perturbed, no folded BatchNorm tensor
        is."""
        s = self._first_step()
        return s is not None and s.weight in perturbed \
            and not any(n in perturbed for n in s.bn_names.values() if n)

    def first_layer(self, x: torch.Tensor, get: Callable[[str], tuple[torch.Tensor, bool]],
                    directions: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """``B = x Wᵀ + b`` ``[n, width]`` and ``P_j = x D_jᵀ + d_j`` ``[m, n, width]`` of the first
        layer (BatchNorm folded), for the unperturbed tensors ``get`` and the directions
        ``directions[name]`` ``[m, *shape]`` (a missing bias direction is zero)."""
        s = self._first_step()
        if s is None or not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise Unsupported("first layer")
        h = x
        for st in self.steps:
            if st is s:
                break
            if isinstance(st, _Flatten):
                h = h.flatten(st.start, st.end)
        if h.ndim != 2:
            raise Unsupported("first linear layer on an input that is not [n, features]")
        w, ws = get(s.weight)
        b, bs = get(s.bias) if s.bias is not None else (None, False)
        dw = directions[s.weight]
        db = directions.get(s.bias) if s.bias is not None else None
        if ws or bs:
            raise Unsupported("stacked centre")
        if s.bn is not None:
            w, _, b, _ = self._fold(s, get, w, False, b, False)
            alpha = self._bn_scale(s, get)[0]
            dw = dw * alpha.unsqueeze(-1)
            db = None if db is None else db * alpha
        base = h @ w.T if b is None else torch.addmm(b, h, w.T)
        hh = h.unsqueeze(0).expand(dw.shape[0], *h.shape)
        parts = torch.bmm(hh, dw.transpose(-1, -2)) if db is None \
            else torch.baddbmm(db.unsqueeze(1), hh, dw.transpose(-1, -2))
        return base, parts

    # ------------------------------------------------------------------ forward
    def outputs(self, layers: list[tuple[Any, ...]], x: torch.Tensor, k: int,
                first: FirstLayer | None = None) -> torch.Tensor:
        """The model outputs ``[K, n, C]`` of the ``K`` copies on the shared input ``x``.

        ``first``: the pre-activations of the first linear layer, precomputed as an affine
        function of the copies' coefficients (``layers`` then holds ``("first",)`` in its place).
        """
        if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.ndim < 2:
            raise Unsupported("input")
        n = x.shape[0]
        rows, kc = self.chunks(n, k, x.element_size())
        out: torch.Tensor | None = None
        for k0 in range(0, k, kc):
            k1 = min(k, k0 + kc)
            for r in range(0, n, rows):
                h = self._forward(layers, x[r: r + rows], k0, k1, first, r)
                if out is None:
                    out = h.new_empty((k, n, h.shape[-1]))
                out[k0:k1, r: r + h.shape[1]] = h
        assert out is not None
        return out

    def chunks(self, n: int, k: int, itemsize: int) -> tuple[int, int]:
        """Row chunk and copy chunk: ``K·rows·widest`` activations within the budget."""
        per_row = max(1, self.widest * itemsize)
        kc = max(1, min(k, ACTIVATION_BUDGET // (MIN_ROWS * per_row)))
        rows = max(MIN_ROWS, ACTIVATION_BUDGET // (kc * per_row))
        rows = min(n, rows)
        # balance the row chunks (no tiny last chunk)
        rows = -(-n // -(-n // rows))
        return rows, kc

    def _buffers(self, numel: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Two flat work buffers of ``numel`` elements, kept between calls: a fresh multi-MiB
        tensor per layer costs page faults (glibc returns such blocks to the system on free),
        measured at ~0.45 ms per 4 MiB layer output against a ~2 ms GEMM."""
        ws = self._workspace[0]
        if ws is None or ws.numel() < 2 * numel or ws.dtype != like.dtype \
                or ws.device != like.device:
            ws = torch.empty(2 * numel, dtype=like.dtype, device=like.device)
            self._workspace[0] = ws
        return ws[:numel], ws[numel: 2 * numel]

    def _forward(self, layers: list[tuple[Any, ...]], h: torch.Tensor, k0: int, k1: int,
                 first: FirstLayer | None = None, r0: int = 0) -> torch.Tensor:
        kk, rows = k1 - k0, h.shape[0]
        bufs = self._buffers(kk * rows * self.widest, h)
        cur = -1  # which work buffer holds h (-1: neither)
        stacked = owned = False  # owned: h is ours (activations may work in place)

        def target(width: int) -> torch.Tensor:
            nonlocal cur
            cur = 1 if cur == 0 else 0
            return bufs[cur][: kk * rows * width].view(kk, rows, width)

        for op in layers:
            if op[0] == "act":
                h = op[1](h if owned else h.clone())
                if h.data_ptr() not in (bufs[0].data_ptr(), bufs[1].data_ptr()):
                    cur = -1  # an out-of-place activation: h is a new tensor
            elif op[0] == "flat":
                start, end = op[1], op[2]
                h = h.flatten(start + stacked, end if end < 0 else end + stacked)
            elif op[0] == "first":
                assert first is not None
                h = first(k0, k1, r0, r0 + rows, target(first.width))
                stacked = owned = True
            else:
                _, wt, b, wstk = op
                if wstk:
                    wt = wt[k0:k1]
                    if b is not None and b.ndim == 3:
                        b = b[k0:k1]
                if (h.ndim != 3) if stacked else (h.ndim != 2):
                    raise Unsupported("linear layer on an input that is not [n, features]")
                width = wt.shape[-1]
                if wstk and width < NARROW:
                    # narrow output (a classifier head): Wᵀ-major GEMMs, [K, width, rows]
                    hh = h if stacked else h.unsqueeze(0).expand(kk, *h.shape)
                    o = target(width).view(kk, width, rows)
                    ht, w = hh.transpose(1, 2), wt.transpose(1, 2)
                    o = torch.bmm(w, ht, out=o) if b is None \
                        else torch.baddbmm(b.unsqueeze(-1) if b.ndim == 1 else b.transpose(-1, -2),
                                           w, ht, out=o)
                    h = o.transpose(1, 2)
                    stacked = True
                elif wstk:
                    hh = h if stacked else h.unsqueeze(0).expand(kk, *h.shape)
                    o = target(width)
                    h = torch.bmm(hh, wt, out=o) if b is None \
                        else torch.baddbmm(b, hh, wt, out=o)
                    stacked = True
                elif stacked:
                    flat = h.reshape(-1, h.shape[-1])
                    o = target(width).view(-1, width)
                    z = torch.mm(flat, wt, out=o) if b is None else torch.addmm(b, flat, wt, out=o)
                    h = z.view(kk, -1, width)
                else:
                    h = h @ wt if b is None else torch.addmm(b, h, wt)
                    cur = -1
                owned = True
        if not stacked:
            h = h.unsqueeze(0).expand(kk, *h.shape)
        if h.ndim != 3:
            raise Unsupported("output is not [n, C]")
        return h

    # ------------------------------------------------------------------ loss
    def row_block(self, k: int, dtype: torch.dtype) -> int:
        """How many rows (of consecutive batches) to evaluate together: one row chunk."""
        itemsize = torch.empty((), dtype=dtype).element_size()
        return self.chunks(1 << 62, k, itemsize)[0]

    def per_sample(self, out: torch.Tensor, y: Any) -> torch.Tensor | None:
        """Per-sample losses ``[K, n]`` of every copy for a recognised cross-entropy with integer
        labels, else ``None`` (the caller then applies ``loss_fn`` per copy)."""
        kind = self.loss_kind
        if kind == "generic" or not isinstance(y, torch.Tensor) or y.ndim != 1 \
                or y.dtype not in _INT_TYPES or out.ndim != 3 or out.shape[1] != y.shape[0]:
            return None
        k, n, c = out.shape
        z = out.reshape(k * n, c)
        if kind == "ce":
            z = z / self.loss_fn.temperature
            ignore = -100
        else:
            ignore = self.loss_fn.ignore_index
        if bool((y == ignore).any()):
            return None
        return F.cross_entropy(z, y.repeat(k), reduction="none", ignore_index=ignore).view(k, n)


_INT_TYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


def joinable(a: Any, b: Any) -> bool:
    """Whether batches ``a`` and ``b`` can be concatenated into one row block."""
    for s, t in ((a.x, b.x), (a.y, b.y)):
        if not isinstance(s, torch.Tensor) or not isinstance(t, torch.Tensor) or s.ndim < 1 \
                or s.shape[1:] != t.shape[1:] or s.dtype != t.dtype or s.device != t.device:
            return False
    return True


#: Per model: its structural fingerprint, its recognised steps (or ``None``) and the work
#: buffers of its plans, so that repeated measurements of one model neither re-trace it (~6 ms)
#: nor fault in fresh work buffers; entries go with the model.
_PLANS: weakref.WeakKeyDictionary[nn.Module, tuple[tuple[Any, ...], list[_Step] | None,
                                                   list[torch.Tensor | None]]] \
    = weakref.WeakKeyDictionary()


def _fingerprint(model: nn.Module) -> tuple[Any, ...]:
    """What the recognised steps depend on: every module's identity, type and settings (the
    leaves' ``repr``), and the forward methods."""
    parts: list[Any] = []
    for name, m in model.named_modules():
        leaf = not m._modules
        forward = m.__dict__.get("forward")  # an instance-level override (its function: a bound
        forward = getattr(forward, "__func__", forward)  # method would keep the model alive)
        parts.append((name, id(m), type(m), forward, repr(m) if leaf else None))
    return tuple(parts)


def plan(model: nn.Module, loss_fn: Any) -> FusedPlan | None:
    """The fused plan of ``model`` with ``loss_fn``, or ``None`` if it is not a recognised chain."""
    try:
        if not _prefilter(model):
            return None
        key = _fingerprint(model)
        hit = _PLANS.get(model)
        if hit is not None and hit[0] == key:
            steps, holder = hit[1], hit[2]
        else:
            steps, holder = _trace_steps(model), [None]
            _PLANS[model] = (key, steps, holder)
    except Exception:  # recognition never fails the caller
        return None
    if steps is None:
        return None
    p = FusedPlan(model, steps, loss_fn, holder)
    return p if p.usable() else None


def lookup(stack: Mapping[str, torch.Tensor], fixed: Mapping[str, torch.Tensor]
           ) -> Callable[[str], tuple[torch.Tensor, bool]]:
    """``name → (tensor, stacked)`` from the stacked copies, else the fixed tensors."""
    def get(name: str) -> tuple[torch.Tensor, bool]:
        if name in stack:
            return stack[name], True
        if name in fixed:
            return fixed[name], False
        raise Unsupported(f"no tensor {name!r}")
    return get

