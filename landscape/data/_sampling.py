"""Private plumbing for seeded per-class sampling."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from landscape._seeding import numpy_rng


def proportional_allocation(counts: Sequence[int] | np.ndarray, total: int) -> np.ndarray:
    """Split ``total`` over classes in proportion to ``counts`` (largest-remainder method).

    Each class gets ``floor(total · n_c / N)``; the few units left go to the classes with the
    largest fractional parts (ties to the lower class index). Exact integer arithmetic, so the
    result sums to ``total`` and never exceeds ``counts`` when ``total <= N``.

    Example:
        >>> proportional_allocation([5, 3, 2], 5).tolist()
        [3, 1, 1]
    """
    counts = np.asarray(counts, dtype=np.int64)
    n = int(counts.sum())
    if n == 0:
        return np.zeros_like(counts)
    scaled = counts * int(total)
    alloc, remainder = scaled // n, scaled % n
    left = int(total) - int(alloc.sum())
    order = np.lexsort((np.arange(counts.size), -remainder))  # largest remainder, lower index
    alloc[order[:left]] += 1
    return alloc


def choose_per_class(labels: np.ndarray, per_class: Sequence[int] | np.ndarray, seed: int,
                     *keys: object) -> list[np.ndarray]:
    """For each class ``c``, ``per_class[c]`` positions where ``labels == c``, no repeats.

    Class ``c`` draws from its own stream ``numpy_rng(seed, *keys, c)``, so its choice does not
    depend on the other classes. Each returned array is sorted (original order kept).
    """
    chosen = []
    for c, k in enumerate(per_class):
        positions = np.flatnonzero(labels == c)
        rng = numpy_rng(seed, *keys, c)
        chosen.append(np.sort(rng.permutation(positions)[: int(k)]))
    return chosen
