"""The dataset type every loader returns and every transform maps to a new one."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from landscape.errors import ConfigError


@dataclass(frozen=True, eq=False, repr=False)
class LabelledDataset(Dataset):
    """An in-memory classification dataset whose items are ``(x, y, y_clean, index)``.

    Attributes:
        x: inputs, float tensor ``[N, ...]`` (images as ``[N, C, H, W]`` in ``[0, 1]``).
        y: observed (possibly noisy) labels, int64 ``[N]``; what training sees.
        y_clean: the labels before any label-noise transform, int64 ``[N]``.
        index: position of each sample in the *source* split, int64 ``[N]``; survives subsetting,
            so per-sample methods and stored measurement subsets can refer back to the source.
        num_classes: number of classes ``C`` (of the source, even if a subset misses a class).
        name: dataset id of the source, e.g. ``"digits/train"`` or ``"fashion-mnist/test"``.
        transforms: the seeded transforms applied so far, oldest first, each a JSON-able dict
            (``{"kind": "symmetric_noise", "rate": 0.2, "seed": 0, ...}``); recorded as provenance.
        source: JSON-able description of where the data came from (path, seed of the split, ...).
    """

    x: torch.Tensor
    y: torch.Tensor
    y_clean: torch.Tensor
    index: torch.Tensor
    num_classes: int
    name: str
    transforms: tuple[dict[str, Any], ...] = field(default=())
    source: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = self.x.shape[0]
        for label, t in (("y", self.y), ("y_clean", self.y_clean), ("index", self.index)):
            if t.shape != (n,):
                raise ConfigError(f"{label} must have shape [{n}], got {list(t.shape)}")
            if t.dtype != torch.int64:
                raise ConfigError(f"{label} must be int64, got {t.dtype}")
        if n and (int(self.y.min()) < 0 or int(self.y.max()) >= self.num_classes):
            raise ConfigError(f"labels must lie in [0, {self.num_classes}), got "
                              f"[{int(self.y.min())}, {int(self.y.max())}]")

    def __repr__(self) -> str:
        kinds = [t.get("kind") for t in self.transforms]
        return (f"LabelledDataset(name={self.name!r}, num_samples={len(self)}, "
                f"input_shape={self.input_shape}, num_classes={self.num_classes}, "
                f"transforms={kinds})")

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.x[i], self.y[i], self.y_clean[i], self.index[i]

    @property
    def class_counts(self) -> np.ndarray:
        """Number of samples per observed label, int64 ``[num_classes]``."""
        return np.bincount(self.y.numpy(), minlength=self.num_classes).astype(np.int64)

    @property
    def clean_class_counts(self) -> np.ndarray:
        """Number of samples per clean label, int64 ``[num_classes]``."""
        return np.bincount(self.y_clean.numpy(), minlength=self.num_classes).astype(np.int64)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input, e.g. ``(1, 8, 8)``."""
        return tuple(self.x.shape[1:])

    @property
    def is_noisy(self) -> bool:
        """Whether any observed label differs from its clean label."""
        return bool((self.y != self.y_clean).any())

    @property
    def noise_rate(self) -> float:
        """Fraction of samples whose observed label differs from the clean one."""
        return float((self.y != self.y_clean).double().mean()) if len(self) else 0.0

    def select(self, rows: Sequence[int] | np.ndarray | torch.Tensor,
               record: dict[str, Any] | None = None) -> LabelledDataset:
        """The dataset restricted to ``rows`` (positions in *this* dataset), keeping ``index``.

        ``record`` (a transform description) is appended to :attr:`transforms` when given.
        """
        rows_t = torch.as_tensor(np.asarray(rows), dtype=torch.int64)
        return self.replace(x=self.x[rows_t], y=self.y[rows_t], y_clean=self.y_clean[rows_t],
                            index=self.index[rows_t], record=record)

    def replace(self, *, record: dict[str, Any] | None = None, **changes: Any) -> LabelledDataset:
        """A copy with some fields changed and ``record`` appended to the transform history."""
        fields = {
            "x": self.x, "y": self.y, "y_clean": self.y_clean, "index": self.index,
            "num_classes": self.num_classes, "name": self.name,
            "transforms": self.transforms + ((record,) if record is not None else ()),
            "source": self.source,
        }
        fields.update(changes)
        return LabelledDataset(**fields)

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The whole dataset as one ``(x, y)`` batch (observed labels)."""
        return self.x, self.y

    def indices_hash(self) -> str:
        """SHA-256 (hex, first 16 chars) of the source indices; identifies a subset."""
        return hashlib.sha256(self.index.numpy().astype("<i8").tobytes()).hexdigest()[:16]

    def describe(self) -> dict[str, Any]:
        """JSON-able provenance: id, size, classes, transforms, source, hash of the indices."""
        return {
            "dataset_id": self.name,
            "num_samples": len(self),
            "num_classes": self.num_classes,
            "input_shape": list(self.input_shape),
            "class_counts": self.class_counts.tolist(),
            "transforms": list(self.transforms),
            "source": self.source,
            "indices_sha256": self.indices_hash(),
            "noise_rate": self.noise_rate,
        }

    def describe_json(self) -> str:
        """:meth:`describe` as a canonical JSON string."""
        return json.dumps(self.describe(), sort_keys=True)
