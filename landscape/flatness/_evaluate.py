"""Evaluating the full-data loss and training error of many weight vectors at once (private).

:class:`Evaluator` holds the model, the loss and the data. Its :meth:`Evaluator.stacked` takes
``K`` perturbed copies of the perturbed parameters, stacked ``[K, *shape]``, and returns the
size-weighted mean loss and the error rate of every copy over all batches, evaluating the copies
together with ``torch.func.functional_call`` under ``torch.vmap`` (one data pass for ``K`` copies),
or, for a chain of linear layers with elementwise activations (``landscape.models.MLP``, a plain
``nn.Sequential``), with a few large batched GEMMs per row chunk (:mod:`landscape.flatness._fused`;
the same numbers up to rounding, recognised structurally, the generic path otherwise).
:meth:`Evaluator.recalibrated` does the same one copy at a time, re-estimating the BatchNorm
running statistics of each copy first. The stacks of copies affine in a few fixed directions
(:class:`AffineStack`) are in :mod:`landscape.flatness._stack`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterator, Mapping
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, vmap

from landscape import distributed
from landscape._losses import check_loss_fn
from landscape.errors import ConfigError
from landscape.flatness import _fused
from landscape.flatness._modes import (  # noqa: F401  (re-exported)
    check_mode,
    is_classification,
    vmap_is_slow,
)
from landscape.flatness._stack import AffineStack, _Lazy
from landscape.forward import Forward, batch_size, default_forward, resolve_forward
from landscape.hessian._checks import check_scalar_loss
from landscape.hessian._data import Batch, check_reiterable, iterate
from landscape.hessian._functional import call_with

LossFn = Callable[[Any, Any], torch.Tensor]
Fused = tuple[torch.Tensor, torch.Tensor]


class Evaluator:
    """Full-data loss and error of stacked parameter copies (see the module docstring).

    Args:
        model: the network; never modified.
        loss_fn: ``loss_fn(model(x), y)`` → batch-mean scalar loss.
        data: one batch ``(x, y, ...)`` or a re-iterable of batches.
        names: the parameters that get stacked copies; the other parameters and all buffers are
            taken from ``model`` as they are.
        cache_bytes: memory the first-layer products of keyed :class:`AffineStack` directions
            may hold across calls (0: none).
        forward: ``forward(model, batch) -> (outputs, targets)`` (:mod:`landscape.forward`);
            a batch weighs ``len(targets)``. Another forward than the default evaluates copies
            one at a time (its outputs may have data-dependent shapes, which ``vmap`` refuses).
    """

    def __init__(self, model: nn.Module, loss_fn: LossFn, data: object,
                 names: list[str], *, cache_bytes: int = 0,
                 forward: Forward | str | None = None, process_group: Any = "auto") -> None:
        if not callable(loss_fn):
            raise ConfigError("loss_fn must be callable as loss_fn(model(x), y)")
        check_reiterable(data)
        params = dict(model.named_parameters())
        if not params:
            raise ConfigError("the model has no parameters")
        first = next(iter(params.values()))
        self.model = model
        self.loss_fn = check_loss_fn(loss_fn)
        self.data = data
        fwd = resolve_forward(forward)
        #: the structured forward, ``None`` for the default ``(model(b[0]), b[1])``
        self.forward: Forward | None = None if fwd is default_forward else fwd
        self.names = list(names)
        self.device = first.device
        self.dtype = first.dtype if first.is_floating_point() else torch.get_default_dtype()
        self.fixed = {n: p.detach() for n, p in params.items() if n not in set(names)}
        self.fixed.update({n: b.detach() for n, b in model.named_buffers()})
        self.num_batches = 0
        self.num_data = 0
        self.classification = True
        #: the fused evaluation plan of a recognised linear chain, else ``None``
        self.fused = _fused.plan(model, loss_fn) if self.forward is None else None
        self._loop = vmap_is_slow(model, self.device) or self.forward is not None
        #: first-layer products of :class:`AffineStack` directions, by (key, k, group)
        self._first: dict[Hashable, tuple[torch.Tensor, torch.Tensor]] = {}
        self._first_budget = int(cache_bytes)
        self._first_used = 0  # bytes held by self._first
        self._itemsize = torch.empty((), dtype=self.dtype).element_size()
        #: the process group whose ranks hold the shards of the data (None: this process's)
        self.group = distributed.resolve_group(process_group)
        failure: BaseException | None = None
        try:
            self._count()
        except Exception as err:
            if self.group is None:
                raise
            failure = err
        if self.group is not None:
            distributed.check_agreement(self.group, list(params.values()),
                                        f"Evaluator|{self.names}|{type(self.loss_fn)}",
                                        self.device, failure)
            self.num_data = distributed.allreduce_count(self.num_data, self.group, self.device)

    def _count(self) -> None:
        for batch in self.batches():
            self.num_batches += 1
            if batch.n is None:
                with torch.no_grad():
                    self.num_data += self.outputs({}, batch)[2]
            else:
                self.num_data += batch.n
        if self.num_batches == 0:
            raise ConfigError("data holds no batch: pass one (x, y) batch or a non-empty "
                              "iterable of batches")

    def batches(self) -> Iterator[Batch]:
        """The batches, moved to the parameters' device and dtype."""
        return iterate(self.data, self.device, self.dtype, self.forward)

    def call(self, p: Mapping[str, torch.Tensor], batch: Batch) -> tuple[torch.Tensor, Any, Any,
                                                                          int]:
        """``(loss, outputs, targets, n_b)`` of one batch with the parameters in ``p`` replaced
        (the others and the buffers as in the model); differentiable in ``p``."""
        out, y, n = self.outputs(p, batch)
        return check_scalar_loss(self.loss_fn(out, y)), out, y, n

    def outputs(self, p: Mapping[str, torch.Tensor], batch: Batch) -> tuple[Any, Any, int]:
        """``(outputs, targets, n_b)`` of one batch with the parameters in ``p`` replaced."""
        values = {**self.fixed, **p}
        if self.forward is None:
            return functional_call(self.model, values, (batch.x,)), batch.y, int(batch.n)
        out, y = call_with(self.model, self.forward, values, batch.data)
        return out, y, batch_size(y)

    def apply(self, model: nn.Module, batch: Batch) -> tuple[Any, Any, int]:
        """``(outputs, targets, n_b)`` of ``model`` itself on one batch."""
        if self.forward is None:
            return model(batch.x), batch.y, int(batch.n)
        out, y = self.forward(model, batch.data)
        return out, y, batch_size(y)

    # ------------------------------------------------------------------ stored statistics
    def _one(self, p: dict[str, torch.Tensor], x: Any, y: Any) -> tuple[torch.Tensor, Any]:
        out = functional_call(self.model, {**self.fixed, **p}, (x,))
        return check_scalar_loss(self.loss_fn(out, y)), out

    def stacked(self, stack: Mapping[str, torch.Tensor] | AffineStack, *, batched: bool = True,
                per_batch: Callable[[int], Mapping[str, torch.Tensor]] | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean loss and error rate ``[K]`` (float64, CPU) of ``K`` stacked copies.

        Args:
            stack: ``{name: [K, *shape]}`` for every name in ``names``, or an
                :class:`AffineStack` (whose first linear layer the fused path evaluates from
                shared products).
            batched: evaluate the copies together, fused for a recognised linear chain, else
                under ``vmap`` (``False``, and always for convolutions on the CPU, see
                :func:`vmap_is_slow`: one ``functional_call`` per copy; the same numbers up to
                rounding).
            per_batch: if given, batch ``b`` uses the stack ``per_batch(b)`` instead (fresh
                noise per batch).
        """
        if isinstance(stack, AffineStack):
            affine: AffineStack | None = stack
            k = stack.k
            stack = _Lazy(stack)
        else:
            affine = None
            k = next(iter(stack.values())).shape[0]
        loss = torch.zeros(k, dtype=torch.float64, device=self.device)
        wrong = torch.zeros(k, dtype=torch.float64, device=self.device)
        total = 0
        with torch.no_grad():
            for batch, s, fused in self._walk(stack, k, batched, per_batch, affine):
                if self.forward is not None:
                    res = [self.call({n: t[i] for n, t in s.items()}, batch) for i in range(k)]
                    n_b, y_b = res[0][3], res[0][2]
                    loss += torch.stack([r[0] for r in res]).to(torch.float64) * n_b
                    wrong += self._wrong(torch.stack([r[1] for r in res]), y_b)
                    total += n_b
                    continue
                if fused is not None:
                    lb, out = fused
                elif batched and not self._loop:
                    lb, out = vmap(self._one, in_dims=(0, None, None))(dict(s), batch.x, batch.y)
                else:
                    res = [self._one({n: t[i] for n, t in s.items()}, batch.x, batch.y)
                           for i in range(k)]
                    lb = torch.stack([r[0] for r in res])
                    out = torch.stack([r[1] for r in res])
                loss += lb.to(torch.float64) * batch.n
                wrong += self._wrong(out, batch.y)
                total += batch.n
        if self.group is not None:  # this rank's shard: sums and counts over every rank
            both = torch.cat([loss, wrong])
            torch.distributed.all_reduce(both, group=self.group)
            loss, wrong = both[:k], both[k:]
            total = distributed.allreduce_count(total, self.group, self.device)
        # divided on the CPU: CUDA divides by a scalar as a product with its reciprocal, which
        # can put an error rate k/n one ulp away from the CPU's correctly rounded quotient
        return loss.cpu() / total, wrong.cpu() / total

    # ------------------------------------------------------------------ fused linear chains
    def _walk(self, stack: Mapping[str, torch.Tensor], k: int, batched: bool,
              per_batch: Callable[[int], Mapping[str, torch.Tensor]] | None,
              affine: AffineStack | None = None
              ) -> Iterator[tuple[Batch, Mapping[str, torch.Tensor], Fused | None]]:
        """``(batch, its stack, its fused (losses, outputs) or None)`` for every batch.

        On the fused path consecutive batches are evaluated together, as one row block of
        at most the plan's row chunk (fewer, larger GEMMs); their losses and outputs are still
        per batch. ``None``: the generic path evaluates the batch.
        """
        if not batched or self.fused is None:
            for b, batch in enumerate(self.batches()):
                yield batch, (per_batch(b) if per_batch is not None else stack), None
            return
        if per_batch is not None:
            for b, batch in enumerate(self.batches()):
                s = per_batch(b)
                layers = self._prepare(s, k)
                yield batch, s, (None if layers is None else self._fused(layers, [batch], k)[0])
            return
        use_first = affine is not None and self._use_first(affine)
        layers = self._prepare(stack, k, first=use_first)
        if layers is None:
            for batch in self.batches():
                yield batch, stack, None
            return
        plain = None  # the layers without the first-layer shortcut, if a group needs them
        group: list[Batch] = []
        rows = start = 0

        def flush(b0: int) -> Iterator[tuple[Batch, Mapping[str, torch.Tensor], Fused | None]]:
            nonlocal plain
            first = self._first_layer(affine, group, (k, b0, len(group))) if use_first else None
            if use_first and first is None:
                plain = plain if plain is not None else self._prepare(stack, k)
                res = [None] * len(group) if plain is None else self._fused(plain, group, k)
            else:
                res = self._fused(layers, group, k, first)
            yield from ((g, stack, f) for g, f in zip(group, res))

        for b, batch in enumerate(self.batches()):
            if group and (rows + batch.n > self.fused.row_block(k, self.dtype)
                          or not _fused.joinable(group[0], batch)):
                yield from flush(start)
                group, rows, start = [], 0, b
            group.append(batch)
            rows += batch.n
        if group:
            yield from flush(start)

    def _use_first(self, affine: AffineStack) -> bool:
        """Whether the first layer of ``affine`` goes through shared products: it must be
        affine in the perturbation, and the products must pay off (cached across calls, or
        fewer directions than copies)."""
        assert self.fused is not None
        if not self.fused.affine_first(set(affine.center)):
            return False
        if affine.key is not None and self._first_budget > 0:
            return True
        return affine.m < affine.k

    def _first_layer(self, affine: AffineStack | None, group: list[Batch], where: tuple[int, ...]
                     ) -> _fused.FirstLayer | None:
        """The first-layer pre-activations of ``group`` (cached by ``affine.key``), or ``None``
        when the input does not fit (the caller then takes the plain fused layers)."""
        assert affine is not None and self.fused is not None
        key = None if affine.key is None else (affine.key, *where)
        hit = self._first.get(key) if key is not None else None
        if hit is None:
            rows = sum(g.n for g in group)
            size = (affine.m + 1) * rows * self.fused.first_width() * self._itemsize
            keep = key is not None and self._first_used + size <= self._first_budget
            if not keep and affine.m >= affine.k:
                return None  # uncached and no cheaper than the plain first layer
            x = group[0].x if len(group) == 1 else torch.cat([g.x for g in group])
            get = _fused.lookup({}, {**self.fixed, **affine.center})
            try:
                hit = self.fused.first_layer(x, get, affine.directions)
            except (_fused.Unsupported, RuntimeError, IndexError, ValueError, KeyError):
                return None
            if keep:
                self._first[key] = hit
                self._first_used += sum(t.numel() * t.element_size() for t in hit)
        base, parts = hit
        coeffs = None if affine.coeffs is None \
            else affine.coeffs.to(dtype=base.dtype, device=base.device)
        return _fused.FirstLayer(base, parts, sigma=affine.sigma, coeffs=coeffs)

    def _prepare(self, s: Mapping[str, torch.Tensor], k: int, first: bool = False
                 ) -> list[tuple[Any, ...]] | None:
        """The fused plan's layers for the stack ``s``, or ``None`` (generic path) when the
        model has changed since (hooks, train mode) or a tensor is missing."""
        assert self.fused is not None
        if not self.fused.usable():
            return None
        try:
            return self.fused.prepare(_fused.lookup(s, self.fixed), k, first=first)
        except _fused.Unsupported:
            return None

    def _fused(self, layers: list[tuple[Any, ...]], group: list[Batch], k: int,
               first: _fused.FirstLayer | None = None) -> list[Fused | None]:
        """Per batch of ``group``: losses ``[K]`` and outputs ``[K, n, C]`` on the fused path,
        all ``None`` if the group does not fit it (then the generic path evaluates it)."""
        assert self.fused is not None
        x = group[0].x if len(group) == 1 else torch.cat([g.x for g in group])
        y = group[0].y if len(group) == 1 else torch.cat([g.y for g in group])
        try:
            out = self.fused.outputs(layers, x, k, first)
            per = self.fused.per_sample(out, y)
        except (_fused.Unsupported, RuntimeError, IndexError, ValueError):
            return [None] * len(group)  # the generic path redoes it (and raises its own errors)
        sizes = [g.n for g in group]
        outs = out.split(sizes, 1) if len(group) > 1 else (out,)
        if per is not None:
            means = per.split(sizes, 1) if len(group) > 1 else (per,)
            return [(p.mean(1), o) for p, o in zip(means, outs)]

        def generic(o: torch.Tensor, yb: Any) -> torch.Tensor:
            return vmap(lambda oi, yi: check_scalar_loss(self.loss_fn(oi, yi)),
                        in_dims=(0, None))(o, yb)

        return [(generic(o, g.y), o) for o, g in zip(outs, group)]

    def _wrong(self, out: Any, y: Any) -> torch.Tensor:
        """Misclassified samples per copy (``out``: ``[K, n, C]``), NaN when not classification."""
        if self.classification and isinstance(out, torch.Tensor) and out.ndim == 3 \
                and is_classification(out[0], y):
            return (out.argmax(-1) != y).sum(-1).to(torch.float64)
        self.classification = False
        k = out.shape[0] if isinstance(out, torch.Tensor) else 1
        return torch.full((k,), math.nan, dtype=torch.float64, device=self.device)

    # ------------------------------------------------------------------ recalibrated statistics
    def recalibrated(self, stack: Mapping[str, torch.Tensor], *, bn_batches: int | None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """As :meth:`stacked`, re-estimating BatchNorm running statistics for every copy
        (:func:`landscape.flatness._recalibrate.recalibrated`)."""
        from landscape.flatness._recalibrate import recalibrated

        return recalibrated(self, stack, bn_batches=bn_batches)

    # ------------------------------------------------------------------ memory
    def bytes_per_copy(self, weights: Mapping[str, torch.Tensor]) -> int:
        """Estimated memory of one copy in a vmapped chunk: the stacked weights, their direction,
        and every module output of the first batch (a forward pass with hooks measures them)."""
        param_bytes = sum(w.numel() * w.element_size() for w in weights.values())
        acts = [0]

        def hook(_m: nn.Module, _i: Any, out: Any) -> None:
            if isinstance(out, torch.Tensor):
                acts[0] += out.numel() * out.element_size()

        handles = [m.register_forward_hook(hook) for m in self.model.modules()]
        try:
            with torch.no_grad():
                self.outputs(dict(weights), next(iter(self.batches())))
        finally:
            for h in handles:
                h.remove()
        return 2 * param_bytes + acts[0]
