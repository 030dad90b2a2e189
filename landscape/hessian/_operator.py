"""The common machinery of the curvature operators (private).

:class:`CurvatureOperator` holds the model, the forward, the loss and the data, selects the
parameters, checks determinism, validates vectors, counts products, and owns the **one loop over
batches** (:meth:`CurvatureOperator._sum_over_batches`). Subclasses only say how to multiply one
batch's curvature by a block of tangents. A data-parallel version wraps that one loop with an
all-reduce of the weighted sum and of the sample count; nothing else changes.

The operator interface (:class:`LinearOperator`, :class:`MatrixOperator`) lives in
:mod:`landscape.hessian._linear` and block vector-Jacobian products (:func:`grad_block`) in
:mod:`landscape.hessian._grad`; both are re-exported here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import nn

from landscape import distributed
from landscape._losses import check_loss_fn
from landscape.errors import ConfigError, NonDeterministicError
from landscape.forward import Forward, batch_size, resolve_forward
from landscape.hessian import _checks, _data
from landscape.hessian._data import Batch, ParamSelection
from landscape.hessian._grad import grad_block
from landscape.hessian._linear import LinearOperator, MatrixOperator, as_operator

LossFn = Callable[[Any, Any], torch.Tensor]


class CurvatureOperator:
    """Base class of the curvature operators of the mean loss over a data set.

    The operator is the curvature (Hessian, GGN, ...) of

    .. math::
        L(\\theta) = \\frac{1}{N} \\sum_{i=1}^{N} \\ell(f_\\theta(x_i), y_i)
                   = \\sum_b \\frac{n_b}{N}\\, L_b(\\theta),

    where ``L_b`` is the mean loss of batch ``b`` (``loss_fn`` must return that batch mean) and
    ``n_b`` its sample count ``len(targets)`` (:func:`landscape.forward.batch_size`), so a ragged
    last batch is weighted exactly and a token-level forward weights by tokens. A batch becomes
    ``(outputs, targets) = forward(model, batch)`` and its loss ``loss_fn(outputs, targets)``.
    Subclasses implement :meth:`_batch_product` (and optionally the cached variant).

    Attributes:
        model: the network (not copied; its current parameters define the operator).
        loss_fn: ``loss_fn(outputs, targets)`` → scalar batch-mean loss.
        data: one batch or a re-iterable of batches.
        forward: ``forward(model, batch) -> (outputs, targets)`` (:mod:`landscape.forward`).
        param_names: names of the selected parameters, in model order.
        num_matvecs: number of operator-vector products so far (a block ``[P, k]`` counts ``k``).
        method: the product method in use (``"cached"``, ``"double_backprop"``, ...).
    """

    _METHODS: tuple[str, ...] = ("cached",)

    def __init__(self, model: nn.Module, loss_fn: LossFn, data: object, *,
                 params: ParamSelection = None, check_deterministic: bool = True,
                 method: str = "auto", forward: Forward | str | None = None,
                 process_group: Any = "auto") -> None:
        if isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module  # its gradient hooks must not run inside our products
        if not isinstance(model, nn.Module):
            raise ConfigError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if not callable(loss_fn):
            raise ConfigError("loss_fn must be callable as loss_fn(outputs, targets)")
        _data.check_reiterable(data)
        self.model = model
        self.loss_fn = check_loss_fn(loss_fn)
        self.data = data
        self.forward = resolve_forward(forward)
        self.param_names, self._params = _data.select_parameters(model, params)
        self._shapes = [p.shape for p in self._params]
        self._numels = [p.numel() for p in self._params]
        self.check_deterministic = bool(check_deterministic)
        self.num_matvecs = 0
        self._single = _data.is_single_batch(data)
        self.method = self._resolve_method(method)
        self._cache: list[tuple[Any, int]] | None = None
        self._cache_version: tuple[int, ...] | None = None
        self._fingerprints: torch.Tensor | None = None
        self._num_data: int | None = None
        # block products: vmapped backward or one backward per column over the shared graph,
        # fixed by the device (reproducible); None = being measured (block_strategy="measure")
        self._vmap_block: bool | None = self._params[0].device.type == "cuda"
        self._block_cost: dict[bool, list[float]] = {True: [], False: []}
        self._group = distributed.resolve_group(process_group)
        if self._group is None:
            self._validate()
            return
        failure: BaseException | None = None
        try:
            self._validate()
        except Exception as err:  # every rank learns of it, none waits for the others
            failure = err
        distributed.check_agreement(
            self._group, self._params,
            f"{type(self).__name__}|{self.method}|{self.param_names}|{type(self.loss_fn)}",
            self.device, failure)

    # ------------------------------------------------------------------ public interface
    @property
    def num_params(self) -> int:
        """``P``, the number of selected parameters (the side of the matrix)."""
        return sum(self._numels)

    @property
    def shape(self) -> tuple[int, int]:
        """``(P, P)``."""
        return (self.num_params, self.num_params)

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the selected parameters (products come back in it)."""
        return self._params[0].dtype

    @property
    def device(self) -> torch.device:
        """The device of the selected parameters (products come back on it)."""
        return self._params[0].device

    @property
    def num_data(self) -> int:
        """``N``, the number of samples (counted on the first pass over the data)."""
        if self._num_data is None:
            n = sum(self._count(b) for b in self._batches())
            self._num_data = n if self._group is None else \
                distributed.allreduce_count(n, self._group, self.device)
        return self._num_data

    def __matmul__(self, v: torch.Tensor) -> torch.Tensor:
        """Multiply a vector ``[P]`` or a block ``[P, k]`` (one pass over the data for the block).

        The input is cast to the operator's dtype and device; the result is in them too.

        Raises:
            ConfigError: if ``v`` has the wrong length or more than two dimensions.
            NonFiniteError: if the loss of a batch is NaN or infinite.
            NonDeterministicError: if the data changed between passes (with the check on).
        """
        block, single = _checks.check_vectors(v, self.num_params, self.dtype, self.device)
        out = self._matmat(block)
        self.num_matvecs += block.shape[1]
        return out[:, 0] if single else out

    matmat = __matmul__

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """``self @ v`` for a flat vector ``[P]``."""
        return self @ v

    def flatten(self, tensors: Sequence[torch.Tensor] | dict[str, torch.Tensor]) -> torch.Tensor:
        """Concatenate per-parameter tensors (list in order, or dict by name) into one ``[P]``."""
        if isinstance(tensors, dict):
            tensors = [tensors[n] for n in self.param_names]
        return torch.cat([t.reshape(-1) for t in tensors])

    def unflatten(self, v: torch.Tensor) -> dict[str, torch.Tensor]:
        """Split a flat ``[P]`` vector into ``{name: tensor shaped like the parameter}``."""
        if v.ndim != 1 or v.shape[0] != self.num_params:
            raise ConfigError(f"expected a vector of length {self.num_params}, got "
                              f"{list(v.shape)}")
        return {n: t.view(s) for n, t, s in
                zip(self.param_names, torch.split(v, self._numels), self._shapes)}

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(num_params={self.num_params}, method={self.method!r}, "
                f"dtype={self.dtype}, device={self.device})")

    # ------------------------------------------------------------------ subclass hooks
    def _batch_product(self, batch: Batch, tangents: list[torch.Tensor], k: int
                       ) -> tuple[list[torch.Tensor], torch.Tensor, int]:
        """Curvature of batch ``b``'s mean loss times the tangents: (products, loss, ``n_b``)."""
        raise NotImplementedError

    def _build_cache(self, batch: Batch) -> tuple[Any, torch.Tensor, int]:
        """Build the reusable graph of one batch: (graph, loss, ``n_b``)."""
        raise NotImplementedError

    def _cached_product(self, state: Any, tangents: list[torch.Tensor], k: int
                        ) -> list[torch.Tensor]:
        """Product with the curvature of a cached batch graph (keeps the graph)."""
        raise NotImplementedError

    def _auto_method(self) -> str:
        return "cached" if self._single else self._METHODS[1]

    # ------------------------------------------------------------------ plumbing
    def _resolve_method(self, method: str) -> str:
        _checks.check_choice("method", method, ("auto", *self._METHODS))
        return self._auto_method() if method == "auto" else method

    def _batches(self) -> Iterator[Batch]:
        return _data.iterate(self.data, self.device, self.dtype, self.forward)

    def _outputs(self, batch: Batch, model: nn.Module | None = None
                 ) -> tuple[Any, Any, int]:
        """``(outputs, targets, n_b)`` of one batch under the forward."""
        outputs, targets = self.forward(self.model if model is None else model, batch.data)
        n = batch_size(targets)
        if n == 0:
            raise ConfigError("a batch has no samples (its targets are empty)")
        return outputs, targets, n

    def _loss(self, batch: Batch) -> tuple[torch.Tensor, int]:
        """The batch-mean loss and the sample count of one batch."""
        outputs, targets, n = self._outputs(batch)
        return _checks.check_scalar_loss(self.loss_fn(outputs, targets)), n

    def _count(self, batch: Batch) -> int:
        """``n_b``, from the batch itself under the default forward, else by a no-grad forward."""
        if batch.n is not None:
            return batch.n
        with torch.no_grad():
            return self._outputs(batch)[2]

    def _validate(self) -> None:
        """Construction-time checks: a first batch exists, its loss is a finite scalar, and (with
        ``check_deterministic``) nothing random or train-mode would change the matrix."""
        findings = _checks.stochastic_modules(self.model) if self.check_deterministic else []
        _checks.raise_nondeterministic(findings)  # before any forward pass mutates BatchNorm
        it = self._batches()
        first = next(it, None)
        if first is None:
            raise ConfigError("data yields no batch")
        with torch.no_grad():
            loss1 = self._loss(first)[0]
            _checks.check_finite_losses([loss1])
            if not self.check_deterministic:
                return
            loss2 = self._loss(first)[0]
        tol = 1e3 * torch.finfo(loss1.dtype).eps if loss1.is_floating_point() else 0.0
        if not torch.allclose(loss1, loss2, rtol=tol, atol=0.0):
            findings.append(f"two forward passes on the same batch gave losses {float(loss1)} "
                            f"and {float(loss2)} (a random module in the model or loss_fn?)")
        if not self._single:
            again = next(self._batches(), None)
            if again is None or not torch.equal(_data.fingerprint(first),
                                                _data.fingerprint(again)):
                findings.append("the data iterable yields a different first batch on each pass "
                                "(a shuffled DataLoader or random augmentation)")
        _checks.raise_nondeterministic(findings)

    def _param_version(self) -> tuple[int, ...]:
        return tuple(t._version for t in (*self.model.parameters(), *self.model.buffers()))

    def _split(self, block: torch.Tensor) -> list[torch.Tensor]:
        """``[P, k]`` → one ``[k, *shape]`` tangent per selected parameter."""
        k = block.shape[1]
        rows = block.t()
        return [t.reshape(k, *s) for t, s in
                zip(torch.split(rows, self._numels, dim=1), self._shapes)]

    def _join(self, parts: Sequence[torch.Tensor], k: int) -> torch.Tensor:
        """One ``[k, *shape]`` tensor per parameter → ``[P, k]``."""
        return torch.cat([p.reshape(k, -1) for p in parts], dim=1).t().contiguous()

    @property
    def block_strategy(self) -> str:
        """How ``[P, k]`` blocks are multiplied: ``"vmap"`` (one vmapped backward per batch),
        ``"loop"`` (one backward per column through the shared graph), or ``"measuring"``.

        The two give the same products up to rounding, and round differently, so the default
        is fixed by the device, and a measurement is reproducible from its seed: ``"loop"`` on
        the CPU (on 2 CPU threads the vmapped backward is ≈ 1.3× slower per column for the
        digits MLP, and vmapped convolutions are ≈ 3× slower), ``"vmap"`` on a GPU (where small
        kernels are latency-bound). Assigning ``"measure"`` instead times the two on the next
        four block products, alternating, and keeps the one with the smaller best time per
        column (the minimum is robust to load spikes); the choice, and so the last bits of the
        products, may then differ from run to run.
        """
        if self._vmap_block is None:
            return "measuring"
        return "vmap" if self._vmap_block else "loop"

    @block_strategy.setter
    def block_strategy(self, strategy: str) -> None:
        """Fix the strategy (``"vmap"`` or ``"loop"``) or time both (``"measure"``)."""
        _checks.check_choice("block_strategy", strategy, ("vmap", "loop", "measure"))
        self._vmap_block = None if strategy == "measure" else strategy == "vmap"
        self._block_cost = {True: [], False: []}

    @property
    def _batched(self) -> bool:
        if self._vmap_block is not None:
            return self._vmap_block
        return len(self._block_cost[True]) <= len(self._block_cost[False])  # alternate

    def _matmat(self, block: torch.Tensor) -> torch.Tensor:
        k = block.shape[1]
        if k == 1 or self._vmap_block is not None:
            return self._matmat_impl(block)
        mode = self._batched
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        t0 = time.perf_counter()
        out = self._matmat_impl(block)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self._block_cost[mode].append((time.perf_counter() - t0) / k)
        if min(len(c) for c in self._block_cost.values()) >= 2:
            self._vmap_block = min(self._block_cost[True]) <= min(self._block_cost[False])
        return out

    def _matmat_impl(self, block: torch.Tensor) -> torch.Tensor:
        k = block.shape[1]
        tangents = self._split(block)
        if self.method == "cached":
            if self._cache is None or self._cache_version != self._param_version():
                self._build_all_caches()
            assert self._cache is not None
            parts = self._sum_over_batches(
                iter(self._cache),
                lambda item: (self._cached_product(item[0], tangents, k), None, item[1]))
        else:
            parts = self._sum_over_batches(
                self._checked_batches(), lambda b: self._batch_product(b, tangents, k))
        return self._join(parts, k)

    def _sum_over_batches(self, items: Iterator[Any],
                          per_batch: Callable[[Any], tuple[list[torch.Tensor],
                                                           torch.Tensor | None, int]]
                          ) -> list[torch.Tensor]:
        """The one loop over the data: ``Σ_b n_b·product_b / Σ_b n_b``.

        ``items`` yields batches or cached states; ``per_batch`` returns the batch's products,
        its loss (or ``None``) and ``n_b``. This is the only place where batch results are
        combined; a data-parallel operator all-reduces ``total`` and ``count`` here.
        """
        total: list[torch.Tensor] | None = None
        count = 0
        losses: list[torch.Tensor] = []
        for item in items:
            parts, loss, n = per_batch(item)
            if loss is not None:
                losses.append(loss)
            if total is None:
                total = [p * n for p in parts]
            else:
                for t, p in zip(total, parts):
                    t.add_(p, alpha=n)
            count += n
        if self._group is not None:  # this rank's shard: Σ_r T_r / Σ_r N_r, the same everywhere
            bad = bool(losses) and not bool(torch.isfinite(torch.stack(
                [loss.detach().reshape(()) for loss in losses])).all())
            if total is None:
                raise ConfigError("this rank's data yielded no batch on this pass")
            total, count = distributed.allreduce_weighted(total, count, bad, self._group)
            self._num_data = count
            return [t / count for t in total]
        _checks.check_finite_losses(losses)
        if total is None or count == 0:
            raise ConfigError("data yielded no batch on this pass")
        self._num_data = count
        return [t / count for t in total]

    def _checked_batches(self) -> Iterator[Batch]:
        """Iterate the data; with the check on, compare every batch's fingerprint with the
        previous pass at the end of this pass (one device sync per pass)."""
        prints: list[torch.Tensor] = []
        for b in self._batches():
            if self.check_deterministic:
                prints.append(_data.fingerprint(b))
            yield b
        if self.check_deterministic:
            now = torch.stack(prints).cpu()
            before = self._fingerprints
            if before is not None and (before.shape != now.shape or not torch.equal(before, now)):
                raise NonDeterministicError(
                    "the data iterable yielded different batches on two passes (a shuffled "
                    "DataLoader or random augmentation?); iterate in a fixed order, or pass "
                    "check_deterministic=False")
            self._fingerprints = now

    def _build_all_caches(self) -> None:
        self._cache = None
        cache: list[tuple[Any, int]] = []
        losses = []
        for b in self._batches():
            state, loss, n = self._build_cache(b)
            cache.append((state, n))
            losses.append(loss)
        _checks.check_finite_losses(losses)
        self._cache = cache
        self._cache_version = self._param_version()

    def release_cache(self) -> None:
        """Free the cached graph (``method="cached"``); the next product rebuilds it."""
        self._cache = None
        self._cache_version = None


__all__ = ["CurvatureOperator", "LinearOperator", "LossFn", "MatrixOperator", "as_operator",
           "grad_block"]
