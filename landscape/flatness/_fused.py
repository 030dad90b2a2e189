"""A fused evaluator of ``K`` weight copies of a chain of linear layers (private).

:func:`plan` recognises, structurally, a network that is a chain ``[flatten] → Linear →
(eval-mode BatchNorm1d) → elementwise activation → ... → Linear`` (``landscape.models.MLP``, a
plain ``nn.Sequential`` of such modules): the model is traced with ``torch.fx`` and every node
must take the previous node's output, and nothing else, and be one of the recognised module types
or ``flatten``; no module may carry hooks or parametrisations. Anything else gives ``None`` and
the caller keeps its generic ``functional_call``-under-``vmap`` path. The tracing, the
recognised steps and the loss kinds are in :mod:`landscape.flatness._fused_trace`; the affine
first layer (:class:`FirstLayer`) is in :mod:`landscape.flatness._fused_first`.

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

import weakref
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from landscape.flatness._fused_first import FirstLayer
from landscape.flatness._fused_trace import (
    _SKIP,
    _Act,
    _fingerprint,
    _Flatten,
    _hooked,
    _Linear,
    _loss_kind,
    _prefilter,
    _Step,
    _trace_steps,
    per_sample_loss,
)

#: Bytes of ``[K, rows, width]`` activations one row chunk may hold.
ACTIVATION_BUDGET = 4 << 20
#: The smallest row chunk (unless the batch is smaller).
MIN_ROWS = 128
#: Stacked layers narrower than this (classifier heads) compute ``W hᵀ`` instead of ``h Wᵀ``:
#: measured 4-5x faster at 2-10 outputs and equal from 32 (``[32, 256, d]`` inputs, d = 64-256).
NARROW = 32


class Unsupported(Exception):
    """Raised when a call cannot take the fused path (the caller falls back)."""


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
        labels, else ``None`` (the caller then applies ``loss_fn`` per copy;
        :func:`~landscape.flatness._fused_trace.per_sample_loss`)."""
        return per_sample_loss(self.loss_kind, self.loss_fn, out, y)


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
