"""How the operators read their data and choose their parameters (private).

``data`` is either one batch or an iterable of batches. A batch is a tuple or list whose first two
entries are the inputs ``x`` and the targets ``y``; further entries (``(x, y, y_clean, index)``
from :class:`landscape.data.LabelledDataset`) are ignored.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Union

import torch
from torch import nn

from landscape.errors import ConfigError

#: Parameter selection: ``None`` (all trainable parameters), a glob pattern on the parameter
#: names (``"hidden.0.*"``), a sequence of exact names, or a predicate on the name.
ParamSelection = Union[None, str, Sequence[str], Callable[[str], bool]]  # noqa: UP007


@dataclass(frozen=True)
class Batch:
    """One batch, moved to the parameters' device: inputs, targets and number of samples."""

    x: Any
    y: Any
    n: int


def is_single_batch(data: object) -> bool:
    """Whether ``data`` is one batch ``(x, y, ...)`` rather than an iterable of batches."""
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


def split_batch(item: object, index: int, device: torch.device, dtype: torch.dtype) -> Batch:
    """Take ``(x, y)`` from a batch item, move them to ``device`` and count the samples.

    Floating-point inputs are cast to the parameters' ``dtype`` (a float32 loader feeding a
    float64 model then just works); targets keep their dtype unless they are floating point.
    """
    if not isinstance(item, (tuple, list)) or len(item) < 2:
        raise ConfigError(f"batch {index} must be a tuple (x, y, ...), got {type(item).__name__}")
    x, y = item[0], item[1]
    x, y = _to(x, device, dtype), _to(y, device, dtype)
    if isinstance(x, torch.Tensor) and x.ndim > 0:
        n = int(x.shape[0])
    elif isinstance(y, torch.Tensor) and y.ndim > 0:
        n = int(y.shape[0])
    else:
        raise ConfigError(f"cannot count the samples of batch {index}: neither x nor y is a "
                          "tensor with a batch dimension")
    if n == 0:
        raise ConfigError(f"batch {index} is empty")
    return Batch(x, y, n)


def _to(t: Any, device: torch.device, dtype: torch.dtype) -> Any:
    if not isinstance(t, torch.Tensor):
        return t
    if t.is_floating_point() and t.dtype != dtype:
        return t.to(device=device, dtype=dtype)
    return t.to(device=device)


def iterate(data: object, device: torch.device, dtype: torch.dtype) -> Iterator[Batch]:
    """Yield the batches of ``data`` (one batch counts as an iterable of one)."""
    items: Iterable[Any] = (data,) if is_single_batch(data) else data  # type: ignore[assignment]
    for i, item in enumerate(items):
        yield split_batch(item, i, device, dtype)


def fingerprint(batch: Batch) -> torch.Tensor:
    """A cheap float64 summary of a batch: its size, position-weighted sums and sums of squares.

    Two passes over a fixed data set give identical fingerprints; a shuffled loader or random
    augmentation almost surely does not. Computed where the batch lives (no device sync).
    """
    parts: list[torch.Tensor] = []
    device = None
    for t in (batch.x, batch.y):
        if isinstance(t, torch.Tensor) and t.ndim > 0:
            d = t.detach().to(torch.float64).reshape(t.shape[0], -1)
            w = torch.arange(1, d.shape[0] + 1, dtype=torch.float64, device=d.device)
            parts += [(d.sum(1) * w).sum(), (d * d).sum()]
            device = d.device
    parts.append(torch.tensor(float(batch.n), dtype=torch.float64, device=device))
    return torch.stack(parts)


def select_parameters(model: nn.Module, params: ParamSelection
                      ) -> tuple[list[str], list[nn.Parameter]]:
    """The names and tensors of the parameters selected by ``params``, in model order.

    Raises:
        ConfigError: for an unknown name, a pattern or predicate that selects nothing, or a
            selected parameter that does not require gradients.
    """
    named = list(model.named_parameters())
    if params is None:
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
