r"""Data parallelism on ``torch.distributed``: each rank holds a shard, sums are all-reduced.

When a process group is active (``torchrun``, or ``torch.distributed.init_process_group`` by
hand; NCCL on GPUs, gloo on CPUs), a curvature operator treats its ``data`` as **this rank's
shard** and combines the shards exactly: with shard sums :math:`T_r = \sum_{b \in r} n_b\,p_b`
and counts :math:`N_r = \sum_{b\in r} n_b`, every rank gets

.. math::  p = \frac{\sum_r T_r}{\sum_r N_r},

the product one process holding all the data computes (ragged and unequal shards included; the
global sample count is reduced too). The flatness evaluator
(:mod:`landscape.flatness._evaluate`) reduces its loss and error sums the same way, and
sharpness its gradient, so local energy, the width, sharpness and the surfaces are
data-parallel too, and local entropy all-reduces its chains' full-data gradients
(:mod:`landscape.flatness._sgld`). The reduced buffer is the same
on every rank, so Lanczos, Hutch++ and SLQ with the same seeds give the same results
everywhere; every rank runs them.

Before the first product, the ranks check that they agree on the model (a hash of the selected
parameters), the dtype and the operator's settings: a disagreement raises the same
:class:`~landscape.errors.ConfigError` on every rank instead of a silent wrong sum or a hang.
Non-finite losses are reduced too, so every rank raises together.

``process_group="auto"`` (the default of the operators) uses the default group when one is
initialised with more than one rank; ``None`` turns data parallelism off explicitly (each rank
then measures its own data); a group object uses that group.

Example:
    >>> resolve_group("auto") is None     # no process group initialised here
    True
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import torch

from landscape.errors import ConfigError, NonFiniteError

#: Bytes sent into all-reduces by this process (the reduced buffers), for benchmarks.
BYTES_REDUCED = {"total": 0}


def resolve_group(process_group: Any = "auto") -> Any | None:
    """The process group to reduce over, or ``None`` (single process / explicitly off)."""
    if process_group is None:
        return None
    import torch.distributed as dist

    if isinstance(process_group, str):
        if process_group != "auto":
            raise ConfigError(f"process_group must be 'auto', None or a process group, got "
                              f"{process_group!r}")
        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
            return None
        return dist.group.WORLD
    if not (dist.is_available() and dist.is_initialized()):
        raise ConfigError("a process group was passed but torch.distributed is not initialised")
    return process_group


def _fingerprint(tensors: Sequence[torch.Tensor], settings: str) -> int:
    h = hashlib.sha256(settings.encode())
    for t in tensors:
        h.update(str(t.dtype).encode() + str(tuple(t.shape)).encode())
        h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return int.from_bytes(h.digest()[:7], "little")


def check_agreement(group: Any, tensors: Sequence[torch.Tensor], settings: str,
                    device: torch.device, failure: BaseException | None = None) -> None:
    """Raise on every rank unless all hold the same ``tensors`` (the model's parameters), dtype
    and ``settings``, and none failed before (``failure``, re-raised on its rank; the others
    raise a :class:`ConfigError` naming it); one all-gather of two int64 per rank."""
    import torch.distributed as dist

    mine = torch.tensor([_fingerprint(tensors, settings), int(failure is not None)],
                        dtype=torch.int64, device=device)
    world = dist.get_world_size(group)
    every = [torch.zeros_like(mine) for _ in range(world)]
    dist.all_gather(every, mine, group=group)
    values = [(int(t[0]), int(t[1])) for t in every]
    if failure is not None:
        raise failure
    failed = [r for r, (_, bad) in enumerate(values) if bad]
    if failed:
        raise ConfigError(f"rank(s) {failed} failed to set up the operator (see their error)")
    odd = [r for r, (v, _) in enumerate(values) if v != values[0][0]]
    if odd:
        raise ConfigError(f"the ranks disagree on the model, its dtype or the settings (ranks "
                          f"{odd} differ from rank 0): load the same weights and settings on "
                          "every rank")


def allreduce_weighted(total: list[torch.Tensor], count: int, bad: bool, group: Any
                       ) -> tuple[list[torch.Tensor], int]:
    """All-reduce the shard sums ``total`` and the sample ``count`` (and a non-finite flag).

    Returns:
        ``(Σ_r T_r, Σ_r N_r)``, the same on every rank.

    Raises:
        NonFiniteError: on every rank, if any rank saw a non-finite loss.
        ConfigError: on every rank, if the shards hold no sample at all.
    """
    import torch.distributed as dist

    device = total[0].device
    flat = torch.cat([t.reshape(-1) for t in total])
    dist.all_reduce(flat, group=group)
    counts = torch.tensor([count, int(bad)], dtype=torch.int64, device=device)
    dist.all_reduce(counts, group=group)
    BYTES_REDUCED["total"] += flat.numel() * flat.element_size() + 16
    if int(counts[1]) > 0:
        raise NonFiniteError("the loss is NaN or infinite on a batch of at least one rank")
    n = int(counts[0])
    if n == 0:
        raise ConfigError("the data of every rank yielded no sample")
    out, start = [], 0
    for t in total:
        out.append(flat[start:start + t.numel()].view_as(t))
        start += t.numel()
    return out, n


def allreduce_count(count: int, group: Any, device: torch.device) -> int:
    """``Σ_r count_r`` over the ranks of ``group``."""
    import torch.distributed as dist

    t = torch.tensor([count], dtype=torch.int64, device=device)
    dist.all_reduce(t, group=group)
    return int(t.item())


def shard(n: int, rank: int, world: int) -> slice:
    """Rank ``rank``'s contiguous share of ``n`` samples (the first ``n mod world`` ranks get
    one more): how ``landscape`` splits a data set over ranks.

    Example:
        >>> [shard(10, r, 3) for r in range(3)]
        [slice(0, 4, None), slice(4, 7, None), slice(7, 10, None)]
    """
    if not 0 <= rank < world:
        raise ConfigError(f"rank {rank} outside a world of {world}")
    base, extra = divmod(n, world)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (rank < extra))
