"""Curvature along the training trajectory: λ_max, tr H and δE(σ*) every few epochs or steps.

With ``TrainConfig(track_curvature=EVERY)`` the training loop measures, at the initialisation,
every ``EVERY`` epochs (``track_unit="epoch"``) or optimiser steps (``"step"``) and at the end of
training, the curvature of the training loss

.. math:: L(\\theta) = \\frac{1}{n}\\sum_{i \\in S} \\ell(f_\\theta(x_i), y_i)

on a fixed stratified subset ``S`` of the training data (``track_samples``, seeded by the run's
seed), with the model in eval mode:

- ``lambda_max``: the largest eigenvalue of ``H = ∇²L`` by block Lanczos
  (:func:`~landscape.hessian.block_lanczos.block_lanczos`) started from the previous
  measurement's top ``track_top_k`` Ritz vectors (default 4). On a small model the cost of a
  Hessian-vector product is mostly per call, not per vector (digits MLP, 128 samples, one CPU
  thread: one vector 0.8 ms, a vmapped block of 4 2.2 ms, of 8 3.1 ms), so the method asks for
  blocks: after an SGD epoch of the digits MLP a measurement takes 1-5 block products (2.9 on
  average over the first 10 epochs) where single-vector Lanczos took 8-24 products. Converged
  when the residual ``‖Hv − λv‖ ≤ tol·λ`` (``lambda_max_residual`` records it): the value is
  then within ``tol·λ`` of *an* eigenvalue, typically ``(tol·λ)²/gap``. A block spans several
  eigenvectors, so when two eigenvalues cross between measurements the new top one is in the
  start block (a warm start from the old top eigenvector alone can lock onto the former top
  one: at the edge of stability of the digits MLP it reported 4.008 where the top was 4.030);
  ``lambda_2`` records the second Ritz value. This is the sharpness of Cohen et al. (ICLR 2021),
  who show that under full-batch gradient descent with step η it rises ("progressive
  sharpening") until it hovers at ``2/η`` ("edge of stability").
- ``hessian_trace`` (``track_trace_matvecs`` = m > 0): Hutch++ whose sketch is the Lanczos
  basis of the same measurement (:func:`~landscape.hessian.trace.sketched_trace`):
  ``tr(QᵀHQ)`` exactly plus Hutchinson on the deflated rest with m fixed Rademacher probes,
  multiplied in the first block product, so the trace costs no call of its own. The probes are
  the same at every measurement (common random numbers, so changes along the trajectory are
  more precise than one estimate's ``hessian_trace_stderr``); with ``m ≥ P`` they are the scaled
  unit vectors and the trace is exact.
- ``local_energy`` (``track_local_energy`` = σ* > 0): δE(σ*) of the training loss under
  multiplicative noise (:func:`~landscape.flatness.local_energy`, fixed draws).
- ``hvp_count``: Hessian-vector products this measurement spent (``lambda_max_matvecs`` of them
  for λ_max); ``track_seconds``: its wall time (not reproducible, like ``epoch_seconds``).

The loss is the objective's own when it is a per-sample loss of the logits, the base loss of SAM
and ASAM, and cross-entropy for procedures that are neither. Measuring never changes training:
it runs with torch's global random state forked, on the model in eval mode (restored after), and
only reads the parameters, so a tracked run reaches the same weights, bit for bit, as an
untracked one. The warm-start block is part of the resume state and block products are always
vmapped (the two block strategies round differently), so a killed run resumes to the same
tracked values too. The Hessian operator is built once per run; each measurement rebuilds its
first-order graph (the weights changed) and frees it after.

Storage: with ``track_unit="epoch"`` the values are columns of the run's per-epoch history (NaN at
epochs not measured); with ``"step"`` they go to ``runs/<run>/tracking/`` on a ``step`` axis
(``0 .. total steps``), with the ``epoch`` (fractional: ``step / steps per epoch``) beside them.

Example:
    >>> from landscape.data import gaussian_mixture
    >>> from landscape.models import MLP
    >>> from landscape.objectives import get
    >>> from landscape.train import TrainConfig, train
    >>> data = gaussian_mixture(120, dim=2, num_classes=2, seed=0)
    >>> result = train(MLP(2, 2, depth=1, width=8), get("ce"), data, progress=False,
    ...                config=TrainConfig(epochs=4, batch_size=40, track_curvature=2))
    >>> bool(np.isnan(result.history["lambda_max"][1])), result.history["lambda_max"].shape
    (True, (5,))
"""

