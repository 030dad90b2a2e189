"""Round-tripping frozen result dataclasses through plain arrays and attributes (private).

A study file stores a result as named arrays (datasets) plus scalar attributes; every result class
of :mod:`landscape.hessian` derives from :class:`ArraysMixin` to provide
``to_arrays() -> (arrays, attrs)`` and ``from_arrays(arrays, attrs)``. Fields typed as
``np.ndarray`` or ``torch.Tensor`` become arrays, the others (int, float, str, bool) attributes;
an optional field that is ``None`` is simply left out.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

import numpy as np
import torch

from landscape.errors import ConfigError

Attr = int | float | str | bool
R = TypeVar("R", bound="ArraysMixin")


class ArraysMixin:
    """``to_arrays``/``from_arrays`` for a dataclass of arrays, tensors and scalars."""

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Attr]]:
        """Split the result into numpy arrays and scalar attributes for storage.

        Returns:
            ``(arrays, attrs)``: tensors are moved to the CPU and converted to numpy; the class
            name is recorded in ``attrs["result_type"]``.
        """
        arrays: dict[str, np.ndarray] = {}
        attrs: dict[str, Attr] = {"result_type": type(self).__name__}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, torch.Tensor):
                arrays[f.name] = value.detach().cpu().numpy()
            elif isinstance(value, np.ndarray):
                arrays[f.name] = value
            elif isinstance(value, (bool, int, float, str, np.generic)):
                attrs[f.name] = value.item() if isinstance(value, np.generic) else value
            else:
                raise TypeError(f"field {f.name} of type {type(value).__name__} is not storable")
        return arrays, attrs

    @classmethod
    def from_arrays(cls: type[R], arrays: dict[str, Any], attrs: dict[str, Any]) -> R:
        """Rebuild a result from :meth:`to_arrays` output (e.g. read back from a study file).

        Tensor fields come back as CPU tensors, array fields as numpy arrays.

        Raises:
            ConfigError: if ``attrs`` names another result type or a required field is missing.
        """
        rtype = attrs.get("result_type", cls.__name__)
        if isinstance(rtype, bytes):
            rtype = rtype.decode()
        if rtype != cls.__name__:
            raise ConfigError(f"stored result is a {rtype}, not a {cls.__name__}")
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if f.name in arrays:
                value = np.asarray(arrays[f.name])
                kind = str(f.type)
                kwargs[f.name] = torch.from_numpy(value.copy()) if "Tensor" in kind else value
            elif f.name in attrs:
                value = attrs[f.name]
                if isinstance(value, bytes):
                    value = value.decode()
                if isinstance(value, np.generic):
                    value = value.item()
                kwargs[f.name] = value
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"stored {cls.__name__} lacks the field {f.name!r}")
        return cls(**kwargs)
