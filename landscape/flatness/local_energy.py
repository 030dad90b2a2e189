"""Local energy: the mean loss increase under random weight perturbations, as a curve over σ.

.. math::
    \\delta E(\\sigma) = \\mathbb{E}_{z \\sim N(0, I)}\\big[L(w + \\sigma\\, d(z))\\big] - L(w),
    \\qquad L(w) = \\sum_b \\frac{n_b}{N} L_b(w),

with ``d(z)`` one of the noise models of :mod:`landscape.flatness.perturbations` (Pittorino et
al., ICLR 2021, for the default multiplicative noise) and ``L_b`` the mean loss of batch ``b``, so
that batches are weighted by their size. The same is measured for the training error (the
fraction of misclassified samples) in the same pass.

Estimator. ``num_samples`` draws ``z_j`` (draw ``j`` seeded by ``(seed, j)``), each evaluated on
the **whole** data set: sample ``j`` at σ is the full-data loss of one perturbed network,
``L(w + σ d(z_j))``, and the reported mean and standard error are over ``j``. Because draw ``j``
is the same at every σ (common random numbers), the curve is smooth in σ and differences between
σ values are far more precise than the error bars of each point suggest.

``per_batch_noise=True`` is a different, cheaper estimator (that of
``tml-epfl/sharpness-vs-generalization``'s ``eval_average_sharpness``): every batch gets a fresh
draw, so sample ``j`` is ``Σ_b (n_b/N) L_b(w + σ d(z_{j,b}))``. Its expectation is the same δE
(linearity of the expectation), but a sample is no longer the loss of one network: the spread of
the samples is that of a batch average (smaller, so fewer samples reach a given standard error),
and the error samples are not error rates of any one perturbed network.

Cost: ``len(sigmas) × num_samples`` forward passes over the data (no backward), evaluated
``chunk_size`` perturbed copies at a time with ``torch.func.functional_call`` under ``torch.vmap``
(one pass over the data per chunk), or, for chains of linear layers (``landscape.models.MLP``),
with a few large batched GEMMs (:mod:`landscape.flatness._fused`). There the first layer is
affine in the perturbation, so its products with draw ``j``'s direction are computed once and
kept across σ (within ``memory_budget``, on top of the chunk): each further σ costs the layers
after the first. σ = 0 costs nothing: its samples are the base values exactly.

Resuming: with a ``checkpoint`` (:mod:`landscape._checkpoint`) the samples of each finished σ
are kept and a later call with the same arguments computes only the others; storing them in a
study file is the measurement layer's business (:mod:`landscape.compare`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from landscape._checkpoint import Checkpoint
from landscape._progress import progress as progress_bar
from landscape.errors import ConfigError, NonFiniteError
from landscape.flatness._entropy_estimators import _mean_stderr
from landscape.flatness._evaluate import AffineStack, Evaluator, LossFn, check_mode
from landscape.flatness.perturbations import (
    BiasBN,
    NoiseModel,
    directions_from_normal,
    perturbed_parameters,
    resolve_biasbn,
    standard_normal,
)
from landscape.forward import Forward
from landscape.hessian._checks import check_choice, check_positive
from landscape.hessian._data import ParamSelection
from landscape.hessian._results import ArraysMixin

#: BatchNorm policy: ``"stored"`` evaluates every perturbed copy with the running statistics
#: stored in the model (eval mode); ``"recalibrate"`` re-estimates them for every copy by a pass
#: over (part of) the data in train mode (SWA's ``update_bn``), then evaluates in eval mode.
BNPolicy = Literal["stored", "recalibrate"]

#: Default memory budget of one vmapped chunk of perturbed copies: 256 MiB, a conservative share
#: of a laptop's memory; the digits MLP of ``benchmarks/local_energy.py`` then evaluates all its
#: copies in one chunk.
DEFAULT_MEMORY_BUDGET = 256 * 2**20


@dataclass(frozen=True, eq=False)
class LocalEnergyResult(ArraysMixin):
    """A local-energy curve: raw perturbed losses and errors per σ, with means and errors.

    Attributes:
        sigmas: float64 ``[K]``, the noise scales.
        base: the unperturbed full-data loss ``L(w)``.
        mean: float64 ``[K]``, ``mean_j L(w + σ d(z_j))``.
        stderr: float64 ``[K]``, ``std_j(·, ddof=1)/√S`` (NaN when ``num_samples == 1``).
        samples: float64 ``[K, S]``, the perturbed losses.
        base_error: the unperturbed training error (fraction misclassified; NaN when the
            outputs are not ``[n, C]`` logits with integer labels).
        error_mean, error_stderr, error_samples: the same for the training error.
        noise: the noise model. biasbn: the bias/BatchNorm policy. bn: the BatchNorm policy.
        per_batch_noise: whether every batch had its own draw (the cheaper, different estimator).
        estimator: ``"shared_noise"`` or ``"per_batch_noise"``, the name of the estimator.
        seed: the seed of the draws. num_samples: ``S``. num_data: ``N``, samples in the data.
    """

    sigmas: np.ndarray
    base: float
    mean: np.ndarray
    stderr: np.ndarray
    samples: np.ndarray
    base_error: float
    error_mean: np.ndarray
    error_stderr: np.ndarray
    error_samples: np.ndarray
    noise: str
    biasbn: str
    bn: str
    per_batch_noise: bool
    estimator: str
    seed: int
    num_samples: int
    num_data: int

    @property
    def delta(self) -> np.ndarray:
        """δE(σ) of the loss, ``mean − base``, ``[K]`` (its standard error is :attr:`stderr`)."""
        return self.mean - self.base

    @property
    def delta_samples(self) -> np.ndarray:
        """Per-sample loss increases ``samples − base``, ``[K, S]``."""
        return self.samples - self.base

    @property
    def error_delta(self) -> np.ndarray:
        """δE(σ) of the training error, ``error_mean − base_error``, ``[K]``."""
        return self.error_mean - self.base_error

    @property
    def error_delta_samples(self) -> np.ndarray:
        """Per-sample training-error increases, ``[K, S]``."""
        return self.error_samples - self.base_error

    @classmethod
    def from_samples(cls, sigmas: np.ndarray, base: float, samples: np.ndarray,
                     base_error: float, error_samples: np.ndarray, **settings: Any
                     ) -> LocalEnergyResult:
        """Build a result from raw samples (means and standard errors computed here)."""
        samples = np.asarray(samples, dtype=np.float64)
        error_samples = np.asarray(error_samples, dtype=np.float64)
        mean, stderr = _mean_stderr(samples)
        emean, estderr = _mean_stderr(error_samples)
        return cls(sigmas=np.asarray(sigmas, dtype=np.float64), base=float(base), mean=mean,
                   stderr=stderr, samples=samples, base_error=float(base_error),
                   error_mean=emean, error_stderr=estderr, error_samples=error_samples,
                   **settings)


def check_sigmas(sigmas: Sequence[float] | np.ndarray | torch.Tensor) -> np.ndarray:
    """``sigmas`` as a float64 ``[K]`` array, or :class:`ConfigError` (empty, not 1-D, σ < 0,
    non-finite)."""
    if isinstance(sigmas, torch.Tensor):
        sigmas = sigmas.detach().cpu().numpy()
    arr = np.asarray(sigmas, dtype=np.float64)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1 or arr.size == 0:
        raise ConfigError(f"sigmas must be a non-empty 1-D sequence, got shape {list(arr.shape)}")
    if not np.isfinite(arr).all() or (arr < 0).any():
        raise ConfigError(f"sigmas must be finite and >= 0, got {arr.tolist()}")
    return arr


class _LocalEnergy:
    """The set-up of a local-energy measurement; evaluates one σ at a time (private)."""

    def __init__(self, model: nn.Module, loss_fn: LossFn, data: object, num_samples: int, *,
                 noise: NoiseModel, seed: int, per_batch_noise: bool, bn: BNPolicy,
                 bn_batches: int | None, params: ParamSelection, biasbn: BiasBN | None,
                 chunk_size: int | None, memory_budget: int, batched: bool,
                 forward: Forward | str | None = None) -> None:
        check_choice("bn", bn, ("stored", "recalibrate"))
        self.biasbn = resolve_biasbn(noise, biasbn)
        self.num_samples = check_positive("num_samples", num_samples)
        if bn_batches is not None:
            bn_batches = check_positive("bn_batches", bn_batches)
        check_mode(model, bn)
        has_norm = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
        self.recalibrate = bn == "recalibrate" and has_norm
        if self.recalibrate and per_batch_noise:
            raise ConfigError("per_batch_noise=True cannot be combined with bn='recalibrate' (a "
                              "recalibrated copy is one network, evaluated on all batches)")
        self.weights = perturbed_parameters(model, noise, params=params, biasbn=self.biasbn)
        # the first-layer products of every draw are kept across σ within the memory budget
        self.evaluator = Evaluator(model, loss_fn, data, list(self.weights),
                                   cache_bytes=0 if per_batch_noise else memory_budget,
                                   forward=forward)
        self.noise, self.seed, self.bn, self.bn_batches = noise, int(seed), bn, bn_batches
        self.per_batch_noise, self.batched = bool(per_batch_noise), bool(batched)
        if chunk_size is not None:
            self.chunk = check_positive("chunk_size", chunk_size)
        else:
            budget = check_positive("memory_budget", memory_budget)
            per_copy = (2 * sum(w.numel() * w.element_size() for w in self.weights.values())
                        if self.recalibrate else self.evaluator.bytes_per_copy(self.weights))
            self.chunk = max(1, budget // max(per_copy, 1))
        self.chunk = min(self.chunk, self.num_samples)
        self._base: tuple[float, float] | None = None
        # The draws of sample j are the same at every σ (common random numbers), so when all
        # directions fit in the memory budget they are drawn once and reused across σ.
        direction_bytes = self.num_samples * sum(w.numel() * w.element_size()
                                                 for w in self.weights.values())
        self._cache_directions = not self.per_batch_noise and direction_bytes <= memory_budget
        self._directions: dict[tuple[int, int], dict[str, torch.Tensor]] = {}

    @property
    def num_chunks(self) -> int:
        return -(-self.num_samples // self.chunk)

    def _evaluate(self, stack: dict[str, torch.Tensor] | AffineStack, per_batch: Any = None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.recalibrate:
            if isinstance(stack, AffineStack):
                stack = stack.materialise()
            return self.evaluator.recalibrated(stack, bn_batches=self.bn_batches)
        return self.evaluator.stacked(stack, batched=self.batched, per_batch=per_batch)

    def base(self) -> tuple[float, float]:
        """``(L(w), error(w))`` under the same BatchNorm policy as the perturbed copies."""
        if self._base is None:
            loss, err = self._evaluate({n: w.unsqueeze(0) for n, w in self.weights.items()})
            if not math.isfinite(float(loss[0])):
                raise NonFiniteError(f"the unperturbed loss is {float(loss[0])}; local energy "
                                     "is undefined (check the model, the data and loss_fn)")
            self._base = (float(loss[0]), float(err[0]))
        return self._base

    def _stack(self, sigma: float, indices: range, *keys: object) -> AffineStack:
        """Copies ``w + σ d_j`` for the draws ``j`` in ``indices``; the draws are a function of
        ``(seed, indices, keys)``, which therefore names them (``key``) for the evaluator's
        cache of first-layer products."""
        d = self._directions.get((indices.start, indices.stop)) if not keys else None
        if d is None:
            z = standard_normal(self.weights, self.seed, indices, *keys)
            d = directions_from_normal(self.weights, z, self.noise)  # type: ignore[arg-type]
            if self._cache_directions and not keys:
                self._directions[(indices.start, indices.stop)] = d
        return AffineStack(self.weights, d, sigma=sigma,
                           key=(indices.start, indices.stop, *keys))

    def sigma(self, sigma: float, bar: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Perturbed losses and errors ``[S]`` at one σ (the base values exactly at σ = 0)."""
        base, base_err = self.base()
        if sigma == 0.0:
            if bar is not None:
                bar.update(self.num_chunks)
            return np.full(self.num_samples, base), np.full(self.num_samples, base_err)
        losses, errors = [], []
        for start in range(0, self.num_samples, self.chunk):
            idx = range(start, min(start + self.chunk, self.num_samples))
            if self.per_batch_noise:
                def per_batch(b: int, idx: range = idx) -> dict[str, torch.Tensor]:
                    return self._stack(sigma, idx, "batch", b).materialise()
                loss, err = self._evaluate(self._stack(sigma, idx, "batch", 0).materialise(),
                                           per_batch)
            else:
                loss, err = self._evaluate(self._stack(sigma, idx))
            losses.append(loss)
            errors.append(err)
            if bar is not None:
                bar.update(1)
        loss_np = torch.cat(losses).numpy().astype(np.float64)
        bad = ~np.isfinite(loss_np)
        if bad.any():
            j = int(np.argmax(bad))
            raise NonFiniteError(f"the loss of perturbed copy {j} at sigma={sigma:g} is "
                                 f"{loss_np[j]}; use smaller sigmas (or check the model)")
        return loss_np, torch.cat(errors).numpy().astype(np.float64)

    def settings(self) -> dict[str, Any]:
        return {"noise": self.noise, "biasbn": self.biasbn, "bn": self.bn,
                "per_batch_noise": self.per_batch_noise,
                "estimator": "per_batch_noise" if self.per_batch_noise else "shared_noise",
                "seed": self.seed, "num_samples": self.num_samples,
                "num_data": self.evaluator.num_data}


