"""Local energy with BatchNorm statistics re-estimated for every perturbed copy (private).

:func:`recalibrated` is :meth:`landscape.flatness._evaluate.Evaluator.recalibrated`: each copy is
loaded into a private deep copy of the model, its BatchNorm running statistics are reset and
re-estimated as the plain average over the first ``bn_batches`` batches in train mode with
``momentum=None`` (``torch.optim.swa_utils.update_bn``, Izmailov et al. 2018), and the copy is
then evaluated in eval mode. The caller's model is never touched.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TYPE_CHECKING

import torch
from torch import nn

from landscape.errors import ConfigError
from landscape.hessian._checks import check_scalar_loss

if TYPE_CHECKING:
    from landscape.flatness._evaluate import Evaluator

_NORM_TYPES = (nn.modules.batchnorm._BatchNorm,)


def recalibrated(ev: Evaluator, stack: Mapping[str, torch.Tensor], *,
                 bn_batches: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The full-data loss and error of every copy in ``stack``, each with its own BatchNorm
    statistics.

    Raises:
        ConfigError: under a process group: each rank would estimate the statistics on its own
            shard, so the copies would differ between ranks and from one process.
    """
    if ev.group is not None:
        raise ConfigError("bn='recalibrate' is not data-parallel (each rank would re-estimate "
                          "BatchNorm statistics on its own shard): use bn='stored' or one "
                          "process")
    work = copy.deepcopy(ev.model)
    wparams = dict(work.named_parameters())
    norms = [m for m in work.modules() if isinstance(m, _NORM_TYPES)]
    k = next(iter(stack.values())).shape[0]
    losses, errors = [], []
    with torch.no_grad():
        for i in range(k):
            for n, t in stack.items():
                wparams[n].copy_(t[i])
            work.eval()
            for m in norms:
                m.reset_running_stats()
                m.momentum = None
                m.train()
            for b, batch in enumerate(ev.batches()):
                if bn_batches is not None and b >= bn_batches:
                    break
                ev.apply(work, batch)
            work.eval()
            loss = torch.zeros((), dtype=torch.float64, device=ev.device)
            wrong = torch.zeros((), dtype=torch.float64, device=ev.device)
            for batch in ev.batches():
                out, y, n = ev.apply(work, batch)
                loss += check_scalar_loss(ev.loss_fn(out, y)).to(torch.float64) * n
                wrong += ev._wrong(out.unsqueeze(0) if isinstance(out, torch.Tensor)
                                   else out, y)[0]
            losses.append(loss)
            errors.append(wrong)
    # one copy to the host, divided there (see Evaluator.stacked)
    return (torch.stack(losses).cpu() / ev.num_data, torch.stack(errors).cpu() / ev.num_data)
