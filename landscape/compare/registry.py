"""The registry of measures: the only place that knows which measures exist.

Tables, figures, ``landscape measure`` / ``correlate``, the demo and the analyses iterate it; a
measure registered here — built in, or by a user with :func:`register_measure` — is computed,
stored under its settings, resumed, read back, tabulated and correlated like every other.

Adding a measure (the whole recipe)::

    from landscape.compare import register_measure

    def weight_norm(model, loss_fn, batches, *, p=2.0):
        return float(sum(w.detach().norm(p) ** p for w in model.parameters()) ** (1 / p))

    register_measure("weight_norm", weight_norm, flatter="lower")
    # measure_minimum(path, run, measures=["weight_norm"], settings={"weight_norm": {"p": 1}})
    # landscape measure STUDY --plugin mymodule --measures weight_norm

The function receives the model at the minimum, the run's training loss and the measured
samples as a list of ``(inputs, targets)`` batches; its keyword arguments are its settings (their
defaults are read from its signature). It returns a float, or a mapping of names to floats (one
scalar each, keyed ``<name>`` / ``<name>.<key>``).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from landscape._names import unknown_name
from landscape.compare.protocol import Context, Flatter, Measure, Scalar
from landscape.errors import ConfigError

#: Every known measure, by name, in registration order (built-ins first).
MEASURES: dict[str, Measure] = {}

#: The measures :func:`~landscape.compare.measure_minimum` computes when none are named.
DEFAULT_MEASURES: tuple[str, ...] = (
    "local_energy", "width", "sharpness", "local_entropy", "hessian_top", "hessian_trace",
    "hessian_density", "gap")


def add(measure: Measure, *, replace: bool = False) -> Measure:
    """Register ``measure`` under its name (an existing name needs ``replace``)."""
    if measure.name in MEASURES and not replace:
        raise ConfigError(f"a measure called {measure.name!r} is registered already; pass "
                          "replace=True to replace it")
    if not measure.name.isidentifier():
        raise ConfigError(f"measure names are identifiers, got {measure.name!r}")
    MEASURES[measure.name] = measure
    return measure


def get(name: str) -> Measure:
    """The measure called ``name`` (a clear error naming the known ones and close matches)."""
    _builtins()
    if name not in MEASURES:
        raise unknown_name("measure", name, MEASURES,
                           "a measure registered by a module needs that module imported, e.g. "
                           "landscape measure --plugin MODULE")
    return MEASURES[name]


def resolve(names: Iterable[str] | None) -> list[Measure]:
    """The measures called ``names`` (default :data:`DEFAULT_MEASURES`), each once, in order."""
    _builtins()
    chosen = list(DEFAULT_MEASURES if names is None else names)
    seen: dict[str, Measure] = {}
    for n in chosen:
        seen.setdefault(n, get(n))
    if not seen:
        raise ConfigError("no measure chosen")
    return list(seen.values())


def scalars(names: Iterable[str] | None = None, *, flatness: bool | None = None
            ) -> list[Scalar]:
    """The scalars of the measures ``names`` (default: all registered), in registry order;
    ``flatness=True`` keeps the flatness measures (those with a flatter direction),
    ``False`` the others (the gaps)."""
    _builtins()
    chosen = MEASURES.values() if names is None else resolve(names)
    out = [s for m in chosen for s in m.scalars]
    if flatness is not None:
        out = [s for s in out if (s.flatter is not None) == flatness]
    return out


def owner(key: str) -> Measure:
    """The registered measure that has the scalar ``key``."""
    _builtins()
    for m in MEASURES.values():
        if any(s.key == key for s in m.scalars):
            return m
    raise ConfigError(f"no registered measure has the scalar {key!r}")


def scalar(key: str) -> Scalar:
    """The scalar called ``key`` among every registered measure's scalars."""
    for s in scalars():
        if s.key == key:
            return s
    raise ConfigError(f"unknown scalar {key!r}; known: {[s.key for s in scalars()]}")


@dataclass(frozen=True)
class ScalarResult:
    """The result of a measure registered with :func:`register_measure`: named floats."""

    values: dict[str, float]

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Names as an attribute, values as one float64 array."""
        names = list(self.values)
        return ({"values": np.array([self.values[n] for n in names], dtype=np.float64)},
                {"names": names})

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], attrs: dict[str, Any]) -> ScalarResult:
        """Inverse of :meth:`to_arrays`."""
        return cls(dict(zip(attrs["names"], (float(v) for v in arrays["values"]))))


def register_measure(name: str, fn: Callable[..., float | Mapping[str, float]], *,
                     flatter: Flatter = "lower", label: str | None = None,
                     description: str | None = None, log: bool = False,
                     replace: bool = False) -> Measure:
    """Register ``fn(model, loss_fn, batches, **settings)`` as the measure ``name``.

    Args:
        name: the measure's name (an identifier), also its scalar key.
        fn: returns a float, or a mapping of names to floats (scalars ``name.key``).
            Its keyword-only or defaulted arguments after the first three are its settings,
            with their defaults; every setting must be JSON-able.
        flatter: which direction of its value means "flatter" (``"lower"`` or ``"higher"``).
        label, description: for tables and figures (default: the name, the docstring's first
            line).
        log: draw it on a log scale.
        replace: replace a measure registered under ``name``.

    Returns:
        The :class:`~landscape.compare.protocol.Measure`.

    Example:
        >>> import torch
        >>> def weight_norm(model, loss_fn, batches, *, p=2.0):
        ...     return float(torch.cat([w.flatten() for w in model.parameters()]).norm(p))
        >>> register_measure("weight_norm_doc", weight_norm).defaults
        {'p': 2.0}
    """
    if flatter not in ("lower", "higher"):
        raise ConfigError(f"flatter must be 'lower' or 'higher', got {flatter!r}")
    defaults = _signature_settings(fn, name)
    doc = (inspect.getdoc(fn) or "").strip().splitlines()
    text = description or (doc[0] if doc else f"user measure {name}")
    head = Scalar(name, label or name, text, flatter, log)

    def compute(ctx: Context, settings: dict[str, Any]) -> ScalarResult:
        value = fn(ctx.model, ctx.loss_fn, ctx.batches(), **settings)
        if isinstance(value, Mapping):
            return ScalarResult({f"{name}.{k}": float(v) for k, v in value.items()})
        return ScalarResult({name: float(value)})

    def summarise(result: ScalarResult, settings: dict[str, Any]) -> dict[str, float]:
        out = {name: math.nan, **result.values}
        return out

    return add(Measure(name=name, compute=compute, defaults=defaults, summarise=summarise,
                       scalars=(head,), result_type=ScalarResult, description=text),
               replace=replace)


def _signature_settings(fn: Callable[..., Any], name: str) -> dict[str, Any]:
    params = list(inspect.signature(fn).parameters.values())
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) < 3 and not any(p.kind == p.VAR_POSITIONAL for p in params):
        raise ConfigError(f"measure {name!r}: fn must take (model, loss_fn, batches, "
                          "**settings)")
    settings: dict[str, Any] = {}
    for p in params[3:]:
        if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        if p.default is inspect.Parameter.empty:
            raise ConfigError(f"measure {name!r}: setting {p.name!r} needs a default")
        settings[p.name] = p.default
    return settings


def _builtins() -> None:
    """Register the built-in measures (on first use, to keep imports light)."""
    from landscape.compare import builtin_flatness, builtin_hessian, builtin_surfaces  # noqa: F401
