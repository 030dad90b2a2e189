"""How a model remembers the constructor call that built it, so a study file can rebuild it."""

from __future__ import annotations

import importlib
from typing import Any

from torch import nn

from landscape.errors import ConfigError

CONFIG_ATTR = "landscape_config"


def record_config(model: nn.Module, **kwargs: Any) -> None:
    """Attach ``{"class": "module.QualName", "kwargs": {...}}`` to ``model``.

    Call this at the end of ``__init__`` of any model that should be rebuildable from a study file
    with :func:`landscape.store.load_model`; ``kwargs`` must be JSON-able.
    """
    cls = type(model)
    setattr(model, CONFIG_ATTR, {"class": f"{cls.__module__}.{cls.__qualname__}",
                                 "kwargs": dict(kwargs)})


def model_config(model: nn.Module) -> dict[str, Any] | None:
    """The recorded constructor call of ``model``, or ``None`` for a model that has none."""
    cfg = getattr(model, CONFIG_ATTR, None)
    return dict(cfg) if cfg is not None else None


def build_from_config(config: dict[str, Any]) -> nn.Module:
    """Rebuild an (untrained) model from a config written by :func:`record_config`."""
    path = config.get("class", "")
    module_name, _, qualname = path.rpartition(".")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError, ValueError) as err:
        raise ConfigError(
            f"cannot import model class {path!r} ({err}); pass the model (or a factory) "
            "explicitly to load_model(..., model=...)"
        ) from err
    return obj(**config.get("kwargs", {}))
