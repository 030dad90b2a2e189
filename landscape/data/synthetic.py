"""Synthetic classification tasks drawn from a seed: a Gaussian mixture and a teacher network.

Each task has two parts drawn from separate streams of the seed: the *task* (the mixture's means,
the teacher's weights), shared by both splits, and the *samples*, drawn per split, so the train
and test splits are different samples of the same task. Everything is computed in float64 with
NumPy and stored as float32 ``[N, dim]``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from landscape._seeding import numpy_rng
from landscape.data._common import Split, check_seed, check_split
from landscape.data._dataset import LabelledDataset
from landscape.data._sampling import proportional_allocation
from landscape.errors import ConfigError

__all__ = ["gaussian_mixture", "gaussian_mixture_means", "teacher_student"]


def _check_positive(**values: int) -> None:
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ConfigError(f"{key} must be a positive integer, got {value!r}")


def gaussian_mixture_means(dim: int = 2, num_classes: int = 2, separation: float = 3.0,
                           seed: int = 0) -> np.ndarray:
    """The class means ``[num_classes, dim]`` of :func:`gaussian_mixture`.

    The means lie equally spaced on a circle centred at the origin, of radius
    ``separation / (2 sin(π / C))``, so neighbouring means are exactly ``separation`` apart (for
    two classes: ``±separation / 2``). The circle's plane is drawn from
    ``numpy_rng(seed, "gaussian-mixture", "means")`` (orthonormalised Gaussian vectors); for
    ``dim == 1`` the means are instead equally spaced on the line, ``separation`` apart and
    centred at 0.

    Example:
        >>> m = gaussian_mixture_means(dim=5, num_classes=2, separation=3.0)
        >>> round(float(np.linalg.norm(m[0] - m[1])), 9)
        3.0
    """
    _check_positive(dim=dim, num_classes=num_classes)
    if not (math.isfinite(separation) and separation > 0):
        raise ConfigError(f"separation must be positive and finite, got {separation!r}")
    if num_classes == 1:
        return np.zeros((1, dim))
    if dim == 1:
        return (separation * (np.arange(num_classes) - (num_classes - 1) / 2.0))[:, None]
    rng = numpy_rng(check_seed(seed), "gaussian-mixture", "means")
    plane, _ = np.linalg.qr(rng.standard_normal((dim, 2)))
    angles = 2.0 * np.pi * np.arange(num_classes) / num_classes
    radius = separation / (2.0 * np.sin(np.pi / num_classes))
    circle = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return circle @ plane.T


def gaussian_mixture(n: int, *, dim: int = 2, num_classes: int = 2, separation: float = 3.0,
                     seed: int = 0, split: Split = "train") -> LabelledDataset:
    """``n`` samples of an isotropic Gaussian mixture with unit-variance components.

    Classes are balanced (``n // C`` each, the first ``n % C`` classes one more), in a random
    order; sample ``i`` is ``means[y_i] + ε_i`` with ``ε_i ~ N(0, I)``. The means come from
    :func:`gaussian_mixture_means` (neighbours exactly ``separation`` apart) and depend only on
    ``seed``, ``dim``, ``num_classes`` and ``separation``; the samples are drawn from
    ``numpy_rng(seed, "gaussian-mixture", "samples", split)``.

    Args:
        n: number of samples.
        dim: input dimension (default 2, for plotting).
        num_classes: number of mixture components (default 2).
        separation: distance between neighbouring means, in standard deviations (default 3.0:
            two classes then overlap little, Bayes error Φ(−1.5) ≈ 6.7 %).
        seed: seed of the mixture and the samples.
        split: ``"train"`` or ``"test"``: which sample stream.

    Example:
        >>> ds = gaussian_mixture(100, dim=3, num_classes=4)
        >>> ds.x.shape, ds.class_counts.tolist()
        (torch.Size([100, 3]), [25, 25, 25, 25])
    """
    split = check_split(split)
    _check_positive(n=n, dim=dim, num_classes=num_classes)
    means = gaussian_mixture_means(dim, num_classes, separation, seed)
    rng = numpy_rng(check_seed(seed), "gaussian-mixture", "samples", split)
    counts = proportional_allocation(np.ones(num_classes, dtype=np.int64), n)
    labels = rng.permutation(np.repeat(np.arange(num_classes), counts))
    x = means[labels] + rng.standard_normal((n, dim))
    y = torch.from_numpy(labels.astype(np.int64))
    source = {
        "dataset": "gaussian-mixture", "split": split,
        "params": {"n": int(n), "dim": int(dim), "num_classes": int(num_classes),
                   "separation": float(separation), "seed": int(seed)},
    }
    return LabelledDataset(x=torch.from_numpy(x.astype(np.float32)), y=y, y_clean=y.clone(),
                           index=torch.arange(n), num_classes=int(num_classes),
                           name=f"gaussian-mixture/{split}", source=source)


def teacher_student(n: int, *, dim: int = 10, num_classes: int = 4, hidden: int = 32,
                    seed: int = 0, split: Split = "train") -> LabelledDataset:
    """``n`` Gaussian inputs labelled by a fixed random one-hidden-layer tanh teacher network.

    Inputs are ``x ~ N(0, I_dim)``; labels are ``argmax(W2 tanh(W1 x + b1))`` with
    ``W1 ~ N(0, 1/dim)`` ``[hidden, dim]``, ``b1 ~ N(0, 1/dim)`` and ``W2 ~ N(0, 1/hidden)``
    ``[num_classes, hidden]`` drawn from ``numpy_rng(seed, "teacher-student", "teacher")``: the
    teacher is the same for both splits, and the inputs come from
    ``numpy_rng(seed, "teacher-student", "samples", split)``. The labels are noiseless (a student
    of the teacher's architecture can reach zero loss) but not balanced in general: check
    ``class_counts``.

    Args:
        n: number of samples.
        dim: input dimension (default 10).
        num_classes: number of classes, the teacher's outputs (default 4).
        hidden: teacher hidden width (default 32).
        seed: seed of the teacher and the samples.
        split: ``"train"`` or ``"test"``: which sample stream.

    Example:
        >>> ds = teacher_student(200, dim=5, num_classes=3)
        >>> ds.x.shape, ds.num_classes
        (torch.Size([200, 5]), 3)
    """
    split = check_split(split)
    _check_positive(n=n, dim=dim, num_classes=num_classes, hidden=hidden)
    teacher = numpy_rng(check_seed(seed), "teacher-student", "teacher")
    w1 = teacher.standard_normal((hidden, dim)) / math.sqrt(dim)
    b1 = teacher.standard_normal(hidden) / math.sqrt(dim)
    w2 = teacher.standard_normal((num_classes, hidden)) / math.sqrt(hidden)
    rng = numpy_rng(check_seed(seed), "teacher-student", "samples", split)
    x = rng.standard_normal((n, dim))
    logits = np.tanh(x @ w1.T + b1) @ w2.T
    y = torch.from_numpy(np.argmax(logits, axis=1).astype(np.int64))
    source = {
        "dataset": "teacher-student", "split": split,
        "params": {"n": int(n), "dim": int(dim), "num_classes": int(num_classes),
                   "hidden": int(hidden), "seed": int(seed)},
    }
    return LabelledDataset(x=torch.from_numpy(x.astype(np.float32)), y=y, y_clean=y.clone(),
                           index=torch.arange(n), num_classes=int(num_classes),
                           name=f"teacher-student/{split}", source=source)
