"""Seeded label-noise transforms with an exact number of flips per class.

Each transform changes the observed labels ``y`` of exactly ``round(rate · n_c)`` samples of each
affected class ``c`` (rounded half up; ``n_c`` counts the *observed* labels of the input, which
for clean data are the clean labels) and keeps ``y_clean``, ``x`` and ``index``. Which samples of
class ``c`` flip is drawn from ``numpy_rng(seed, kind, c)``, so it does not depend on the other
classes. The transform appends a record ``{"kind", "rate", "seed", ..., "num_flipped"}`` to
``transforms``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch

from landscape._seeding import numpy_rng
from landscape.data._common import check_rate, check_seed, round_half_up
from landscape.data._dataset import LabelledDataset
from landscape.data._sampling import choose_per_class
from landscape.errors import ConfigError

__all__ = ["CIFAR10_ASYMMETRIC_MAPPING", "asymmetric_noise", "flip_counts", "pairflip_noise",
           "symmetric_noise"]

CIFAR10_ASYMMETRIC_MAPPING: Mapping[int, int] = {9: 1, 2: 0, 3: 5, 5: 3, 4: 7}
"""Class-dependent noise of Patrini et al. 2017 on CIFAR-10: truck → automobile,
bird → airplane, cat ↔ dog, deer → horse."""

MappingLike = Mapping[int, int] | Mapping[str, int] | Iterable[tuple[int, int] | list[int]]
"""A class mapping as a dict, a JSON dict (string keys) or a list of ``[source, target]``."""


def flip_counts(counts: Iterable[int], rate: float) -> np.ndarray:
    """Number of flips per class, ``round(rate · n_c)`` rounded half up.

    Example:
        >>> flip_counts([10, 5, 3], 0.5).tolist()
        [5, 3, 2]
    """
    rate = check_rate(rate)
    return np.array([round_half_up(rate * int(n)) for n in counts], dtype=np.int64)


def _flip(ds: LabelledDataset, rate: float, seed: int, kind: str, classes: Iterable[int],
          new_label: Any, record: dict[str, Any]) -> LabelledDataset:
    """Flip ``round(rate · n_c)`` labels of each class in ``classes``; ``new_label(c, k, rng)``."""
    rate, seed = check_rate(rate), check_seed(seed)
    y = ds.y.numpy()
    counts = flip_counts(ds.class_counts, rate)
    per_class = np.zeros(ds.num_classes, dtype=np.int64)
    for c in classes:
        per_class[c] = counts[c]
    chosen = choose_per_class(y, per_class, seed, kind)
    y_new = y.copy()
    for c, rows in enumerate(chosen):
        if rows.size:
            y_new[rows] = new_label(c, rows.size, numpy_rng(seed, kind, "label", c))
    full = {"kind": kind, "rate": rate, **record, "seed": seed,
            "num_flipped": int(per_class.sum())}
    return ds.replace(y=torch.from_numpy(y_new), record=full)


def symmetric_noise(ds: LabelledDataset, rate: float, *, seed: int) -> LabelledDataset:
    """Give ``round(rate · n_c)`` random samples of each class ``c`` a label drawn uniformly
    from the *other* classes ("symmetric" or "uniform-flip" noise).

    Unlike the variant that redraws from all classes, every chosen sample really changes its
    label, so :attr:`~LabelledDataset.noise_rate` is ``rate`` up to rounding on clean data.

    Args:
        ds: the dataset; needs at least 2 classes when ``rate > 0``.
        rate: fraction of each class to flip, in ``[0, 1]``.
        seed: seed of the choice of samples and of the new labels.

    Example:
        >>> from landscape.data import gaussian_mixture
        >>> noisy = symmetric_noise(gaussian_mixture(100, num_classes=4), 0.2, seed=0)
        >>> int((noisy.y != noisy.y_clean).sum()), noisy.transforms[-1]["kind"]
        (20, 'symmetric_noise')
    """
    rate = check_rate(rate)
    num_classes = ds.num_classes
    if rate > 0 and num_classes < 2:
        raise ConfigError("symmetric noise needs at least 2 classes")

    def other(c: int, k: int, rng: np.random.Generator) -> np.ndarray:
        return (c + rng.integers(1, num_classes, size=k)) % num_classes

    return _flip(ds, rate, seed, "symmetric_noise", range(num_classes), other, {})


def pairflip_noise(ds: LabelledDataset, rate: float, *, seed: int) -> LabelledDataset:
    """Relabel ``round(rate · n_c)`` random samples of each class ``c`` as ``(c + 1) mod C``
    (the "pair flip" noise of Han et al. 2018, Co-teaching).

    Args:
        ds: the dataset; needs at least 2 classes when ``rate > 0``.
        rate: fraction of each class to flip, in ``[0, 1]``.
        seed: seed of the choice of samples.

    Example:
        >>> from landscape.data import gaussian_mixture
        >>> noisy = pairflip_noise(gaussian_mixture(100, num_classes=4), 0.2, seed=0)
        >>> flipped = noisy.y != noisy.y_clean
        >>> bool(((noisy.y_clean[flipped] + 1) % 4 == noisy.y[flipped]).all())
        True
    """
    rate = check_rate(rate)
    num_classes = ds.num_classes
    if rate > 0 and num_classes < 2:
        raise ConfigError("pair-flip noise needs at least 2 classes")

    def following(c: int, k: int, rng: np.random.Generator) -> np.ndarray:
        return np.full(k, (c + 1) % num_classes)

    return _flip(ds, rate, seed, "pairflip_noise", range(num_classes), following, {})


def _mapping(mapping: MappingLike, num_classes: int) -> dict[int, int]:
    """``mapping`` as ``{source: target}`` ints, validated against ``num_classes``."""
    pairs = mapping.items() if isinstance(mapping, Mapping) else mapping
    result: dict[int, int] = {}
    try:
        for pair in pairs:
            source, target = pair
            source, target = int(source), int(target)
            if source in result:
                raise ConfigError(f"mapping lists class {source} twice")
            result[source] = target
    except (TypeError, ValueError) as err:
        raise ConfigError(f"mapping must map class ints to class ints, got {mapping!r}") from err
    for source, target in result.items():
        for c in (source, target):
            if not 0 <= c < num_classes:
                raise ConfigError(f"mapping class {c} out of range [0, {num_classes}) in "
                                  f"{source} → {target}")
        if source == target:
            raise ConfigError(f"mapping sends class {source} to itself")
    return result


def asymmetric_noise(ds: LabelledDataset, rate: float, *, seed: int,
                     mapping: MappingLike | None = None) -> LabelledDataset:
    """Relabel ``round(rate · n_c)`` random samples of each mapped class ``c`` as
    ``mapping[c]`` (class-dependent noise); other classes keep their labels.

    Args:
        ds: the dataset.
        rate: fraction of each mapped class to flip, in ``[0, 1]``.
        seed: seed of the choice of samples.
        mapping: ``{source: target}`` classes; default :data:`CIFAR10_ASYMMETRIC_MAPPING`
            (Patrini et al. 2017: truck → automobile, bird → airplane, cat ↔ dog,
            deer → horse), which needs 10 classes. Recorded as sorted ``[source, target]`` pairs.

    Example:
        >>> from landscape.data import gaussian_mixture
        >>> ds = gaussian_mixture(40, num_classes=4)
        >>> noisy = asymmetric_noise(ds, 0.5, seed=0, mapping={0: 1})
        >>> noisy.class_counts.tolist()
        [5, 15, 10, 10]
    """
    rate = check_rate(rate)
    pairs = _mapping(CIFAR10_ASYMMETRIC_MAPPING if mapping is None else mapping, ds.num_classes)

    def mapped(c: int, k: int, rng: np.random.Generator) -> np.ndarray:
        return np.full(k, pairs[c])

    record = {"mapping": [[s, t] for s, t in sorted(pairs.items())]}
    return _flip(ds, rate, seed, "asymmetric_noise", sorted(pairs), mapped, record)
