"""Input checks shared by the operators and estimators (private).

Each check raises a :class:`~landscape.errors.LandscapeError` subclass whose message says what was
wrong and what to do about it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import nn

from landscape.errors import ConfigError, NonDeterministicError, NonFiniteError

_DROPOUT_TYPES: tuple[type[nn.Module], ...] = (nn.modules.dropout._DropoutNd,)
_NORM_TYPES: tuple[type[nn.Module], ...] = (nn.modules.batchnorm._BatchNorm,)


def stochastic_modules(model: nn.Module) -> list[str]:
    """Describe every module of ``model`` whose forward pass is not a fixed function of the data.

    Found: BatchNorm layers in train mode (they normalise with the statistics of the current batch
    and update their running statistics on every forward pass), dropout layers in train mode with
    ``p > 0`` and ``nn.MultiheadAttention`` in train mode with ``dropout > 0``.

    Returns:
        One human-readable finding per module, empty when the model is deterministic.
    """
    found: list[str] = []
    for name, module in model.named_modules():
        label = name or "<root>"
        if not module.training:
            continue
        if isinstance(module, _NORM_TYPES):
            found.append(f"BatchNorm layer {label!r} ({type(module).__name__}) is in train mode")
        elif isinstance(module, _DROPOUT_TYPES) and float(module.p) > 0:
            found.append(f"dropout layer {label!r} ({type(module).__name__}, p={module.p}) is "
                         "in train mode")
        elif isinstance(module, nn.MultiheadAttention) and float(module.dropout) > 0:
            found.append(f"attention layer {label!r} has dropout={module.dropout} in train mode")
    return found


def raise_nondeterministic(findings: Sequence[str]) -> None:
    """Raise one :class:`NonDeterministicError` listing every finding (no-op when empty)."""
    if findings:
        raise NonDeterministicError(
            "the curvature operator would not be a fixed matrix: " + "; ".join(findings)
            + ". Call model.eval() (BatchNorm then uses its running statistics, dropout is off), "
            "iterate the data in a fixed order without random augmentation (e.g. "
            "DataLoader(shuffle=False)), or pass check_deterministic=False to accept this.")


def check_scalar_loss(loss: object) -> torch.Tensor:
    """Return ``loss`` as a 0-dim tensor, or raise :class:`ConfigError` if it is not a scalar."""
    if not isinstance(loss, torch.Tensor):
        raise ConfigError(f"loss_fn must return a scalar torch.Tensor, got {type(loss).__name__}")
    if loss.numel() != 1:
        raise ConfigError(
            f"loss_fn must return a scalar (the mean loss over the batch), got a tensor of shape "
            f"{list(loss.shape)}; use reduction='mean' (e.g. nn.CrossEntropyLoss()), not 'none'")
    return loss.reshape(())


def check_finite_losses(losses: Sequence[torch.Tensor]) -> None:
    """Raise :class:`NonFiniteError` naming the first batch whose loss is NaN or infinite.

    All losses of a pass are checked together, so a GPU synchronises once per pass, not per batch.
    """
    if not losses:
        return
    values = torch.stack([loss.detach().reshape(()) for loss in losses])
    ok = torch.isfinite(values)
    if not bool(ok.all()):
        i = int((~ok).nonzero()[0, 0])
        raise NonFiniteError(f"the loss of batch {i} is {float(values[i])}; the Hessian is "
                             "undefined there (check the inputs, the labels and the weights)")


def check_vectors(v: object, num_params: int, dtype: torch.dtype,
                  device: torch.device) -> tuple[torch.Tensor, bool]:
    """Validate a vector ``[P]`` or a block ``[P, k]`` for a product with a ``P × P`` operator.

    Returns:
        The block as ``[P, k]`` in the operator's dtype and on its device, and whether the input
        was a single vector (so the caller can return ``[P]``).

    Raises:
        ConfigError: if ``v`` is not a tensor, has the wrong length or more than two dimensions.
    """
    if not isinstance(v, torch.Tensor):
        raise ConfigError(f"an operator multiplies a torch.Tensor, got {type(v).__name__}")
    if v.ndim not in (1, 2) or v.shape[0] != num_params:
        raise ConfigError(
            f"expected a vector of length {num_params} (the number of selected parameters) or a "
            f"block [{num_params}, k], got a tensor of shape {list(v.shape)}")
    if not (v.is_floating_point() or v.is_complex()):
        v = v.to(dtype)
    single = v.ndim == 1
    block = v.reshape(num_params, 1) if single else v
    return block.to(device=device, dtype=dtype), single


def check_positive(name: str, value: int) -> int:
    """Return ``value`` as an int, or raise :class:`ConfigError` unless it is >= 1."""
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_choice(name: str, value: str, choices: Iterable[str]) -> str:
    """Return ``value``, or raise :class:`ConfigError` unless it is one of ``choices``."""
    choices = tuple(choices)
    if value not in choices:
        raise ConfigError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value
