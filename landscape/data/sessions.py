r"""Session data for next-item recommendation: sequences to samples, and a seeded synthetic world.

A session data set is a :class:`~landscape.data.LabelledDataset` like any other, so training,
storing and every measure work on it unchanged: ``x`` holds int64 click prefixes ``[N, L]``
(item ids ``1..V``, left-aligned, ``0``-padded on the right; a longer prefix keeps its **last**
``L`` clicks), ``y`` the next item as a class ``v − 1`` in ``[0, V)``, ``num_classes = V``, and
``source["kind"] == "sessions"``. :func:`augment` is SR-GNN's sequence augmentation (Wu et al.
2019, and Tan et al. 2016): a session ``[v_1, …, v_n]`` gives the ``n − 1`` samples
``[v_1..v_k] → v_{k+1}``.

:func:`synthetic_sessions` draws a world with the structure session recommenders exploit:

- ``num_items`` items in ``num_clusters`` interest clusters (item ``i`` in cluster
  ``i mod C``), with Zipf popularity ``p_i ∝ r_i^{−s}`` over a seeded random ranking ``r``
  (``s = popularity_exponent``, default 1.0);
- ``num_users`` users with interest mixtures ``θ_u ∼ Dirichlet(0.3)`` over clusters;
- Markov transitions: every item has 5 successors in its cluster (drawn by popularity, fixed);
  the next click follows one of them with probability ``stay = 0.7``, otherwise a new cluster
  is drawn from ``θ_u`` and an item in it by popularity;
- session lengths ``2 + Poisson(λ)`` clicks, ``λ = mean_length − 2`` (default mean 6),
  truncated at 50.

Sessions are split at random into train and test (``test_fraction``, default 0.2) *before*
augmentation, so no test session leaks into training. Measured statistics of the default world
(seed 0, 4000 sessions, 500 items): mean session length 6.0, the most popular 10 % of the items
take about 61 % of the next-item targets (tested in ``tests/data/test_sessions.py``).

Example:
    >>> train = synthetic_sessions("train", seed=0, num_sessions=200, num_items=50)
    >>> train.x.dtype, train.num_classes, train.source["kind"]
    (torch.int64, 50, 'sessions')
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from landscape._seeding import numpy_rng
from landscape.data._common import Split, check_split
from landscape.data._dataset import LabelledDataset
from landscape.errors import ConfigError

#: Default click window ``L`` (SR-GNN keeps whole sessions; 19 covers > 99 % of the default ones).
DEFAULT_MAX_LENGTH = 19


def augment(sessions: Sequence[Sequence[int]], max_length: int = DEFAULT_MAX_LENGTH
            ) -> tuple[np.ndarray, np.ndarray]:
    """Every prefix of every session and its next item: ``(x [N, L], next_item [N])``.

    Example:
        >>> x, y = augment([[3, 1, 2]], max_length=2)
        >>> x.tolist(), y.tolist()
        ([[3, 0], [3, 1]], [1, 2])
    """
    if max_length < 1:
        raise ConfigError(f"max_length must be >= 1, got {max_length}")
    rows, targets = [], []
    for s in sessions:
        for k in range(1, len(s)):
            prefix = list(s[max(0, k - max_length):k])
            rows.append(prefix + [0] * (max_length - len(prefix)))
            targets.append(s[k])
    x = np.asarray(rows, dtype=np.int64).reshape(-1, max_length)
    return x, np.asarray(targets, dtype=np.int64)


def session_dataset(sessions: Sequence[Sequence[int]], num_items: int, name: str, *,
                    max_length: int = DEFAULT_MAX_LENGTH, source: dict[str, Any] | None = None
                    ) -> LabelledDataset:
    """The augmented samples of ``sessions`` (item ids ``1..num_items``) as a dataset."""
    x, nxt = augment(sessions, max_length)
    if len(nxt) and (nxt.min() < 1 or nxt.max() > num_items or x.max() > num_items):
        raise ConfigError(f"item ids must lie in 1..{num_items}")
    y = torch.from_numpy(nxt - 1)
    return LabelledDataset(
        x=torch.from_numpy(x), y=y, y_clean=y.clone(), index=torch.arange(len(y)),
        num_classes=int(num_items), name=name,
        source={"kind": "sessions", "num_items": int(num_items), "max_length": int(max_length),
                "num_sessions": len(sessions), **(source or {})})


def _world(rng: np.random.Generator, V: int, C: int, U: int, s: float) -> dict[str, Any]:
    ranks = rng.permutation(V) + 1
    pop = ranks.astype(float) ** -s
    cluster = np.arange(V) % C
    members = [np.flatnonzero(cluster == c) for c in range(C)]
    within = [pop[m] / pop[m].sum() for m in members]
    succ = np.stack([rng.choice(members[cluster[i]], size=5, p=within[cluster[i]])
                     for i in range(V)])
    theta = rng.dirichlet(np.full(C, 0.3), size=U)
    return {"cluster": cluster, "members": members, "within": within, "succ": succ,
            "theta": theta}


def _session(rng: np.random.Generator, w: dict[str, Any], length: int, stay: float) -> list[int]:
    theta = w["theta"][rng.integers(len(w["theta"]))]

    def fresh() -> int:
        c = rng.choice(len(theta), p=theta)
        return int(rng.choice(w["members"][c], p=w["within"][c]))

    items = [fresh()]
    while len(items) < length:
        items.append(int(rng.choice(w["succ"][items[-1]])) if rng.random() < stay else fresh())
    return [i + 1 for i in items]


def synthetic_sessions(split: Split = "train", *, seed: int = 0, num_sessions: int = 4000,
                       num_items: int = 500, num_clusters: int = 10, num_users: int = 300,
                       mean_length: float = 6.0, popularity_exponent: float = 1.0,
                       stay: float = 0.7, test_fraction: float = 0.2,
                       max_length: int = DEFAULT_MAX_LENGTH) -> LabelledDataset:
    """The ``split`` of a seeded synthetic session world (see the module doc).

    Args:
        split: ``"train"`` or ``"test"`` (disjoint sessions of the same world).
        seed: seed of the world, the sessions and the split.
        num_sessions: sessions in both splits together. Default 4000 (about 20 000 training
            samples: an epoch of ``session_gnn`` takes seconds on one CPU thread).
        num_items: ``V``. Default 500; 10 000 for a large softmax.
        num_clusters, num_users, mean_length, popularity_exponent, stay: the world's structure.
        test_fraction: share of sessions in the test split.
        max_length: click window ``L``.
    """
    split = check_split(split)
    if num_items < num_clusters or num_clusters < 1 or num_sessions < 2 or mean_length < 2:
        raise ConfigError("need num_items >= num_clusters >= 1, num_sessions >= 2, "
                          "mean_length >= 2")
    if not 0 < test_fraction < 1 or not 0 <= stay <= 1 or popularity_exponent < 0:
        raise ConfigError("need 0 < test_fraction < 1, 0 <= stay <= 1, popularity_exponent >= 0")
    rng = numpy_rng(seed, "synthetic-sessions")
    world = _world(rng, num_items, num_clusters, num_users, popularity_exponent)
    lengths = np.minimum(2 + rng.poisson(mean_length - 2, size=num_sessions), 50)
    sessions = [_session(rng, world, int(n), stay) for n in lengths]
    order = numpy_rng(seed, "synthetic-sessions", "split").permutation(num_sessions)
    n_test = max(1, round(test_fraction * num_sessions))
    chosen = np.sort(order[:n_test] if split == "test" else order[n_test:])
    settings = {"seed": seed, "num_sessions": num_sessions, "num_items": num_items,
                "num_clusters": num_clusters, "num_users": num_users,
                "mean_length": mean_length, "popularity_exponent": popularity_exponent,
                "stay": stay, "test_fraction": test_fraction}
    return session_dataset([sessions[i] for i in chosen], num_items,
                           f"synthetic-sessions/{split}", max_length=max_length,
                           source={"dataset": "synthetic-sessions", "split": split,
                                   "params": {**settings, "max_length": max_length}})
