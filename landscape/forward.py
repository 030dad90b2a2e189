"""Structured batches: how a batch becomes ``(outputs, targets)``, and a registry of named forwards.

Every training and measuring path of landscape applies its loss to ``(outputs, targets)``. A
*forward* says how a batch of the data becomes that pair:

.. code-block:: python

    Forward = Callable[[nn.Module, Any], tuple[Tensor, Tensor]]
    outputs, targets = forward(model, batch)
    loss = loss_fn(outputs, targets)          # the batch mean, as before

so batches may be tuples ``(x, y, ...)``, or dicts with padding masks, lengths or graphs. The
**sample count** of a batch is :func:`batch_size` ``(targets) = len(targets)``: the estimators
weight a batch by it and the mean loss is taken over it. A forward that returns the unpadded
tokens (``outputs[mask]``, ``targets[mask]``) therefore makes a token-level loss count tokens,
and the mean over a data set is the mean over all its tokens.

Stored runs record their forward by its **registry name** (:func:`forward_name`), and reading a
run back looks the name up with :func:`get_forward`: a study file never chooses code by an import
path. Register your own forward once, in your code, before training or measuring:

Example:
    >>> import torch
    >>> from torch import nn
    >>> def pairs(model, batch):            # batches {"x": inputs, "y": labels}
    ...     return model(batch["x"]), batch["y"]
    >>> _ = register_forward("my_pairs", pairs)
    >>> batch = {"x": torch.ones(4, 3), "y": torch.zeros(4)}
    >>> out, y = get_forward("my_pairs")(nn.Linear(3, 2), batch)
    >>> out.shape, batch_size(y)
    (torch.Size([4, 2]), 4)

Built in: ``"default"`` (:func:`default_forward`) and ``"padded_sequence"``
(:func:`padded_sequence_forward`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from landscape.errors import ConfigError

#: ``forward(model, batch) -> (outputs, targets)``; the loss is then ``loss_fn(outputs, targets)``.
Forward = Callable[[nn.Module, Any], tuple[Tensor, Tensor]]

_FORWARDS: dict[str, Forward] = {}


def default_forward(model: nn.Module, batch: Any) -> tuple[Tensor, Tensor]:
    """``(model(batch[0]), batch[1])``: a tuple batch ``(x, y, ...)``; further entries ignored.

    Example:
        >>> out, y = default_forward(nn.Linear(2, 3), (torch.ones(5, 2), torch.zeros(5)))
        >>> out.shape, y.shape
        (torch.Size([5, 3]), torch.Size([5]))
    """
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        raise ConfigError(f"the default forward needs batches (x, y, ...), got "
                          f"{type(batch).__name__}; pass forward= for other batches")
    return model(batch[0]), batch[1]


def padded_sequence_forward(model: nn.Module, batch: Any) -> tuple[Tensor, Tensor]:
    """A batch of padded sequences as a dict: every real (unpadded) token is one sample.

    The batch holds ``"inputs"`` ``[B, T, ...]``, ``"mask"`` ``[B, T]`` (``True`` at real
    tokens), ``"targets"`` ``[B, T]`` and optionally ``"lengths"`` ``[B]``. The model is called as
    ``model(inputs, mask)`` and returns per-token outputs ``[B, T, C]``; the result is
    ``(outputs[mask], targets[mask])``, so a mean loss is the mean over all real tokens and
    :func:`batch_size` counts tokens.

    Raises:
        ConfigError: if a key is missing or the mask disagrees with ``lengths``.

    Example:
        >>> class Tagger(nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.lin = nn.Linear(2, 3)
        ...     def forward(self, x, mask):
        ...         return self.lin(x)
        >>> mask = torch.tensor([[True, True], [True, False]])
        >>> batch = {"inputs": torch.ones(2, 2, 2), "mask": mask,
        ...          "targets": torch.zeros(2, 2, dtype=torch.long),
        ...          "lengths": torch.tensor([2, 1])}
        >>> out, y = padded_sequence_forward(Tagger(), batch)
        >>> out.shape, batch_size(y)
        (torch.Size([3, 3]), 3)
    """
    if not isinstance(batch, Mapping):
        raise ConfigError(f"the padded_sequence forward needs dict batches, got "
                          f"{type(batch).__name__}")
    missing = [k for k in ("inputs", "mask", "targets") if k not in batch]
    if missing:
        raise ConfigError(f"padded_sequence batch lacks {missing}; it has {sorted(batch)}")
    mask = batch["mask"].bool()
    lengths = batch.get("lengths")
    if lengths is not None and not torch.equal(mask.sum(1).to(lengths.device),
                                               lengths.to(torch.long)):
        raise ConfigError("padded_sequence batch: mask and lengths disagree")
    outputs = model(batch["inputs"], mask)
    return outputs[mask], batch["targets"][mask]


def batch_size(targets: Any) -> int:
    """The sample count of a batch: ``len(targets)`` (tokens, for a token-level forward).

    Raises:
        ConfigError: if the targets have no length (a scalar).
    """
    try:
        return len(targets)
    except TypeError:
        raise ConfigError(f"cannot count the samples of a batch: its targets "
                          f"({type(targets).__name__}) have no length") from None


def register_forward(name: str, fn: Forward, *, overwrite: bool = False) -> Forward:
    """Register ``fn`` under ``name`` (returns ``fn``, so it works as a plain call or helper).

    Raises:
        ConfigError: if ``name`` is taken by another function (unless ``overwrite``), or ``fn``
            is not callable.
    """
    if not isinstance(name, str) or not name:
        raise ConfigError("a forward's name must be a non-empty string")
    if not callable(fn):
        raise ConfigError(f"forward {name!r} must be callable as fn(model, batch)")
    if name in _FORWARDS and _FORWARDS[name] is not fn and not overwrite:
        raise ConfigError(f"a forward named {name!r} is already registered; pass overwrite=True "
                          "to replace it")
    _FORWARDS[name] = fn
    return fn


def get_forward(name: str) -> Forward:
    """The forward registered as ``name``.

    Raises:
        ConfigError: for a name that is not registered (register it with
            :func:`register_forward` in your code before reading the run back).
    """
    try:
        return _FORWARDS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown forward {name!r}; registered: {sorted(_FORWARDS)} (register "
                          "yours with landscape.forward.register_forward)") from None


def forward_names() -> list[str]:
    """The registered names, sorted."""
    return sorted(_FORWARDS)


def forward_name(fn: Forward | None) -> str | None:
    """The registry name of ``fn`` (``"default"`` for ``None``), or ``None`` if not registered."""
    if fn is None:
        return "default"
    for name, registered in _FORWARDS.items():
        if registered is fn:
            return name
    return None


def resolve_forward(forward: Forward | str | None) -> Forward:
    """A forward from a callable, a registry name, or ``None`` (the default)."""
    if forward is None:
        return default_forward
    if isinstance(forward, str):
        return get_forward(forward)
    if not callable(forward):
        raise ConfigError(f"forward must be callable as forward(model, batch) or a registered "
                          f"name, got {type(forward).__name__}")
    return forward


def move_batch(batch: Any, device: torch.device, dtype: torch.dtype | None = None) -> Any:
    """``batch`` with every tensor (in tuples, lists and dicts) moved to ``device``.

    Floating-point tensors are cast to ``dtype`` when given (a float32 loader feeding a float64
    model just works); integer and boolean tensors keep their dtype.
    """
    if isinstance(batch, Tensor):
        if dtype is not None and batch.is_floating_point() and batch.dtype != dtype:
            return batch.to(device=device, dtype=dtype)
        return batch.to(device=device)
    if isinstance(batch, Mapping):
        return {k: move_batch(v, device, dtype) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(move_batch(v, device, dtype) for v in batch) \
            if not hasattr(batch, "_fields") else type(batch)(*(move_batch(v, device, dtype)
                                                                for v in batch))
    return batch


def batch_tensors(batch: Any) -> list[Tensor]:
    """The tensors of a (nested) batch in a fixed order (dict entries by sorted key)."""
    if isinstance(batch, Tensor):
        return [batch]
    if isinstance(batch, Mapping):
        return [t for k in sorted(batch, key=str) for t in batch_tensors(batch[k])]
    if isinstance(batch, (tuple, list)):
        return [t for v in batch for t in batch_tensors(v)]
    return []


register_forward("default", default_forward)
register_forward("padded_sequence", padded_sequence_forward)

__all__ = ["Forward", "batch_size", "batch_tensors", "default_forward", "forward_name",
           "forward_names", "get_forward", "move_batch", "padded_sequence_forward",
           "register_forward", "resolve_forward"]
