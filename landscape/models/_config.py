"""How a model remembers the constructor call that built it, so a study file can rebuild it.

A study file names the model of each run; rebuilding it must never let the file choose code. So
the name is looked up in a registry only: :data:`landscape.models.MODELS` (the toolkit's models)
and the models a user registers in their own code with :func:`register_model`. Files written
before the registry name the class by its import path (``landscape.models.mlp.MLP``); such a path
is accepted only when it is the path of a registered class. Anything else is refused, and the
caller builds the model and passes it (``load_model(path, run, model=...)``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from landscape.errors import ConfigError

CONFIG_ATTR = "landscape_config"

ModelFactory = Callable[..., nn.Module]

#: Models registered by users with :func:`register_model` (name → class or factory).
_REGISTERED: dict[str, ModelFactory] = {}


def register_model(name: str, cls_or_factory: ModelFactory, *, overwrite: bool = False
                   ) -> ModelFactory:
    """Let study files rebuild the model registered as ``name``.

    Call this in your own code (a study file can only *name* a registered model, never import
    one). A class registered here is recognised when its instances are stored, so their runs
    record ``name``; a factory is called with the stored constructor arguments of a run that
    names it.

    Args:
        name: the registry key stored in study files.
        cls_or_factory: an ``nn.Module`` subclass, or a function returning a model, called with
            the keyword arguments that :func:`record_config` recorded.
        overwrite: replace another model registered under ``name``.

    Returns:
        ``cls_or_factory`` (so this works as a class decorator too).

    Raises:
        ConfigError: ``name`` is taken by another model, or ``cls_or_factory`` is not callable.

    Example:
        >>> from torch import nn
        >>> class Tiny(nn.Linear):
        ...     def __init__(self, n=2):
        ...         super().__init__(n, 1)
        ...         record_config(self, n=n)
        >>> _ = register_model("tiny-doc", Tiny)
        >>> build_from_config(model_config(Tiny(3))).in_features
        3
    """
    if not callable(cls_or_factory):
        raise ConfigError(f"register_model({name!r}, ...) needs a model class or factory")
    known = _registry()
    if name in known and known[name] is not cls_or_factory and not overwrite:
        raise ConfigError(f"a model is registered as {name!r} already; pick another name or pass "
                          "overwrite=True")
    _REGISTERED[name] = cls_or_factory
    return cls_or_factory


def _registry() -> dict[str, ModelFactory]:
    from landscape.models import MODELS  # the toolkit's models; imported late (cycle)

    return {**MODELS, **_REGISTERED}


def _dotted(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', '?')}"


def registry_name(model_or_class: nn.Module | type) -> str | None:
    """The registry key of a model's class (``None`` when the class is not registered).

    A class registered under several keys (``CifarResNet`` as ``resnet20`` and ``resnet56``) gets
    the first; its recorded constructor arguments (the depth) make the rebuilt model the same.
    """
    cls = model_or_class if isinstance(model_or_class, type) else type(model_or_class)
    for name, entry in _registry().items():
        if entry is cls:
            return name
    return None


def resolve_model(name: str) -> ModelFactory:
    """The registered model called ``name``: a registry key, or (files written before the
    registry) the import path of a registered class.

    Raises:
        ConfigError: nothing registered under that name; the message says how to pass the
            model yourself.
    """
    known = _registry()
    if name in known:
        return known[name]
    for entry in known.values():
        if isinstance(entry, type) and _dotted(entry) == name:
            return entry
    raise ConfigError(
        f"the study names model {name!r}, which is not a registered model (a study file never "
        f"chooses code; registered: {sorted(known)}); build it yourself and pass "
        "load_model(path, run, model=YourModel(...)), or register it in your code with "
        "landscape.models.register_model(name, cls)")


def record_config(model: nn.Module, **kwargs: Any) -> None:
    """Attach ``{"class": "module.QualName", "kwargs": {...}}`` to ``model``.

    Call this at the end of ``__init__`` of any model that should be rebuildable from a study file
    with :func:`landscape.store.load_model`; ``kwargs`` must be JSON-able, and the class must be
    registered (:data:`landscape.models.MODELS` or :func:`register_model`) for the rebuild.
    """
    setattr(model, CONFIG_ATTR, {"class": _dotted(type(model)), "kwargs": dict(kwargs)})


def model_config(model: nn.Module) -> dict[str, Any] | None:
    """The recorded constructor call of ``model``, or ``None`` for a model that has none."""
    cfg = getattr(model, CONFIG_ATTR, None)
    return dict(cfg) if cfg is not None else None


def build_from_config(config: dict[str, Any]) -> nn.Module:
    """Rebuild an (untrained) model from a config written by :func:`record_config`.

    ``config["name"]`` (a registry key) or else ``config["class"]`` is resolved by
    :func:`resolve_model` only: nothing is imported.

    Raises:
        ConfigError: the model is not registered, or its stored arguments do not fit it.
    """
    name = str(config.get("name") or config.get("class", ""))
    factory = resolve_model(name)
    kwargs = config.get("kwargs") or {}
    if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
        raise ConfigError(f"the stored arguments of model {name!r} are not a mapping of names: "
                          f"{kwargs!r}")
    try:
        return factory(**kwargs)
    except TypeError as err:
        raise ConfigError(f"model {name!r} does not take the stored arguments {kwargs}: {err}; "
                          "pass load_model(..., model=...)") from err
