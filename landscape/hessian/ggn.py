"""The generalised Gauss–Newton matrix of the mean loss over a data set, matrix-free."""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn

from landscape.errors import ConfigError
from landscape.forward import Forward
from landscape.hessian._checks import check_scalar_loss
from landscape.hessian._data import Batch, ParamSelection
from landscape.hessian._operator import CurvatureOperator, LossFn, grad_block

#: How a GGN-vector product is computed:
#:
#: - ``"cached"``: keep each batch's forward graph, the loss Hessian graph and the graph of
#:   ``Jᵀu`` (linear in a dummy ``u``), and reuse them: a product is three backward passes.
#: - ``"streamed"``: rebuild them per batch and product (memory of one batch).
#: - ``"auto"``: ``"cached"`` for one in-memory batch, ``"streamed"`` for an iterable.
GgnMethod = Literal["auto", "cached", "streamed"]


class GGNOperator(CurvatureOperator):
    """Generalised Gauss–Newton matrix ``G = Σ_b (n_b/N) J_bᵀ H_b J_b`` of the mean loss.

    .. math::
        G = \\sum_b \\frac{n_b}{N}\\, J_b^\\top \\,\\nabla^2_{z} L_b(z)\\, J_b,\\qquad
        J_b = \\frac{\\partial f_\\theta(x_b)}{\\partial \\theta},

    where ``z = f_θ(x_b)`` are the network outputs of batch ``b`` and ``L_b(z)`` its mean loss.
    ``G`` drops the term of the Hessian that involves second derivatives of the network, so it
    is positive semi-definite for convex losses (cross-entropy, MSE). Products use only
    vector-Jacobian products: ``J v`` by the double-vjp trick (differentiate ``u ↦ Jᵀu`` w.r.t.
    ``u``), ``∇²_z L_b`` by double backprop through the loss, ``Jᵀ w`` by one backward; no
    Jacobian is ever formed. Same interface, weighting, parameter blocks and checks as
    :class:`~landscape.hessian.HessianOperator`.

    Args:
        model: the network; the forward must return one output tensor.
        loss_fn: ``loss_fn(outputs, targets)`` → scalar batch-mean loss.
        data: one batch or a re-iterable of batches.
        params: parameter block (see :class:`~landscape.hessian.HessianOperator`).
        check_deterministic: see :class:`~landscape.hessian.HessianOperator`.
        method: see :data:`GgnMethod`.
        forward: ``forward(model, batch) -> (outputs, targets)`` or a registered name
            (:mod:`landscape.forward`); ``n_b = len(targets)``.
        process_group: data parallelism (:mod:`landscape.distributed`): ``"auto"`` (default)
            reduces over the default ``torch.distributed`` group when one with 2+ ranks is
            initialised, treating ``data`` as this rank's shard; ``None`` turns it off; or a
            group. A ``DistributedDataParallel`` model is unwrapped.

    Example:
        >>> model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
        >>> x, y = torch.randn(8, 3), torch.randint(0, 2, (8,))
        >>> G = GGNOperator(model, nn.CrossEntropyLoss(), (x, y))
        >>> v = torch.randn(G.num_params)
        >>> bool(v @ (G @ v) >= 0)
        True
    """

    _METHODS = ("cached", "streamed")

    def __init__(self, model: nn.Module, loss_fn: LossFn, data: object, *,
                 params: ParamSelection = None, check_deterministic: bool = True,
                 method: GgnMethod = "auto", forward: Forward | str | None = None,
                 process_group: Any = "auto") -> None:
        super().__init__(model, loss_fn, data, params=params,
                         check_deterministic=check_deterministic, method=method,
                         forward=forward, process_group=process_group)

    def _build_cache(self, batch: Batch) -> tuple[Any, torch.Tensor, int]:
        out, targets, n = self._outputs(batch)
        if not isinstance(out, torch.Tensor):
            raise ConfigError(f"GGNOperator needs a forward that returns one output tensor, "
                              f"got {type(out).__name__}")
        z = out.detach().requires_grad_(True)
        loss = check_scalar_loss(self.loss_fn(z, targets))
        (gz,) = torch.autograd.grad(loss, z, create_graph=True)
        u = torch.zeros_like(out, requires_grad=True)
        jtu = torch.autograd.grad(out, self._params, u, create_graph=True, allow_unused=True)
        return (out, z, gz, u, jtu), loss.detach(), n

    def _cached_product(self, state: Any, tangents: list[torch.Tensor], k: int,
                        retain: bool = True) -> list[torch.Tensor]:
        out, z, gz, u, jtu = state
        (jv,) = grad_block(jtu, [u], tangents, k, retain_graph=True,
                            batched=self._batched)  # J v
        (hjv,) = grad_block([gz], [z], [jv], k, retain_graph=True,
                             batched=self._batched)  # ∇²_z L_b J v
        return grad_block([out], self._params, [hjv], k, retain_graph=retain,  # Jᵀ(...)
                          batched=self._batched)

    def _batch_product(self, batch: Batch, tangents: list[torch.Tensor], k: int
                       ) -> tuple[list[torch.Tensor], torch.Tensor, int]:
        state, loss, n = self._build_cache(batch)
        return self._cached_product(state, tangents, k, retain=False), loss, n
