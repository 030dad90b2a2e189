"""How the operators read their data and choose their parameters (private).

``data`` is either one batch or an iterable of batches. What a batch is depends on the forward
(:mod:`landscape.forward`): with the default forward, a tuple or list whose first two entries
are the inputs ``x`` and the targets ``y`` (further entries, such as ``(x, y, y_clean, index)``
from :class:`landscape.data.LabelledDataset`, are ignored); with another forward, anything that
forward takes (a dict with padding masks, lengths, graphs). Every tensor of a batch is moved to
the parameters' device, floating ones cast to their dtype.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

import torch
from torch import nn

from landscape.errors import ConfigError
from landscape.forward import Forward, batch_tensors, default_forward, move_batch

#: Parameter selection: ``None`` (all trainable parameters), a glob pattern on the parameter
#: names (``"hidden.0.*"``), a sequence of exact names, a predicate on the name, or a module of
#: the model (or a sequence of modules): its parameters.
ParamSelection = Union[None, str, Sequence[str], Callable[[str], bool], nn.Module,  # noqa: UP007
                       Sequence[nn.Module]]


@dataclass(frozen=True)
class Batch:
    """One batch, moved to the parameters' device.

    Attributes:
        x, y: inputs and targets of a tuple batch under the default forward (``None`` otherwise).
        n: its sample count ``len(y)`` under the default forward; ``None`` for another forward,
            whose targets decide it (:func:`landscape.forward.batch_size`).
        data: the whole moved batch, what ``forward(model, data)`` receives.
    """

    x: Any
    y: Any
    n: int | None
    data: Any = None


def is_single_batch(data: object) -> bool:
    """Whether ``data`` is one batch (``(x, y, ...)`` or a dict) rather than an iterable."""
    if isinstance(data, Mapping):
        return True
    return isinstance(data, (tuple, list)) and len(data) >= 2 \
        and isinstance(data[0], torch.Tensor)


def check_reiterable(data: object) -> None:
    """Raise :class:`ConfigError` unless ``data`` can be iterated more than once."""
    if is_single_batch(data):
        return
    if isinstance(data, Iterator):
        raise ConfigError("data is a one-shot iterator (a generator?); every product needs a "
                          "pass over the data, so pass a list of batches or a DataLoader")
    if not isinstance(data, Iterable):
        raise ConfigError(f"data must be one (x, y) batch or an iterable of (x, y) batches, got "
                          f"{type(data).__name__}")


def split_batch(item: object, index: int, device: torch.device, dtype: torch.dtype, *,
                structured: bool = False) -> Batch:
    """Move a batch item to ``device``; for the default forward take ``(x, y)`` and count them.

    Floating-point tensors are cast to the parameters' ``dtype`` (a float32 loader feeding a
    float64 model then just works); other tensors keep their dtype. With ``structured`` (a
    forward other than the default) the batch is moved as it is and counted by the forward.
    """
    if structured:
        return Batch(None, None, None, move_batch(item, device, dtype))
    if not isinstance(item, (tuple, list)) or len(item) < 2:
        raise ConfigError(f"batch {index} must be a tuple (x, y, ...), got {type(item).__name__}"
                          "; pass forward= for other batches")
    data = move_batch(item, device, dtype)
    x, y = data[0], data[1]
    if isinstance(y, torch.Tensor) and y.ndim > 0:
        n = int(y.shape[0])
    elif isinstance(x, torch.Tensor) and x.ndim > 0:
        n = int(x.shape[0])
    else:
        raise ConfigError(f"cannot count the samples of batch {index}: neither x nor y is a "
                          "tensor with a batch dimension")
    if n == 0:
        raise ConfigError(f"batch {index} is empty")
    return Batch(x, y, n, data)


def iterate(data: object, device: torch.device, dtype: torch.dtype,
            forward: Forward | None = None) -> Iterator[Batch]:
    """Yield the batches of ``data`` (one batch counts as an iterable of one)."""
    structured = forward is not None and forward is not default_forward
    items: Iterable[Any] = (data,) if is_single_batch(data) else data  # type: ignore[assignment]
    for i, item in enumerate(items):
        yield split_batch(item, i, device, dtype, structured=structured)


def fingerprint(batch: Batch) -> torch.Tensor:
    """A cheap float64 summary of a batch: its size, position-weighted sums and sums of squares.

    Two passes over a fixed data set give identical fingerprints; a shuffled loader or random
    augmentation almost surely does not. Computed where the batch lives (no device sync).
    """
    parts: list[torch.Tensor] = []
    device = None
    tensors = (batch.x, batch.y) if batch.data is None else batch_tensors(batch.data)
    for t in tensors:
        if isinstance(t, torch.Tensor) and t.ndim > 0:
            d = t.detach().to(torch.float64).reshape(t.shape[0], -1)
            w = torch.arange(1, d.shape[0] + 1, dtype=torch.float64, device=d.device)
            parts += [(d.sum(1) * w).sum(), (d * d).sum()]
            device = d.device
    parts.append(torch.tensor(float(batch.n or 0), dtype=torch.float64, device=device))
    return torch.stack(parts)


def _as_modules(params: ParamSelection) -> list[nn.Module] | None:
    """``params`` as a list of modules, or ``None`` if it is not a module selection."""
    if isinstance(params, nn.Module):
        return [params]
    if isinstance(params, Sequence) and not isinstance(params, str) and len(params) > 0 \
            and all(isinstance(m, nn.Module) for m in params):
        return list(params)  # type: ignore[arg-type]
    return None


def select_parameters(model: nn.Module, params: ParamSelection
                      ) -> tuple[list[str], list[nn.Parameter]]:
    """The names and tensors of the parameters selected by ``params``, in model order.

    A module (or sequence of modules) selects its parameters as they are named in ``model``,
    found by identity, e.g. ``select_parameters(vit, vit.blocks[0].attn.query)``.

    Raises:
        ConfigError: for an unknown name, a pattern, predicate or module that selects nothing,
            a module that is not part of ``model``, or a selected parameter that does not
            require gradients.
    """
    named = list(model.named_parameters())
    modules = _as_modules(params)
    if modules is not None:
        ids = {id(p) for m in modules for p in m.parameters()}
        chosen = [(n, p) for n, p in named if id(p) in ids]
        what = f"module(s) {[type(m).__name__ for m in modules]}"
        if ids and not chosen:
            raise ConfigError(f"{what} are not part of the model")
    elif params is None:
        chosen = [(n, p) for n, p in named if p.requires_grad]
        what = "the model"
    elif isinstance(params, str):
        chosen = [(n, p) for n, p in named if fnmatch.fnmatchcase(n, params)]
        what = f"pattern {params!r}"
    elif callable(params):
        chosen = [(n, p) for n, p in named if params(n)]
        what = "the predicate"
    else:
        wanted = list(params)
        names = {n for n, _ in named}
        unknown = [w for w in wanted if w not in names]
        if unknown:
            raise ConfigError(f"unknown parameter name(s) {unknown}; the model has "
                              f"{sorted(names)}")
        chosen = [(n, p) for n, p in named if n in set(wanted)]
        what = f"names {wanted}"
    if not chosen:
        raise ConfigError(f"{what} selects no trainable parameter; names are "
                          f"{[n for n, _ in named]}")
    frozen = [n for n, p in chosen if not p.requires_grad]
    if frozen:
        raise ConfigError(f"selected parameters {frozen} have requires_grad=False")
    return [n for n, _ in chosen], [p for _, p in chosen]
