"""The exact Hessian of the mean loss over a data set, as a matrix-free operator."""

from __future__ import annotations

import warnings
from typing import Any, Literal

import torch
from torch import nn
from torch.func import grad, jvp, vmap

from landscape.forward import Forward, batch_size
from landscape.hessian._checks import check_scalar_loss
from landscape.hessian._data import Batch, ParamSelection
from landscape.hessian._finite_difference import compute_dtype, step_size
from landscape.hessian._functional import call_with
from landscape.hessian._operator import CurvatureOperator, LossFn, grad_block

#: How a Hessian-vector product is computed (all give the same numbers up to rounding):
#:
#: - ``"cached"``: build the first-order graph ``∇L_b(θ)`` of every batch once (one forward and one
#:   ``create_graph`` backward) and reuse it for every product, so a product is one backward pass
#:   through that graph (PyHessian's trick). The fastest when the data fits in memory; the graph
#:   of all batches stays in memory until :meth:`~HessianOperator.release_cache`, and it is rebuilt
#:   automatically when a parameter or buffer is modified in place.
#: - ``"double_backprop"``: per batch and per product, forward + ``create_graph`` backward + a
#:   second backward (reverse-over-reverse). Memory of one batch's graph.
#: - ``"forward_over_reverse"``: ``torch.func.jvp(torch.func.grad(L_b))`` per batch, vmapped over
#:   the columns of a block. Falls back to ``"double_backprop"`` (with a warning) for modules
#:   without forward-mode support.
#: - ``"finite_difference"``: central differences of two gradients per column and batch
#:   (:mod:`landscape.hessian._finite_difference`: step from the parameter scale, differences in
#:   float32 or wider). Needs no second derivative, so it works where double backward does not
#:   (fused attention kernels, ``once_differentiable`` functions); relative error about
#:   ``ε^{2/3}`` of the parameters' dtype instead of ``ε``.
#: - ``"auto"``: ``"cached"`` for one in-memory batch, ``"double_backprop"`` for an iterable; the
#:   choice measured fastest on CPU by ``benchmarks/hessian.py`` (digits MLP, 26k parameters,
#:   float64, 2 threads: one product costs 1.6× a gradient cached, 2.6× by double backprop,
#:   3.3× forward-over-reverse). If the first product fails there (no double backward), it
#:   switches to ``"finite_difference"`` with a one-line :class:`RuntimeWarning`.
#:
#: A block ``H @ V`` shares the data pass (and, except for ``"cached"``, the forward pass and the
#: first-order graph) between its columns; see :attr:`CurvatureOperator.block_strategy` for how
#: the second backward is applied to the columns.
HvpMethod = Literal["auto", "cached", "double_backprop", "forward_over_reverse",
                    "finite_difference"]


