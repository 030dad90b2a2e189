"""Seeded fixed subsets, e.g. the measurement subset a study evaluates its landscape on."""

from __future__ import annotations

import numpy as np

from landscape._seeding import numpy_rng
from landscape.data._common import check_seed
from landscape.data._dataset import LabelledDataset
from landscape.data._sampling import choose_per_class, proportional_allocation
from landscape.errors import ConfigError

__all__ = ["subset"]


def subset(ds: LabelledDataset, size: int, *, seed: int,
           stratified: bool = True) -> LabelledDataset:
    """A seeded subset of ``size`` samples of ``ds``, in the input order, keeping ``index``.

    Stored ``index`` values (or :meth:`~LabelledDataset.indices_hash`) therefore identify the
    subset in the source split. With ``stratified=True`` the class sizes (of the observed labels)
    are ``size · n_c / N`` rounded by the largest-remainder method, so they sum to ``size`` and
    each is within one of the exact proportion; the samples of class ``c`` are drawn from
    ``numpy_rng(seed, "subset", c)``. Otherwise ``size`` samples are drawn uniformly without
    replacement from ``numpy_rng(seed, "subset")``.

    Args:
        ds: the dataset.
        size: number of samples, ``1 <= size <= len(ds)``.
        seed: seed of the choice.
        stratified: keep the class proportions (default) or draw uniformly.

    Example:
        >>> from landscape.data import gaussian_mixture
        >>> sub = subset(gaussian_mixture(100, num_classes=4), 10, seed=0)
        >>> sub.class_counts.tolist(), len(sub.index)
        ([3, 3, 2, 2], 10)
    """
    seed = check_seed(seed)
    if isinstance(size, bool) or int(size) != size or not 1 <= size <= len(ds):
        raise ConfigError(f"subset size must be an integer in [1, {len(ds)}], got {size!r}")
    size = int(size)
    if stratified:
        per_class = proportional_allocation(ds.class_counts, size)
        rows = np.concatenate(choose_per_class(ds.y.numpy(), per_class, seed, "subset"))
    else:
        rows = numpy_rng(seed, "subset").choice(len(ds), size=size, replace=False)
    record = {"kind": "subset", "size": size, "seed": seed, "stratified": bool(stratified)}
    return ds.select(np.sort(rows), record=record)
