"""Training settings, recorded in full with every run."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from landscape.errors import ConfigError

OptimizerName = Literal["sgd", "adam", "adamw"]
ScheduleName = Literal["constant", "cosine", "step"]
TrackUnit = Literal["epoch", "step"]


@dataclass(frozen=True)
class TrainConfig:
    """How to train: optimiser, schedule, batches, seed, checkpoints.

    Defaults are those of the small-network experiments in Pittorino et al. (ICLR 2021) scaled to
    CPU-sized data: SGD with Nesterov-free momentum 0.9, learning rate 0.05, batch 128, cosine
    schedule, no weight decay.

    Attributes:
        epochs: number of passes over the training set.
        batch_size: mini-batch size (the last batch of an epoch may be smaller).
        optimizer: ``"sgd"`` (with ``momentum``, ``nesterov``), ``"adam"`` or ``"adamw"``.
        lr: initial learning rate.
        momentum: SGD momentum.
        nesterov: SGD Nesterov momentum.
        weight_decay: L2 coefficient (decoupled for AdamW).
        schedule: ``"constant"``; ``"cosine"``; ``"step"`` (multiply by ``gamma`` every
            ``step_size`` epochs). Applied per epoch. The cosine schedule runs epoch ``e``
            (0-based) of ``E`` at ``lr_min + (lr − lr_min)·(1 + cos(π e/E))/2`` (torch's
            ``CosineAnnealingLR`` with ``T_max = E`` stepped per epoch): it would reach
            ``lr_min`` after the last epoch, so every epoch trains; the last runs at
            ``lr_min + (lr − lr_min)·(1 − cos(π/E))/2`` (for the defaults, 20 epochs:
            3.1e-4), never at zero.
        lr_min: the floor the cosine schedule decays towards (reached only after training).
        step_size, gamma: step schedule.
        seed: seeds the shuffling order (one stream per epoch) and dropout; record it.
        checkpoint_every: store the weights on the trajectory every this many epochs (epoch 0,
            the initialisation, and the last epoch included); 0 disables.
        eval_batch_size: batch size for the per-epoch evaluation passes (forward only). 512:
            on one CPU thread, evaluating 5000 Fashion-MNIST images takes LeNet 0.32 s at 512
            and 0.77 s at 2048 (the larger activations leave the cache); the MLP is equal.
            Only speed depends on it, so a stored run resumes whatever it was.
        drop_last: drop the incomplete last batch of each epoch.
        track_curvature: measure the curvature of the training loss along training every this
            many ``track_unit`` s (0, the default, disables it), at the initialisation and at
            the end of training too: λ_max by warm-started block Lanczos, the Hessian trace by
            Hutch++ on its basis and optionally the local energy δE(σ*), on a fixed subset of
            the training data (:mod:`landscape.train.tracking`).
        track_unit: ``"epoch"`` (values in the run's per-epoch history, NaN at epochs not
            measured) or ``"step"`` (optimiser steps; values on a step axis, e.g. every step of
            full-batch gradient descent).
        track_samples: size of the fixed stratified subset of the training data (seeded by
            ``seed``) the curvature is measured on; 0 takes the whole training set. Default
            256: on the digits MLP λ_max of such a subset lies 1-6 % above the whole training
            set's on average, 13 % at most over 8 subsets (the statistical error; 128 samples
            roughly double it and save a quarter of the cost, ``benchmarks/tracking.py``).
        track_tol: relative residual tolerance of λ_max (the Ritz value is then within
            ``tol·λ`` of an eigenvalue, typically ``(tol·λ)²/gap``). Default 3e-2: on the digits
            MLP (SGD, every epoch) the tracked values are within 1e-3 of converged ones (median
            2e-4), far below the subset's statistical error; 1e-2 gives 1.5e-4 for about one
            more block product per measurement (``benchmarks/tracking.py``).
        track_max_matvecs: product budget of one warm-started λ_max measurement (the first,
            from a random block, may use 300); one that runs out records its residual, which
            says how far it got, and the next continues from its vectors (at least two block
            products are spent: the second is what moves the block). Default 300: run to
            ``track_tol``.
        track_top_k: block size of the block Lanczos: the Ritz pairs carried from one
            measurement to the next (the largest is λ_max; a block spans several eigenvectors,
            so a crossing among them cannot lock the warm start onto a former top eigenvalue).
            Default 4: on the digits MLP (128 samples) 2.9 block products per measurement (max
            λ_max error 8.7e-4), against 3.5 with 2 (7e-3: the top four eigenvalues lie within
            20 %) and fewer but wider ones with 8 at a higher cost (a block costs about 1 ms
            plus 0.25 ms per vector there, one CPU thread).
        track_trace_matvecs: trace probes per measurement (0: no trace), multiplied in the first
            block product; the Lanczos basis is the Hutch++ sketch, so the products of the
            sketch are free. Default 4: on the digits MLP the trace is within 8 % of the exact
            one (median over 11 epochs; up to 71 % in the first epochs, where the trace is
            small beside ``‖H‖_F``), against 30 % (up to 90 %) for the 6 Hutch++ products used
            before (``benchmarks/tracking.py``); ``≥ P`` makes the trace exact.
        track_local_energy: σ* of the local energy δE(σ*) of the training loss (multiplicative
            noise, :func:`landscape.flatness.local_energy`); 0 (default) skips it.
        track_local_energy_draws: noise draws for δE(σ*). Default 8.
    """

    epochs: int = 20
    batch_size: int = 128
    optimizer: OptimizerName = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    schedule: ScheduleName = "cosine"
    lr_min: float = 0.0
    step_size: int = 30
    gamma: float = 0.1
    seed: int = 0
    checkpoint_every: int = 0
    eval_batch_size: int = 512
    drop_last: bool = False
    track_curvature: int = 0
    track_unit: TrackUnit = "epoch"
    track_samples: int = 256
    track_tol: float = 3e-2
    track_max_matvecs: int = 300
    track_top_k: int = 4
    track_trace_matvecs: int = 4
    track_local_energy: float = 0.0
    track_local_energy_draws: int = 8

    def __post_init__(self) -> None:
        if self.epochs < 0 or self.batch_size < 1 or self.eval_batch_size < 1:
            raise ConfigError(f"epochs must be >= 0 and batch sizes >= 1, got epochs={self.epochs}"
                              f", batch_size={self.batch_size}")
        if not self.lr > 0:
            raise ConfigError(f"lr must be positive, got {self.lr}")
        if self.optimizer not in ("sgd", "adam", "adamw"):
            raise ConfigError(f"unknown optimizer {self.optimizer!r}: sgd, adam or adamw")
        if self.schedule not in ("constant", "cosine", "step"):
            raise ConfigError(f"unknown schedule {self.schedule!r}: constant, cosine or step")
        if self.checkpoint_every < 0 or self.step_size < 1:
            raise ConfigError("checkpoint_every must be >= 0 and step_size >= 1")
        if self.lr_min < 0 or (self.schedule == "cosine" and self.lr_min > self.lr):
            raise ConfigError(f"lr_min must be in [0, lr], got {self.lr_min}")
        self._check_tracking()

    def _check_tracking(self) -> None:
        if self.track_unit not in ("epoch", "step"):
            raise ConfigError(f"unknown track_unit {self.track_unit!r}: epoch or step")
        if self.track_curvature < 0 or self.track_samples < 0 or self.track_trace_matvecs < 0 \
                or self.track_max_matvecs < 1 or self.track_top_k < 1:
            raise ConfigError("track_curvature, track_samples and track_trace_matvecs must be "
                              ">= 0, track_max_matvecs and track_top_k >= 1")
        if self.track_trace_matvecs == 1:
            raise ConfigError("track_trace_matvecs must be 0 or >= 2 (two probes give a "
                              "standard error), got 1")
        if not 0 < self.track_tol < 1:
            raise ConfigError(f"track_tol must be in (0, 1), got {self.track_tol}")
        if not self.track_local_energy >= 0 or self.track_local_energy_draws < 1:
            raise ConfigError("track_local_energy must be >= 0 and track_local_energy_draws "
                              ">= 1")

    def to_dict(self) -> dict[str, Any]:
        """All settings as a plain dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Rebuild from :meth:`to_dict` output (unknown keys are an error)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ConfigError(f"unknown training settings {unknown}")
        return cls(**values)
