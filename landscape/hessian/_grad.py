"""Vector-Jacobian products for a block of cotangents at once (private)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch


def grad_block(outputs: Sequence[torch.Tensor | None], inputs: Sequence[torch.Tensor],
               grad_outputs: Sequence[torch.Tensor], k: int, *, retain_graph: bool,
               create_graph: bool = False, batched: bool = True) -> list[torch.Tensor]:
    """Vector-Jacobian products of ``outputs`` w.r.t. ``inputs`` for ``k`` cotangents at once.

    ``grad_outputs[i]`` has shape ``[k, *outputs[i].shape]``; the result has one ``[k, *shape]``
    tensor per input. Outputs that are ``None`` or do not depend on the graph contribute zero,
    inputs that are not reached get zeros. With ``k > 1`` and ``batched``, the backward pass is
    vmapped over the cotangents (``is_grads_batched``: the graph is traversed once for the whole
    block); otherwise, or if an operation has no batching rule, the same graph is traversed once
    per column (the forward pass and the first-order graph are still shared).
    """
    pairs = [(o, g) for o, g in zip(outputs, grad_outputs)
             if o is not None and o.requires_grad]
    if not pairs:
        return [torch.zeros(k, *x.shape, dtype=x.dtype, device=x.device) for x in inputs]
    outs = [o for o, _ in pairs]
    cots = [g for _, g in pairs]
    result: Sequence[torch.Tensor | None]
    if k == 1:
        res = torch.autograd.grad(outs, inputs, [c[0] for c in cots], retain_graph=retain_graph,
                                  create_graph=create_graph, allow_unused=True)
        result = [None if r is None else r.unsqueeze(0) for r in res]
    else:
        result = None
        if batched:
            try:
                result = torch.autograd.grad(outs, inputs, cots, retain_graph=True,
                                             create_graph=create_graph, allow_unused=True,
                                             is_grads_batched=True)
            except (RuntimeError, NotImplementedError) as exc:  # no batching rule for some op
                warnings.warn(f"batched backward failed ({exc}); multiplying column by column",
                              RuntimeWarning, stacklevel=3)
        if result is None:
            cols = [torch.autograd.grad(outs, inputs, [c[j] for c in cots], retain_graph=True,
                                        create_graph=create_graph, allow_unused=True)
                    for j in range(k)]
            result = [None if cols[0][i] is None else torch.stack([c[i] for c in cols])
                      for i in range(len(inputs))]
    return [torch.zeros(k, *x.shape, dtype=x.dtype, device=x.device) if r is None else r
            for r, x in zip(result, inputs)]