from __future__ import annotations

import math
import time
from typing import Any

import h5py
import numpy as np
import torch
from torch import nn

from landscape._seeding import derive_seed, torch_generator
from landscape.data import LabelledDataset, subset
from landscape.flatness.local_energy import local_energy
from landscape.forward import Forward, move_batch
from landscape.hessian import HessianOperator
from landscape.hessian._sketch import probes
from landscape.hessian.block_lanczos import block_lanczos
from landscape.hessian.trace import sketched_trace
from landscape.objectives import get
from landscape.objectives.base import LossObjective, Objective
from landscape.store import ResumableArray, resumable_array, write_array
from landscape.train.config import TrainConfig

#: The tracked quantities, as history columns (epoch unit) or ``tracking/`` arrays (step unit).
TRACKED = ("lambda_max", "lambda_max_residual", "lambda_max_matvecs", "lambda_2", "hessian_trace",
           "hessian_trace_stderr", "local_energy", "hvp_count", "track_seconds")

#: Product budget of a cold start (the first measurement, from a random block).
COLD_MATVECS = 300

#: Most Lanczos basis columns before a restart: ARPACK/scipy ``eigsh``'s default for one
#: eigenpair, or four blocks if that is more (a warm start rarely needs more than three).
NCV = 20

#: Group of the step-unit values in a run.
STEP_GROUP = "tracking"


def tracked_loss(objective: Objective) -> tuple[LossObjective, str]:
    """The per-sample loss whose Hessian is tracked: the objective's own when it is one, the base
    of an objective that wraps one (SAM, ASAM), else cross-entropy."""
    if isinstance(objective, LossObjective):
        return objective, objective.name
    base = getattr(objective, "base", None)
    if isinstance(base, LossObjective):
        return base, base.name
    return get("ce"), "ce"  # type: ignore[return-value]


def num_steps_per_epoch(n: int, config: TrainConfig) -> int:
    """Optimiser steps in one epoch of ``n`` samples (as the loop's batching makes them)."""
    chunks = math.ceil(n / config.batch_size)
    if config.drop_last and chunks > 1 and n % config.batch_size:
        chunks -= 1
    return chunks