def local_energy(model: nn.Module, loss_fn: LossFn, data: object,
                 sigmas: Sequence[float] | np.ndarray | torch.Tensor, num_samples: int, *,
                 noise: NoiseModel = "multiplicative", seed: int = 0,
                 per_batch_noise: bool = False, bn: BNPolicy = "stored",
                 bn_batches: int | None = None, params: ParamSelection = None,
                 biasbn: BiasBN | None = None, chunk_size: int | None = None,
                 memory_budget: int = DEFAULT_MEMORY_BUDGET, batched: bool = True,
                 progress: bool = False, forward: Forward | str | None = None,
                 checkpoint: Checkpoint | None = None
                 ) -> LocalEnergyResult:
    """The local-energy curve δE(σ) of the loss and the training error (see the module docstring).

    Args:
        model: the network at the weights ``w`` to probe; never modified. Must be in eval mode
            (BatchNorm may be in train mode with ``bn="recalibrate"``; dropout never).
        loss_fn: ``loss_fn(model(x), y)`` returning the batch-mean loss as a scalar (e.g.
            ``nn.CrossEntropyLoss()``); it is called under ``torch.vmap`` on one copy's outputs.
        data: one batch ``(x, y, ...)`` or a re-iterable of batches (a list, a ``DataLoader``
            without shuffling); only the first two entries of a batch are used, so
            ``(x, y, y_clean, index)`` items work. Batches are weighted by their size.
        sigmas: the noise scales σ ≥ 0, any order.
        num_samples: noise draws ``S`` per σ (the same draws at every σ).
        noise: ``"multiplicative"`` (default, Pittorino et al. 2021), ``"additive"``,
            ``"filter"`` or ``"layer"`` (Li et al. 2018); see :mod:`~.perturbations`.
        seed: draw ``j`` is seeded by ``(seed, j)``. Default ``0``.
        per_batch_noise: a fresh draw per batch: the cheaper, different estimator (module
            docstring). Default ``False`` (one draw for the whole data set).
        bn: :data:`BNPolicy`. Default ``"stored"`` (what Pittorino et al. and SvG evaluate).
            A model without BatchNorm ignores it.
        bn_batches: with ``bn="recalibrate"``, the number of leading batches used to
            re-estimate the statistics (``None``: all, as SWA's ``update_bn``).
        params: which parameters may be perturbed (``None``: all trainable ones; a glob pattern,
            a list of names or a predicate on the name).
        biasbn: ``"perturb"`` or ``"ignore"`` biases and BatchNorm parameters; ``None`` takes the
            noise model's documented default (:func:`~.perturbations.default_biasbn`).
        chunk_size: perturbed copies per vmapped evaluation; ``None`` derives it from
            ``memory_budget`` and the measured size of one copy (weights and activations of the
            first batch).
        memory_budget: bytes one chunk may use, default :data:`DEFAULT_MEMORY_BUDGET`; the
            draws and the first-layer products kept across σ may use as much again each.
        batched: ``False`` evaluates the copies of a chunk one by one (same numbers; for
            modules that ``vmap`` cannot handle).
        progress: show a progress bar.
        forward: structured batches, ``forward(model, batch) -> (outputs, targets)`` or a
            registered name (:mod:`landscape.forward`); a batch weighs ``len(targets)``, so a
            token-level forward averages over tokens. Default ``(model(b[0]), b[1])``.
        checkpoint: where to keep the samples of each finished σ
            (:class:`~landscape._checkpoint.Checkpoint`); a call with the same arguments and
            checkpoint computes only the σ values not kept yet, and gives the same numbers
            (draw ``j`` is seeded by ``(seed, j)`` whatever the order of the σ).

    Returns:
        :class:`LocalEnergyResult`, with ``delta`` / ``error_delta`` for δE.

    Raises:
        ConfigError: bad sigmas, num_samples, options, data or loss shape.
        NonDeterministicError: dropout (or, with ``bn="stored"``, BatchNorm) in train mode.
        NonFiniteError: the unperturbed or a perturbed loss is NaN or infinite.

    Example:
        >>> model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)).double().eval()
        >>> x, y = torch.randn(32, 4, dtype=torch.float64), torch.randint(0, 3, (32,))
        >>> r = local_energy(model, nn.CrossEntropyLoss(), (x, y), [0.0, 0.1, 0.2], 8)
        >>> r.samples.shape, float(r.delta[0])
        ((3, 8), 0.0)
    """
    sig = check_sigmas(sigmas)
    job = _LocalEnergy(model, loss_fn, data, num_samples, noise=noise, seed=seed,
                       per_batch_noise=per_batch_noise, bn=bn, bn_batches=bn_batches,
                       params=params, biasbn=biasbn, chunk_size=chunk_size,
                       memory_budget=memory_budget, batched=batched, forward=forward)
    base, base_err = job.base()
    samples, errors, done = _restore(checkpoint, sig, job.num_samples)
    with progress_bar(total=sig.size * job.num_chunks, desc="local energy", quiet=not progress,
                      initial=int(done.sum()) * job.num_chunks, unit="chunk") as bar:
        for i, s in enumerate(sig):
            if done[i]:
                continue
            samples[i], errors[i] = job.sigma(float(s), bar)
            done[i] = True
            if checkpoint is not None:
                checkpoint.save({"sigmas": sig, "loss": samples, "error": errors,
                                 "done": done.astype(np.uint8)})
    return LocalEnergyResult.from_samples(sig, base, samples, base_err, errors,
                                          **job.settings())


def _restore(checkpoint: Checkpoint | None, sig: np.ndarray, num_samples: int
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The loss and error samples ``[σ, S]`` and the ``done`` mask kept by ``checkpoint``
    (NaN and ``False`` where nothing is kept)."""
    samples = np.full((sig.size, num_samples), np.nan)
    errors = np.full((sig.size, num_samples), np.nan)
    done = np.zeros(sig.size, dtype=bool)
    state = checkpoint.load() if checkpoint is not None else None
    if state is None:
        return samples, errors, done
    if state["loss"].shape != samples.shape or not np.array_equal(state["sigmas"], sig):
        raise ConfigError("the checkpoint holds a local energy of other sigmas or draws; "
                          "start it again")
    return state["loss"], state["error"], state["done"].astype(bool)
