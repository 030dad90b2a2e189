r"""Local energy of binary weights: training error after flipping a random fraction of them.

For binary weights :math:`w` (perceptron ``[N]`` or committee machine ``[K, N]``) and a flip
fraction :math:`p`, draw :math:`w'` by flipping exactly :math:`\operatorname{round}(p\,n)` of the
:math:`n` weights, chosen uniformly without replacement, and measure the training error
:math:`E(w')` (fraction of misclassified patterns). The local energy curve is
:math:`\delta E(p) = \mathbb E[E(w')] - E(w)` (``research/baldassi.md`` §3.2; ICLR 2021 uses the
same flip perturbation for binary networks). Wide flat minima have a slowly rising curve; at
:math:`p = 1/2` the weights are fully randomised and, for random labels, :math:`E(w') \approx 1/2`.
All samples of one fraction are evaluated in one batched product.

Example:
    >>> import numpy as np
    >>> from landscape.shallow import focusing_bp, local_energy, random_patterns
    >>> xi, labels = random_patterns(201, 60, seed=0)
    >>> w = focusing_bp(xi, labels, seed=0).weights
    >>> le = local_energy(w, xi, labels, [0.0, 0.5], num_samples=50, seed=0)
    >>> float(le.mean[0]), bool(abs(le.mean[1] - 0.5) < 0.1)
    (0.0, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from landscape._seeding import numpy_rng
from landscape.errors import ConfigError
from landscape.hessian._results import ArraysMixin
from landscape.shallow.models import Machine, training_error

__all__ = ["GaussianLocalEnergyResult", "LocalEnergyResult", "local_energy",
           "local_energy_gaussian"]


@dataclass(frozen=True)
class LocalEnergyResult(ArraysMixin):
    """Training error after random flips, one entry per flip fraction.

    Attributes:
        flip_fractions: the fractions ``p``, ``[F]``.
        mean: mean training error (fraction of patterns) after flipping, ``[F]``.
        stderr: standard error of that mean over the samples, ``[F]``.
        samples: every sampled training error, ``[F, num_samples]``.
        num_flipped: weights flipped at each fraction, ``[F]``.
        base_error: training error of the unperturbed weights.
        num_samples: samples per fraction. seed: the seed. machine: the model type.
    """

    flip_fractions: np.ndarray
    mean: np.ndarray
    stderr: np.ndarray
    samples: np.ndarray
    num_flipped: np.ndarray
    base_error: float
    num_samples: int
    seed: int
    machine: str

    @property
    def increase(self) -> np.ndarray:
        r"""The local energy :math:`\delta E(p)` = ``mean - base_error``."""
        return self.mean - self.base_error


def local_energy(
    weights: np.ndarray,
    xi: np.ndarray,
    labels: np.ndarray,
    flip_fractions: np.ndarray | list[float],
    *,
    num_samples: int = 100,
    seed: int = 0,
    machine: Machine | None = None,
) -> LocalEnergyResult:
    """Training error after flipping random fractions of binary weights.

    Args:
        weights: ±1 weights, ``[N]`` (perceptron) or ``[K, N]`` (committee machine).
        xi: Patterns ``[P, N]``. labels: Labels ±1 ``[P]``.
        flip_fractions: Fractions ``p`` in ``[0, 1]``.
        num_samples: Random perturbations per fraction.
        seed: Seed (stream ``"local_energy", j`` for fraction number ``j``).
        machine: Model type; default ``"perceptron"`` for 1-d weights, ``"committee"`` for 2-d.

    Raises:
        ConfigError: non-±1 weights, fractions outside ``[0, 1]``, ``num_samples < 1``.
    """
    w = np.asarray(weights, dtype=np.float64)
    if not np.all(np.abs(w) == 1):
        raise ConfigError("local_energy needs binary (±1) weights")
    if num_samples < 1:
        raise ConfigError(f"num_samples must be >= 1, got {num_samples}")
    fracs = np.atleast_1d(np.asarray(flip_fractions, dtype=np.float64))
    if fracs.ndim != 1 or np.any((fracs < 0) | (fracs > 1)):
        raise ConfigError("flip_fractions must be a 1-d array of values in [0, 1]")
    machine = machine or ("perceptron" if w.ndim == 1 else "committee")
    base = float(training_error(w, xi, labels, machine=machine))
    flat = w.reshape(-1)
    n = flat.size
    samples = np.empty((len(fracs), num_samples))
    flipped = np.rint(fracs * n).astype(np.int64)
    for j, k in enumerate(flipped):
        rng = numpy_rng(seed, "local_energy", j)
        keys = rng.random((num_samples, n))
        mask = np.zeros((num_samples, n), dtype=bool)
        if k:
            idx = np.argpartition(keys, k - 1, axis=1)[:, :k]
            np.put_along_axis(mask, idx, True, axis=1)
        perturbed = np.where(mask, -flat, flat).reshape((num_samples, *w.shape))
        samples[j] = training_error(perturbed, xi, labels, machine=machine)
    std = samples.std(axis=1, ddof=1) if num_samples > 1 else np.zeros(len(fracs))
    return LocalEnergyResult(
        flip_fractions=fracs,
        mean=samples.mean(axis=1),
        stderr=std / np.sqrt(num_samples),
        samples=samples,
        num_flipped=flipped,
        base_error=base,
        num_samples=int(num_samples),
        seed=int(seed),
        machine=str(machine),
    )


@dataclass(frozen=True)
class GaussianLocalEnergyResult(ArraysMixin):
    """Training error after multiplicative Gaussian noise, one entry per noise size σ.

    Attributes:
        sigmas: the noise sizes σ, ``[F]``.
        mean: mean training error (fraction of patterns) of the perturbed weights, ``[F]``.
        stderr: standard error of that mean over the samples, ``[F]``.
        samples: every sampled training error, ``[F, num_samples]``.
        base_error: training error of the unperturbed weights.
        num_samples: samples per σ. seed: the seed. machine: the model type.
    """

    sigmas: np.ndarray
    mean: np.ndarray
    stderr: np.ndarray
    samples: np.ndarray
    base_error: float
    num_samples: int
    seed: int
    machine: str

    @property
    def increase(self) -> np.ndarray:
        r"""The local energy :math:`\delta E(\sigma)` = ``mean - base_error``."""
        return self.mean - self.base_error


def local_energy_gaussian(
    weights: np.ndarray,
    xi: np.ndarray,
    labels: np.ndarray,
    sigmas: np.ndarray | list[float],
    *,
    num_samples: int = 100,
    seed: int = 0,
    machine: Machine | None = None,
) -> GaussianLocalEnergyResult:
    r"""Training error after multiplicative Gaussian noise on continuous (or binary) weights.

    :math:`w'_i = w_i (1 + \sigma z_i)`, :math:`z_i \sim N(0, 1)` i.i.d. (the perturbation of
    Pittorino et al., ICLR 2021, ``research/baldassi.md`` §3.2), so the noise is relative to each
    weight and the measure does not depend on the scale of :math:`w` (the sign units here are
    invariant to it anyway). :math:`\delta E(\sigma) = \mathbb E[E(w')] - E(w)`. Draw ``j`` is
    the same standard normal vector at every σ (common random numbers), so the curve is smooth
    in σ. All samples of one σ are evaluated in one batched product.

    Args:
        weights: continuous weights ``[N]`` (perceptron) or ``[K, N]`` (committee machine).
        xi: Patterns ``[P, N]``. labels: Labels ±1 ``[P]``.
        sigmas: noise sizes σ ≥ 0.
        num_samples: draws per σ. seed: seed of the draws (stream ``"local_energy_gaussian"``).
        machine: model type; default ``"perceptron"`` for 1-d weights, ``"committee"`` for 2-d.

    Raises:
        ConfigError: non-finite weights, σ < 0, ``num_samples < 1``.

    Example:
        >>> import numpy as np
        >>> from landscape.shallow import gamma_ce_sgd, random_patterns
        >>> xi, labels = random_patterns(101, 20, seed=0)
        >>> w = gamma_ce_sgd(xi, labels, binary=False, seed=0).weights
        >>> r = local_energy_gaussian(w, xi, labels, [0.0, 0.5], num_samples=20, seed=0)
        >>> float(r.increase[0])
        0.0
    """
    w = np.asarray(weights, dtype=np.float64)
    if not np.all(np.isfinite(w)):
        raise ConfigError("local_energy_gaussian needs finite weights")
    if num_samples < 1:
        raise ConfigError(f"num_samples must be >= 1, got {num_samples}")
    sig = np.atleast_1d(np.asarray(sigmas, dtype=np.float64))
    if sig.ndim != 1 or not np.all(np.isfinite(sig)) or np.any(sig < 0):
        raise ConfigError("sigmas must be a 1-d array of finite values >= 0")
    machine = machine or ("perceptron" if w.ndim == 1 else "committee")
    base = float(training_error(w, xi, labels, machine=machine))
    z = numpy_rng(seed, "local_energy_gaussian").standard_normal((num_samples, *w.shape))
    samples = np.empty((sig.size, num_samples))
    for j, s in enumerate(sig):
        samples[j] = base if s == 0 else training_error(w * (1.0 + s * z), xi, labels,
                                                        machine=machine)
    std = samples.std(axis=1, ddof=1) if num_samples > 1 else np.zeros(sig.size)
    return GaussianLocalEnergyResult(sigmas=sig, mean=samples.mean(axis=1),
                                     stderr=std / np.sqrt(num_samples), samples=samples,
                                     base_error=base, num_samples=int(num_samples),
                                     seed=int(seed), machine=str(machine))
