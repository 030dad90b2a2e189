"""What the estimators require of a loss function, checked where they are given one.

Every operator and estimator of ``landscape`` takes ``loss_fn(outputs, targets)`` returning the
**mean** loss over a batch, and weights each batch by its size, so that the result refers to the
mean loss over the data set whatever the batching. A loss that sums over the batch
(``nn.CrossEntropyLoss(reduction="sum")``) would silently scale every result by a batch size
(one batch of 40: a Hessian 40 times too large; batches of 16 and a remainder: neither the mean
nor the sum). :func:`check_loss_fn` refuses such a loss, and makes a ``torch.nn`` loss check each
batch it is given: labels of another length than the outputs, or float labels for a
classification loss, raise a :class:`~landscape.errors.ConfigError` that says what to pass
instead of a raw torch error. A plain function cannot be inspected; it must return the mean.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from landscape.errors import ConfigError

#: Classification losses whose targets are class indices (integers) unless they are
#: probabilities of the outputs' shape.
_INDEX_TARGETS = (nn.CrossEntropyLoss, nn.NLLLoss, nn.MultiMarginLoss)
_INDEX_FUNCTIONS = {"cross_entropy", "nll_loss", "multi_margin_loss"}
_HOOKED = "_landscape_checked"


def _reduction(loss_fn: Any) -> str | None:
    if isinstance(loss_fn, nn.modules.loss._Loss):
        return str(loss_fn.reduction)
    if isinstance(loss_fn, functools.partial):
        return str(loss_fn.keywords.get("reduction", "mean"))
    return None


def _name(loss_fn: Any) -> str:
    if isinstance(loss_fn, functools.partial):
        return f"partial({getattr(loss_fn.func, '__name__', loss_fn.func)!s}, ...)"
    return type(loss_fn).__name__ if isinstance(loss_fn, nn.Module) else str(loss_fn)


def check_batch(outputs: Any, targets: Any, *, index_targets: bool) -> None:
    """Raise :class:`ConfigError` for labels that do not fit the outputs of a batch."""
    if not isinstance(outputs, torch.Tensor) or not isinstance(targets, torch.Tensor):
        return
    if outputs.ndim >= 1 and targets.ndim >= 1 and outputs.shape[0] != targets.shape[0] \
            and not (outputs.ndim == 1 and targets.ndim == 1 and not index_targets):
        raise ConfigError(
            f"the batch has {outputs.shape[0]} inputs but {targets.shape[0]} labels: pass data "
            "whose inputs and labels have the same length (one label per input)")
    if index_targets and targets.is_floating_point() and targets.shape != outputs.shape:
        raise ConfigError(
            f"the labels are {targets.dtype} of shape {list(targets.shape)} for a "
            "classification loss: pass class indices as an integer tensor (y.long()), or class "
            f"probabilities of the outputs' shape {list(outputs.shape)}")


def _pre_hook(module: nn.Module, args: tuple[Any, ...]) -> None:
    if len(args) >= 2:
        check_batch(args[0], args[1], index_targets=isinstance(module, _INDEX_TARGETS))


def check_loss_fn(loss_fn: Callable[..., Any]) -> Callable[..., Any]:
    """Check that ``loss_fn`` averages over the batch, and return it ready to use.

    A ``torch.nn`` loss (or a ``functools.partial`` of a ``torch.nn.functional`` loss) must have
    ``reduction="mean"``; a ``torch.nn`` loss then also checks the labels of every batch
    (:func:`check_batch`, through a forward pre-hook, so the object and its type stay the same).

    Raises:
        ConfigError: not callable, or a reduction other than ``"mean"``.

    Example:
        >>> try:
        ...     check_loss_fn(nn.CrossEntropyLoss(reduction="sum"))
        ... except ConfigError as err:
        ...     print(str(err)[:44])
        CrossEntropyLoss has reduction='sum', but la
    """
    if not callable(loss_fn):
        raise ConfigError("loss_fn must be callable as loss_fn(outputs, targets)")
    reduction = _reduction(loss_fn)
    if reduction is not None and reduction != "mean":
        raise ConfigError(
            f"{_name(loss_fn)} has reduction={reduction!r}, but landscape needs the mean loss "
            "over each batch, a scalar (it weights batches by their size, so results refer to "
            "the mean loss over the data); pass reduction='mean' (torch's default), e.g. "
            "nn.CrossEntropyLoss()")
    if isinstance(loss_fn, nn.Module) and not getattr(loss_fn, _HOOKED, False):
        loss_fn.register_forward_pre_hook(_pre_hook)
        setattr(loss_fn, _HOOKED, True)
    return loss_fn
