"""Seeded long-tailed (class-imbalanced) subsampling, as in the CIFAR-LT benchmarks.

The per-class target counts follow Cao et al. 2019 (LDAM-DRW, the ``IMBALANCECIFAR10`` code),
with class 0 the head:

* ``"exp"``: ``n_c = floor(n_max · IF^(−c / (C − 1)))``, so ``n_0 = n_max`` and
  ``n_{C−1} = floor(n_max / IF)``. For CIFAR-10 (``n_max = 5000``) and ``IF = 100`` this gives
  ``[5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]``.
* ``"step"`` (Buda et al. 2018): the last ``floor(step_fraction · C)`` classes (``μ`` of Buda et
  al.; the LDAM code's ``C // 2`` for the default 0.5) get ``floor(n_max / IF)``, the others
  (``ceil((1 − step_fraction) · C)``) keep ``n_max``.
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import numpy as np

from landscape.data._common import check_rate, check_seed
from landscape.data._dataset import LabelledDataset
from landscape.data._sampling import choose_per_class
from landscape.errors import ConfigError

__all__ = ["Profile", "long_tail", "long_tail_counts"]

Profile = Literal["exp", "step"]
"""Shape of the class-size profile."""

_EPS = 1e-9  # guards floor() against products like 49.99999999999999 for an exact 50


def long_tail_counts(num_classes: int, n_max: int, imbalance_factor: float,
                     profile: Profile = "exp", step_fraction: float = 0.5) -> np.ndarray:
    """Target number of samples per class, int64 ``[num_classes]``, class 0 the largest.

    Args:
        num_classes: number of classes ``C``.
        n_max: size of the head class.
        imbalance_factor: ``IF = n_max / n_min`` (≥ 1).
        profile: ``"exp"`` (exponential decay) or ``"step"`` (two levels); see the module doc.
        step_fraction: fraction of tail classes for ``"step"`` (default 0.5, as Cao et al.).

    Raises:
        ConfigError: bad arguments, or an ``imbalance_factor`` so large a class would be empty.

    Example:
        >>> long_tail_counts(10, 5000, 10).tolist()
        [5000, 3871, 2997, 2320, 1796, 1391, 1077, 834, 645, 500]
        >>> long_tail_counts(10, 5000, 10, "step").tolist()
        [5000, 5000, 5000, 5000, 5000, 500, 500, 500, 500, 500]
    """
    if isinstance(num_classes, bool) or int(num_classes) != num_classes or num_classes < 1:
        raise ConfigError(f"num_classes must be a positive integer, got {num_classes!r}")
    if isinstance(n_max, bool) or int(n_max) != n_max or n_max < 1:
        raise ConfigError(f"n_max must be a positive integer, got {n_max!r}")
    imbalance_factor = float(imbalance_factor)
    if not (math.isfinite(imbalance_factor) and imbalance_factor >= 1.0):
        raise ConfigError(f"imbalance_factor must be a finite number >= 1, got "
                          f"{imbalance_factor!r}")
    if profile not in get_args(Profile):
        raise ConfigError(f"unknown long-tail profile {profile!r}; choose one of "
                          f"{list(get_args(Profile))}")
    num_classes, n_max = int(num_classes), int(n_max)
    if profile == "exp":
        exponents = np.arange(num_classes) / max(num_classes - 1, 1)
        values = n_max * imbalance_factor ** (-exponents)
    else:
        step_fraction = check_rate(step_fraction, "step_fraction")
        num_tail = math.floor(step_fraction * num_classes + _EPS)
        values = np.full(num_classes, float(n_max))
        values[num_classes - num_tail:] = n_max / imbalance_factor
    counts = np.floor(values + _EPS).astype(np.int64)
    if counts.min() < 1:
        raise ConfigError(f"imbalance_factor {imbalance_factor} with n_max {n_max} leaves a class "
                          f"empty ({counts.tolist()}); use imbalance_factor <= {n_max}")
    return counts


def long_tail(ds: LabelledDataset, imbalance_factor: float, *, profile: Profile = "exp",
              seed: int, step_fraction: float = 0.5) -> LabelledDataset:
    """Subsample ``ds`` to the long-tailed class sizes of :func:`long_tail_counts`.

    ``n_max`` is the *smallest* class count of the input (so every target is feasible; for the
    balanced CIFAR-10 / Fashion-MNIST training sets it is their 5000 / 6000 per class). Classes
    are those of the observed labels ``y``. The samples kept in class ``c`` are drawn from
    ``numpy_rng(seed, "long_tail", c)``; the result keeps the input order and ``index``. The
    record holds the parameters plus ``n_max`` and the resulting ``counts``.

    Args:
        ds: the dataset.
        imbalance_factor: ``IF = n_0 / n_{C−1}`` (≥ 1).
        profile: ``"exp"`` or ``"step"``.
        seed: seed of the choice of samples.
        step_fraction: fraction of tail classes for ``"step"`` (default 0.5).

    Example:
        >>> from landscape.data import gaussian_mixture
        >>> lt = long_tail(gaussian_mixture(400, num_classes=4), 10, seed=0)
        >>> lt.class_counts.tolist()
        [100, 46, 21, 10]
    """
    seed = check_seed(seed)
    n_max = int(ds.class_counts.min()) if ds.num_classes else 0
    if n_max < 1:
        raise ConfigError(f"long_tail needs every class present; class counts of {ds.name} are "
                          f"{ds.class_counts.tolist()}")
    counts = long_tail_counts(ds.num_classes, n_max, imbalance_factor, profile, step_fraction)
    rows = np.concatenate(choose_per_class(ds.y.numpy(), counts, seed, "long_tail"))
    record = {"kind": "long_tail", "imbalance_factor": float(imbalance_factor),
              "profile": profile, "step_fraction": float(step_fraction), "seed": seed,
              "n_max": n_max, "counts": counts.tolist()}
    return ds.select(np.sort(rows), record=record)
