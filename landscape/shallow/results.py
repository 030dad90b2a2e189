"""The result type shared by every learner of :mod:`landscape.shallow`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from landscape.hessian._results import ArraysMixin

__all__ = ["LearnerResult"]


@dataclass(frozen=True)
class LearnerResult(ArraysMixin):
    """What a learner found on one instance.

    Attributes:
        weights: ±1 weights, ``[N]`` for ``K = 1``, ``[K, N]`` otherwise.
        solved: whether ``errors == 0`` (checked on the returned weights).
        errors: number of training errors of ``weights``.
        iterations: sweeps / epochs run in total.
        seconds: wall time.
        algorithm: name of the learner (e.g. ``"focusing_bp"``).
        protocol: schedule used (learner specific, ``""`` if none).
        steps: protocol steps (or outer iterations) run.
        K: hidden units. N: inputs. P: patterns. seed: the seed.
        damping: message damping (0 where not applicable). max_iters, tol: inner settings.
    """

    weights: np.ndarray
    solved: bool
    errors: int
    iterations: int
    seconds: float
    algorithm: str
    protocol: str
    steps: int
    K: int
    N: int
    P: int
    seed: int
    damping: float = 0.0
    max_iters: int = 0
    tol: float = 0.0