class CurvatureTracker:
    """Measures and stores the tracked curvature of one training run (see the module docstring).

    Args:
        config: the run's settings (``track_*`` fields).
        model: the network being trained (its parameters are read at each measurement).
        objective: the training objective (its loss is the one measured, see
            :func:`tracked_loss`).
        train_data: the training set; the subset measured on is drawn from it.
        forward: the run's ``forward(model, batch) -> (outputs, targets)``
            (:mod:`landscape.forward`; ``None``: the default ``model(x), y``).
    """

    def __init__(self, config: TrainConfig, model: nn.Module, objective: Objective,
                 train_data: LabelledDataset, forward: Forward | None = None) -> None:
        self.config = config
        self.forward = forward
        self.every = config.track_curvature
        self.unit = config.track_unit
        n = config.track_samples
        self.data = subset(train_data, n, seed=config.seed) if 0 < n < len(train_data) \
            else train_data
        p = next(model.parameters())
        self.x = move_batch(self.data.x, p.device, p.dtype)
        self.y = self.data.y.to(p.device)
        self.loss_fn, self.loss_name = tracked_loss(objective)
        self.steps_per_epoch = num_steps_per_epoch(len(train_data), config)
        self.total_steps = self.steps_per_epoch * config.epochs
        self.vector: torch.Tensor | None = None
        self.pending: dict[int, dict[str, float]] = {}
        self.values = {k: np.full(self.total_steps + 1, np.nan) for k in TRACKED} \
            if self.unit == "step" else {}
        self._H: HessianOperator | None = None
        self._probes: torch.Tensor | None = None

    @property
    def history_names(self) -> tuple[str, ...]:
        """The per-epoch history columns this tracker fills (none for the step unit)."""
        return TRACKED if self.unit == "epoch" else ()

    def settings(self) -> dict[str, Any]:
        """What is measured and how, recorded in the run's attributes."""
        c = self.config
        return {"every": self.every, "unit": self.unit, "num_samples": len(self.data),
                "subset_indices_sha256": self.data.indices_hash(), "loss": self.loss_name,
                "lambda_max": {"method": "block Lanczos, warm-started", "tol": c.track_tol,
                               "ncv": max(NCV, 4 * c.track_top_k), "block": c.track_top_k,
                               "max_matvecs": c.track_max_matvecs,
                               "cold_start_max_matvecs": COLD_MATVECS},
                "trace": {"method": "hutch++, Lanczos sketch", "probes": "rademacher",
                          "num_matvecs": c.track_trace_matvecs},
                "local_energy": {"sigma": c.track_local_energy, "noise": "multiplicative",
                                 "num_samples": c.track_local_energy_draws},
                "model_mode": "eval", "steps_per_epoch": self.steps_per_epoch}

    # ------------------------------------------------------------------------- measuring
    def measure(self, model: nn.Module) -> dict[str, float]:
        """Measure the tracked quantities at the current weights (one row of :data:`TRACKED`)."""
        t0 = time.perf_counter()
        was_training = model.training
        model.eval()
        try:
            with torch.random.fork_rng(devices=[]):
                row = self._measure(model)
        finally:
            model.train(was_training)
        row["track_seconds"] = time.perf_counter() - t0
        return row

    def _operator(self, model: nn.Module) -> HessianOperator:
        """The Hessian on the subset, built once per run (its first-order graph is rebuilt at
        each measurement, as the weights changed); block products vmapped, always, so that the
        products round the same way in a resumed run."""
        if self._H is None or self._H.model is not model:
            self._H = HessianOperator(model, self.loss_fn, (self.x, self.y),
                                      forward=self.forward)
            self._H.block_strategy = "vmap"
        return self._H

    def _start(self, P: int, b: int, gen: torch.Generator) -> tuple[torch.Tensor, int]:
        """The start block and the product budget: the previous Ritz vectors (padded with random
        columns if fewer were stored) and at least two blocks, or a random block for the cold
        start."""
        if self.vector is None:
            return torch.randn(P, b, generator=gen, dtype=torch.float64), COLD_MATVECS
        V = self.vector.reshape(P, -1)[:, :b].to(torch.float64)
        if V.shape[1] < b:
            V = torch.cat([V, torch.randn(P, b - V.shape[1], generator=gen,
                                          dtype=torch.float64)], dim=1)
        # two blocks at least: one alone would only rotate the start block, never improve it
        return V, max(self.config.track_max_matvecs, 2 * b)

    def _trace_probes(self, P: int) -> torch.Tensor | None:
        """The fixed trace probes ``[P, m]``: Rademacher, the same at every measurement; with
        ``m ≥ P`` the scaled unit vectors ``√P·e_j`` instead, which make the trace exact."""
        m = self.config.track_trace_matvecs
        if not m:
            return None
        if self._probes is None:
            self._probes = math.sqrt(P) * torch.eye(P, dtype=torch.float64) if m >= P else \
                probes(P, m, "rademacher", torch_generator(self.config.seed, "track", "trace"))
        return self._probes

    def _measure(self, model: nn.Module) -> dict[str, float]:
        c = self.config
        H = self._operator(model)
        before = H.num_matvecs
        P = H.shape[0]
        b = min(c.track_top_k, P)
        gen = torch_generator(c.seed, "track", "lanczos")
        start, budget = self._start(P, b, gen)
        G = self._trace_probes(P)
        m = 0 if G is None else G.shape[1]
        try:
            pairs = block_lanczos(H, start, tol=c.track_tol, max_matvecs=budget + m,
                                  ncv=max(NCV, 4 * b), probes=G, generator=gen)
        finally:
            H.release_cache()
        self.vector = pairs.vectors.detach().cpu().clone()
        row = dict.fromkeys(TRACKED, math.nan)
        row.update(lambda_max=float(pairs.values[0]), lambda_max_residual=float(
            pairs.residuals[0]), lambda_max_matvecs=float(pairs.num_matvecs - m),
            lambda_2=float(pairs.values[1]) if b > 1 else math.nan)
        if G is not None:
            assert pairs.probe_products is not None
            tr = sketched_trace(pairs.basis, pairs.projected, G, pairs.probe_products)
            row.update(hessian_trace=tr.estimate, hessian_trace_stderr=tr.stderr)
        row["hvp_count"] = float(H.num_matvecs - before)
        if c.track_local_energy > 0:
            le = local_energy(model, self.loss_fn, (self.x, self.y), [c.track_local_energy],
                              c.track_local_energy_draws,
                              seed=derive_seed(c.seed, "track", "local_energy"),
                              forward=self.forward)
            row["local_energy"] = float(le.delta[0])
        return row

    def at_epoch(self, model: nn.Module, epoch: int) -> dict[str, float]:
        """The tracked row at the end of ``epoch`` (0: the initialisation): measured when due in
        the epoch unit, NaN otherwise (``{}`` in the step unit)."""
        if self.unit != "epoch":
            return {}
        if epoch % self.every == 0 or epoch == self.config.epochs:
            return self.measure(model)
        return dict.fromkeys(TRACKED, math.nan)

    def at_step(self, model: nn.Module, step: int) -> None:
        """After optimiser step ``step`` (0: the initialisation): measure when due in the step
        unit; the row is written with the epoch that contains it."""
        if self.unit == "step" and (step % self.every == 0 or step == self.total_steps):
            row = self.measure(model)
            self.pending[step] = row
            for k, v in row.items():
                self.values[k][step] = v

    # --------------------------------------------------------------------------- storing
    def create(self, run_group: h5py.Group) -> None:
        """Create the step-unit arrays in a new run (nothing for the epoch unit)."""
        if self.unit != "step":
            return
        group = run_group.create_group(STEP_GROUP)
        axis = {"step": np.arange(self.total_steps + 1)}
        for k in TRACKED:
            resumable_array(group, k, axis)
        write_array(group, "epoch", np.arange(self.total_steps + 1) / self.steps_per_epoch)

    def write(self, run_group: h5py.Group) -> None:
        """Write the step-unit rows measured since the last call."""
        if not self.pending:
            return
        group = run_group[STEP_GROUP]
        for step, row in self.pending.items():
            for k, v in row.items():
                ResumableArray(group[k], group[k + ".computed"], flush=False)[step] = v
        self.pending.clear()

    def read(self, run_group: h5py.Group) -> None:
        """Load the step-unit values of a stored run (to resume or return it)."""
        if self.unit == "step" and STEP_GROUP in run_group:
            for k in TRACKED:
                self.values[k] = run_group[STEP_GROUP][k][()]

    def save_state(self, resume_group: h5py.Group) -> None:
        """Write the warm-start block ``[P, b]`` into the run's resume state."""
        if self.vector is not None:
            write_array(resume_group, "track_vector", self.vector.numpy())

    def load_state(self, resume_group: h5py.Group) -> None:
        """Restore the warm-start block from the resume state (a single vector, as stored
        before blocks, is padded by :meth:`_start`)."""
        if "track_vector" in resume_group:
            self.vector = torch.from_numpy(resume_group["track_vector"][()])

    def step_history(self) -> dict[str, np.ndarray]:
        """The step-unit values ``{"step", "epoch", *TRACKED}`` (empty for the epoch unit)."""
        if self.unit != "step":
            return {}
        steps = np.arange(self.total_steps + 1)
        return {"step": steps, "epoch": steps / self.steps_per_epoch,
                **{k: v.copy() for k, v in self.values.items()}}
