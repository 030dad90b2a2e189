"""The generalisation gap of a run, read from its stored training history."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from landscape.errors import ConfigError


@dataclass(frozen=True)
class Gap:
    """The generalisation gap of a run at its last epoch, from its stored history.

    Attributes:
        train_error, test_error: ``1 − accuracy`` on the training and the test set; the training
            error on the clean labels when the run was trained on noisy labels.
        train_loss, test_loss: the objective's mean loss on both sets (clean training labels
            likewise).
        clean_labels: whether the clean training labels were used (the run had label noise).
    """

    train_error: float
    test_error: float
    train_loss: float
    test_loss: float
    clean_labels: bool

    @property
    def error_gap(self) -> float:
        """``train accuracy − test accuracy`` (= test error − training error)."""
        return self.test_error - self.train_error

    @property
    def loss_gap(self) -> float:
        """``test loss − training loss`` (oriented like :attr:`error_gap`: larger is worse)."""
        return self.test_loss - self.train_loss


def gap_from_history(history: Mapping[str, np.ndarray], attrs: Mapping[str, Any],
                     run: str = "") -> Gap:
    """The gap at the last evaluated epoch of ``history`` (clean training labels when the
    run's ``dataset`` attribute records label noise and the history has them)."""
    dataset = attrs.get("dataset") if isinstance(attrs.get("dataset"), dict) else {}
    noisy = float(dataset.get("noise_rate", 0.0) or 0.0) > 0 and "train_acc_clean" in history
    suffix = "_clean" if noisy else ""
    if "train_acc" + suffix not in history or "test_acc" not in history:
        raise ConfigError(f"run {run!r} has no training/test accuracy in its history")
    finite = np.flatnonzero(np.isfinite(history["train_acc" + suffix]))
    if finite.size == 0:
        raise ConfigError(f"run {run!r} has no evaluated epoch in its history")
    last = int(finite[-1])
    return Gap(train_error=1.0 - float(history["train_acc" + suffix][last]),
               test_error=1.0 - float(history["test_acc"][last]),
               train_loss=float(history["train_loss" + suffix][last]),
               test_loss=float(history["test_loss"][last]), clean_labels=noisy)


def generalisation_gap(path: str | os.PathLike[str], run: str) -> Gap:
    """The gap of ``run`` of a study file at its last epoch (see :func:`gap_from_history`)."""
    from landscape.store import read_history, run_attrs

    return gap_from_history(read_history(path, run), run_attrs(path, run), run)