class HessianOperator(CurvatureOperator):
    """Hessian of the mean loss over all samples, ``H = ∇²L(θ)``, applied without forming it.

    .. math::
        H = \\sum_b \\frac{n_b}{N} \\nabla^2_\\theta L_b(\\theta),\\qquad
        L_b = \\frac{1}{n_b}\\sum_{i\\in b} \\ell(f_\\theta(x_i), y_i),

    so batches are weighted by their size and a ragged last batch is exact (PyHessian's and
    Ghorbani's TF2 weighting; hessian-eigenthings and Ghorbani's JAX code average batches
    unweighted, which over-weights a ragged last batch).

    Args:
        model: the network; its current parameters define the operator (in-place changes are
            picked up by the next product).
        loss_fn: ``loss_fn(outputs, targets)`` returning the **mean** loss over the batch as a
            scalar (e.g. ``nn.CrossEntropyLoss()``); a per-sample loss raises
            :class:`ConfigError`.
        data: one batch or a re-iterable of batches (a list, a ``DataLoader``). Under the
            default forward a batch is ``(x, y, ...)`` and only its first two entries are used,
            so ``(x, y, y_clean, index)`` items work. Floating tensors are cast to the
            parameters' dtype and all tensors moved to their device.
        params: the block of parameters: ``None`` (all trainable ones), a glob pattern on names
            (``"hidden.0.*"``), a list of names, a predicate on the name, or a module of the
            model (or a list of modules). The others are held fixed; the operator is the
            matching diagonal block of the full Hessian.
        check_deterministic: refuse (with :class:`NonDeterministicError`) BatchNorm or dropout
            in train mode, a loss that differs on two forward passes of the same batch, and data
            whose batches change between passes (checked on the first batch at construction and
            on every batch fingerprint during products). Costs two no-grad forward passes of one
            batch at construction and a sum per batch. Default ``True`` (curvlinops' default;
            its check costs two full data passes instead).
        method: see :data:`HvpMethod`. Default ``"auto"``.
        forward: ``forward(model, batch) -> (outputs, targets)`` or a registered name
            (:mod:`landscape.forward`); ``n_b = len(targets)``. Default: ``(model(b[0]), b[1])``.
        process_group: data parallelism (:mod:`landscape.distributed`): ``"auto"`` (default)
            reduces over the default ``torch.distributed`` group when one with 2+ ranks is
            initialised, treating ``data`` as this rank's shard; ``None`` turns it off; or a
            group. A ``DistributedDataParallel`` model is unwrapped.

    Example:
        >>> model = nn.Sequential(nn.Linear(3, 2))
        >>> x, y = torch.randn(8, 3), torch.randint(0, 2, (8,))
        >>> H = HessianOperator(model, nn.CrossEntropyLoss(), (x, y))
        >>> H.shape, (H @ torch.ones(H.num_params)).shape, H.num_matvecs
        ((8, 8), torch.Size([8]), 1)

    Attributes:
        num_matvecs: products so far (a block ``[P, k]`` counts ``k``).
        method: the method in use after ``"auto"`` and any fallback is resolved.
    """

    _METHODS = ("cached", "double_backprop", "forward_over_reverse", "finite_difference")

    def __init__(self, model: nn.Module, loss_fn: LossFn, data: object, *,
                 params: ParamSelection = None, check_deterministic: bool = True,
                 method: HvpMethod = "auto", forward: Forward | str | None = None,
                 process_group: Any = "auto") -> None:
        super().__init__(model, loss_fn, data, params=params,
                         check_deterministic=check_deterministic, method=method,
                         forward=forward, process_group=process_group)
        self._func_checked = False
        self._exact_checked = method != "auto"

    def _matmat_impl(self, block: torch.Tensor) -> torch.Tensor:
        """The first product under ``method="auto"`` tries the exact product; if that fails
        (no double backward), it warns once and uses finite differences from then on."""
        if self._exact_checked:
            return super()._matmat_impl(block)
        try:
            with warnings.catch_warnings(record=True) as seen:  # held back until it succeeds
                warnings.simplefilter("always")
                out = super()._matmat_impl(block)
            for w in seen:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        except (RuntimeError, NotImplementedError) as exc:
            was, self.method = self.method, "finite_difference"
            self.release_cache()
            try:
                out = super()._matmat_impl(block)
            except Exception:
                self.method = was
                raise exc from None
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            warnings.warn(f"double backward unavailable ({type(exc).__name__}: {first[:120]}); "
                          "HessianOperator uses method='finite_difference'", RuntimeWarning,
                          stacklevel=4)
        self._exact_checked = True
        return out

    # reverse-over-reverse -------------------------------------------------------------
    def _build_cache(self, batch: Batch) -> tuple[Any, torch.Tensor, int]:
        loss, n = self._loss(batch)
        grads = torch.autograd.grad(loss, self._params, create_graph=True, allow_unused=True)
        return grads, loss.detach(), n

    def _cached_product(self, state: Any, tangents: list[torch.Tensor], k: int
                        ) -> list[torch.Tensor]:
        return grad_block(state, self._params, tangents, k, retain_graph=True,
                          batched=self._batched)

    def _batch_product(self, batch: Batch, tangents: list[torch.Tensor], k: int
                       ) -> tuple[list[torch.Tensor], torch.Tensor, int]:
        if self.method == "forward_over_reverse":
            return self._func_product(batch, tangents, k)
        if self.method == "finite_difference":
            return self._fd_product(batch, tangents, k)
        grads, loss, n = self._build_cache(batch)
        return grad_block(grads, self._params, tangents, k, retain_graph=False,
                          batched=self._batched), loss, n

    # finite differences ---------------------------------------------------------------
    def _grad_at(self, batch: Batch, values: list[torch.Tensor]
                 ) -> tuple[list[torch.Tensor], torch.Tensor, int]:
        leaves = [v.detach().requires_grad_(True) for v in values]
        outputs, targets = call_with(self.model, self.forward,
                                     dict(zip(self.param_names, leaves)), batch.data)
        loss = check_scalar_loss(self.loss_fn(outputs, targets))
        grads = torch.autograd.grad(loss, leaves, allow_unused=True)
        grads = [torch.zeros_like(v) if g is None else g for g, v in zip(grads, leaves)]
        return grads, loss.detach(), batch_size(targets)

    def _fd_product(self, batch: Batch, tangents: list[torch.Tensor], k: int
                    ) -> tuple[list[torch.Tensor], torch.Tensor, int]:
        wide = compute_dtype(self.dtype)
        theta = [p.detach().to(wide) for p in self._params]
        columns: list[list[torch.Tensor]] = []
        loss, n = None, 0
        for j in range(k):
            v = [t[j].to(wide) for t in tangents]
            h = step_size(self._params, v)
            if h == 0.0:
                columns.append([torch.zeros_like(t[j]) for t in tangents])
                continue
            plus, loss, n = self._grad_at(batch, [(p + h * d).to(self.dtype)
                                                  for p, d in zip(theta, v)])
            minus, _, _ = self._grad_at(batch, [(p - h * d).to(self.dtype)
                                                for p, d in zip(theta, v)])
            columns.append([((a.to(wide) - b.to(wide)) / (2.0 * h)).to(self.dtype)
                            for a, b in zip(plus, minus)])
        if loss is None:  # every column was zero: the loss at θ for the finiteness check
            with torch.no_grad():
                loss, n = self._loss(batch)
        return [torch.stack([c[i] for c in columns]) for i in range(len(tangents))], loss, n

    # forward-over-reverse -------------------------------------------------------------
    def _func_product(self, batch: Batch, tangents: list[torch.Tensor], k: int
                      ) -> tuple[list[torch.Tensor], torch.Tensor, int]:
        if self._func_checked:
            return self._func_product_raw(batch, tangents, k)
        try:
            out = self._func_product_raw(batch, tangents, k)
        except (RuntimeError, NotImplementedError) as exc:
            warnings.warn(f"forward-over-reverse failed ({type(exc).__name__}: {exc}); falling "
                          "back to method='double_backprop'", RuntimeWarning, stacklevel=4)
            self.method = "double_backprop"
            return self._batch_product(batch, tangents, k)
        self._func_checked = True
        return out

    def _func_product_raw(self, batch: Batch, tangents: list[torch.Tensor], k: int
                          ) -> tuple[list[torch.Tensor], torch.Tensor, int]:
        names = self.param_names
        selected = set(names)
        fixed = {n: p.detach() for n, p in self.model.named_parameters() if n not in selected}
        fixed.update(dict(self.model.named_buffers()))
        primals = {n: p.detach() for n, p in zip(names, self._params)}
        n_b = self._count(batch)

        def loss_of(p: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
            outputs, targets = call_with(self.model, self.forward, {**fixed, **p}, batch.data)
            loss = check_scalar_loss(self.loss_fn(outputs, targets))
            return loss, loss.detach()

        g = grad(loss_of, has_aux=True)

        def hvp(t: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
            _, h, loss = jvp(g, (primals,), (t,), has_aux=True)
            return h, loss

        with torch.no_grad(), warnings.catch_warnings():
            # torch's one-time forward-AD set-up emits a DeprecationWarning about torch.jit
            warnings.simplefilter("ignore", DeprecationWarning)
            if k == 1:
                h, loss = hvp({n: t[0] for n, t in zip(names, tangents)})
                return [h[n].unsqueeze(0) for n in names], loss, n_b
            h, loss = vmap(hvp)({n: t for n, t in zip(names, tangents)})
            return [h[n] for n in names], loss[0], n_b
