"""Recognising a fusable model (private): its structural trace into linear, activation and
flatten steps, and the kind of its loss.

:func:`_trace_steps` traces a model with ``torch.fx`` and returns its chain ``[flatten] → Linear →
(eval-mode BatchNorm1d) → elementwise activation → ... → Linear`` as a list of steps
(:class:`_Linear`, with a folded BatchNorm1d; :class:`_Act`; :class:`_Flatten`), or ``None`` when
any node does not take the previous node's output alone or is not a recognised module type or
``flatten``. :func:`_prefilter` rejects cheaply, before tracing, models with hooks, tied
parameters, unrecognised leaf modules or containers holding tensors; :func:`_fingerprint` is
what the traced steps depend on (the cache key of :data:`landscape.flatness._fused._PLANS`);
:func:`_loss_kind` tells the recognised cross-entropy losses from the rest, and
:func:`per_sample_loss` computes theirs for all copies at once. :mod:`landscape.flatness._fused`
plans and evaluates the stacked copies of a recognised chain.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


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



_INT_TYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


def per_sample_loss(kind: str, loss_fn: Any, out: torch.Tensor, y: Any) -> torch.Tensor | None:
    """Per-sample losses ``[K, n]`` of the outputs ``out`` ``[K, n, C]`` of every copy for a
    recognised cross-entropy (``kind`` from :func:`_loss_kind`) with integer labels, else
    ``None`` (the caller then applies ``loss_fn`` per copy)."""
    if kind == "generic" or not isinstance(y, torch.Tensor) or y.ndim != 1 \
            or y.dtype not in _INT_TYPES or out.ndim != 3 or out.shape[1] != y.shape[0]:
        return None
    k, n, c = out.shape
    z = out.reshape(k * n, c)
    if kind == "ce":
        z = z / loss_fn.temperature
        ignore = -100
    else:
        ignore = loss_fn.ignore_index
    if bool((y == ignore).any()):
        return None
    return F.cross_entropy(z, y.repeat(k), reduction="none", ignore_index=ignore).view(k, n)


# ---------------------------------------------------------------------------------- cache key
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
