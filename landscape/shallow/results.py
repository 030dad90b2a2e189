"""The result type shared by every learner of :mod:`landscape.shallow`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from landscape.hessian._results import ArraysMixin

__all__ = ["LearnerResult"]


@dataclass(frozen=True)
class LearnerResult(ArraysMixin):
    """What a learner found on one instance.

    Attributes:
        weights: the weights, ``[N]`` for ``K = 1``, ``[K, N]`` otherwise.
        solved: whether ``errors == 0`` (checked on the returned weights).
        errors: number of training errors of ``weights``.
        iterations: sweeps / epochs run in total.
        seconds: wall time.
        algorithm: name of the learner (e.g. ``"focusing_bp"``).
        protocol: schedule used (learner specific, ``""`` if none).
        steps: protocol steps (or outer iterations) run.
        K: hidden units. N: inputs. P: patterns. seed: the seed.
        damping: message damping (0 where not applicable). max_iters, tol: inner settings.
        settings: the learner's other settings as a JSON object (``""`` if none), for provenance.

    ``weights`` are ±1 except for :func:`~landscape.shallow.learners.gamma_ce_sgd`,
    :func:`~landscape.shallow.replicated.replicated_gd` and
    :func:`~landscape.shallow.replicated.entropic_gd` with ``binary=False`` (continuous weights
    on the sphere :math:`|w_k|^2 = N`).
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
    settings: str = ""

    @classmethod
    def from_arrays(cls, arrays: dict[str, Any], attrs: dict[str, Any]) -> LearnerResult:
        """As :meth:`ArraysMixin.from_arrays`; ``settings`` comes back as JSON text even where the
        study reader has already decoded it into a dict."""
        settings = attrs.get("settings", "")
        if not isinstance(settings, (str, bytes)):
            attrs = {**attrs, "settings": json.dumps(settings, sort_keys=True)}
        return super().from_arrays(arrays, attrs)
