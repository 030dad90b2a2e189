"""Flat-minimum width (the σ where δE(σ) crosses a threshold) and Jiang et al.'s PAC-Bayes σ.

Both search σ with **common random numbers**: draw ``j`` is the same at every σ tried (as in
:func:`~landscape.flatness.local_energy`), so the estimated curve δ̂E(σ) is a fixed, smooth
(for the loss) function of σ and bisection on it is consistent: it converges to the crossing of
that curve, not to a different noisy point at every step.

:func:`flat_minimum_width`: the smallest σ with δ̂E(σ) ≥ threshold, found by a coarse geometric
grid over ``sigma_bounds`` then bisection in log σ inside the first bracketing interval. Its
confidence interval is where the pointwise bands ``δ̂E ± z·stderr`` cross the threshold (the
upper band crosses first: the low end; the lower band last: the high end), found the same way.

:func:`pac_bayes_sigma`: the "pacbayes.flatness" σ′ of Jiang, Neyshabur, Mobahi, Krishnan &
Bengio, "Fantastic generalization measures and where to find them", ICLR 2020 (§C, Algorithm 1):
bisection on σ′ ∈ [0, 2] until the mean training-error increase under N(0, σ′²) weight noise is
within ``tolerance`` of ``target`` (defaults from ``nitarshan/robust-generalization-measures``:
15 steps, 10 samples, target 0.1 ± 0.01). That code passes σ′² where ``torch.normal`` expects a
standard deviation; here σ′ is the standard deviation, as in the paper.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from torch import nn

from landscape.errors import ConfigError
from landscape.flatness._evaluate import LossFn
from landscape.flatness.local_energy import DEFAULT_MEMORY_BUDGET, BNPolicy, _LocalEnergy
from landscape.flatness.perturbations import BiasBN, NoiseModel
from landscape.hessian._checks import check_choice, check_positive
from landscape.hessian._data import ParamSelection
from landscape.hessian._results import ArraysMixin

#: Which increase a width is measured on: the loss or the training error.
Quantity = Literal["loss", "error"]


@dataclass(frozen=True, eq=False)
class WidthResult(ArraysMixin):
    """A flat-minimum width with its confidence interval and the curve points evaluated.

    Attributes:
        width: the σ where the mean δE crosses ``threshold`` (NaN if not in ``sigma_bounds``).
        ci_low, ci_high: where ``δE + z·stderr`` and ``δE − z·stderr`` cross (NaN when that band
            does not cross inside ``sigma_bounds``; ``ci_low`` is then below the lower bound or
            ``ci_high`` above the upper one).
        bracketed: whether ``width`` was found inside ``sigma_bounds``.
        threshold, quantity, confidence: the settings.
        sigmas: float64 ``[M]`` every σ evaluated, ascending.
        delta, stderr: float64 ``[M]`` the mean increase and its standard error there.
        num_samples, noise, seed: the draws.
    """

    width: float
    ci_low: float
    ci_high: float
    bracketed: bool
    threshold: float
    quantity: str
    confidence: float
    sigmas: np.ndarray
    delta: np.ndarray
    stderr: np.ndarray
    num_samples: int
    noise: str
    seed: int


@dataclass(frozen=True, eq=False)
class PacBayesSigmaResult(ArraysMixin):
    """Jiang et al.'s PAC-Bayes σ′ and the bisection that found it.

    Attributes:
        sigma: the σ′ found (the last midpoint, as in the reference code).
        error_increase: the mean training-error increase at ``sigma``.
        converged: whether ``|error_increase − target| < tolerance`` was reached.
        target, tolerance: the settings. base_error: the unperturbed training error.
        sigmas, increases: float64 ``[steps]`` the midpoints tried and their mean increases.
        num_samples, noise, seed: the draws.
    """

    sigma: float
    error_increase: float
    converged: bool
    target: float
    tolerance: float
    base_error: float
    sigmas: np.ndarray
    increases: np.ndarray
    num_samples: int
    noise: str
    seed: int

    @property
    def flatness(self) -> float:
        """Jiang et al.'s "pacbayes.flatness" measure ``1/σ′²``."""
        return 1.0 / self.sigma**2


class _Curve:
    """Cached mean and standard error of δE(σ) for one quantity (private)."""

    def __init__(self, job: _LocalEnergy, quantity: str) -> None:
        self.job = job
        self.quantity = quantity
        self.cache: dict[float, tuple[float, float]] = {}
        base, base_err = job.base()
        self.base = base if quantity == "loss" else base_err
        if quantity == "error" and math.isnan(base_err):
            raise ConfigError("quantity='error' needs classification outputs ([n, C] logits with "
                              "integer labels); use quantity='loss'")

    def __call__(self, sigma: float) -> tuple[float, float]:
        if sigma not in self.cache:
            loss, err = self.job.sigma(float(sigma))
            d = (loss if self.quantity == "loss" else err) - self.base
            se = float(d.std(ddof=1) / math.sqrt(d.size)) if d.size > 1 else 0.0
            self.cache[sigma] = (float(d.mean()), se)
        return self.cache[sigma]

    def points(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        s = np.array(sorted(self.cache))
        return s, np.array([self.cache[x][0] for x in s]), np.array([self.cache[x][1] for x in s])


def _job(model: nn.Module, loss_fn: LossFn, data: object, num_samples: int,
         opts: dict[str, Any]) -> _LocalEnergy:
    known = {"noise": "multiplicative", "seed": 0, "per_batch_noise": False, "bn": "stored",
             "bn_batches": None, "params": None, "biasbn": None, "chunk_size": None,
             "memory_budget": DEFAULT_MEMORY_BUDGET, "batched": True, "forward": None}
    return _LocalEnergy(model, loss_fn, data, num_samples, **{**known, **opts})


def _bisect_log(f: Callable[[float], float], lo: float, hi: float, rtol: float,
                max_steps: int) -> float:
    """The crossing of ``f`` (``f(lo) < 0 <= f(hi)``) by bisection in log σ."""
    for _ in range(max_steps):
        if hi / lo - 1 <= rtol:
            break
        mid = math.sqrt(lo * hi)
        if f(mid) >= 0:
            hi = mid
        else:
            lo = mid
    return math.sqrt(lo * hi)


def _crossing(f: Callable[[float], float], grid: np.ndarray, rtol: float,
              max_steps: int) -> float:
    values = [f(float(s)) for s in grid]
    for i, v in enumerate(values):
        if v >= 0:
            if i == 0:
                return math.nan
            return _bisect_log(f, float(grid[i - 1]), float(grid[i]), rtol, max_steps)
    return math.nan


def flat_minimum_width(model: nn.Module, loss_fn: LossFn, data: object, threshold: float, *,
                       quantity: Quantity = "loss", num_samples: int = 32,
                       sigma_bounds: tuple[float, float] = (1e-3, 10.0), grid: int = 9,
                       rtol: float = 1e-3, max_steps: int = 60, confidence: float = 0.95,
                       noise: NoiseModel = "multiplicative", seed: int = 0,
                       bn: BNPolicy = "stored", params: ParamSelection = None,
                       biasbn: BiasBN | None = None, **options: Any) -> WidthResult:
    """The flat-minimum width: the σ where the local energy δE(σ) reaches ``threshold``.

    Args:
        model, loss_fn, data: as for :func:`~landscape.flatness.local_energy`.
        threshold: the increase of the loss (or of the training error) that defines the edge of
            the minimum, > 0.
        quantity: ``"loss"`` (default) or ``"error"`` (a step function of σ per draw; the
            crossing is then located to the step).
        num_samples: draws per σ. Default ``32``.
        sigma_bounds: ``(lo, hi)`` searched, ``0 < lo < hi``. Default ``(1e-3, 10)``, covering
            the multiplicative scales of Pittorino et al. (2021)'s curves.
        grid: points of the initial geometric grid over the bounds (≥ 2). Default ``9``.
        rtol: stop when the bracket's ratio ``hi/lo − 1`` is below this. Default ``1e-3``.
        max_steps: bisection steps per crossing at most. Default ``60``.
        confidence: level of the pointwise bands (normal quantile; 0.95 → 1.96).
        noise, seed, bn, params, biasbn, **options: as for
            :func:`~landscape.flatness.local_energy` (``chunk_size``, ``memory_budget``,
            ``bn_batches``, ``per_batch_noise``, ``batched``, ``forward`` for structured batches).

    Returns:
        :class:`WidthResult`.

    Example:
        >>> import torch
        >>> model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)).double().eval()
        >>> x, y = torch.randn(64, 4, dtype=torch.float64), torch.randint(0, 3, (64,))
        >>> r = flat_minimum_width(model, nn.CrossEntropyLoss(), (x, y), 0.1, num_samples=8)
        >>> bool(r.ci_low <= r.width <= r.ci_high)
        True
    """
    threshold = float(threshold)
    if not math.isfinite(threshold) or threshold <= 0:
        raise ConfigError(f"threshold must be a positive number, got {threshold}")
    check_choice("quantity", quantity, ("loss", "error"))
    lo, hi = (float(v) for v in sigma_bounds)
    if not (0 < lo < hi) or not math.isfinite(hi):
        raise ConfigError(f"sigma_bounds must satisfy 0 < lo < hi, got {sigma_bounds}")
    if isinstance(grid, bool) or int(grid) != grid or grid < 2:
        raise ConfigError(f"grid must be an integer >= 2, got {grid!r}")
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must lie in (0, 1), got {confidence}")
    check_positive("max_steps", max_steps)
    if not rtol > 0:
        raise ConfigError(f"rtol must be > 0, got {rtol}")
    from scipy.stats import norm

    zq = float(norm.ppf(0.5 + confidence / 2))
    job = _job(model, loss_fn, data, num_samples,
               {"noise": noise, "seed": seed, "bn": bn, "params": params, "biasbn": biasbn,
                **options})
    curve = _Curve(job, quantity)
    g = np.geomspace(lo, hi, int(grid))

    def band(k: float) -> Callable[[float], float]:
        def f(s: float) -> float:
            m, se = curve(s)
            return m + k * se - threshold
        return f

    width = _crossing(band(0.0), g, rtol, max_steps)
    ci_low = _crossing(band(zq), g, rtol, max_steps)
    ci_high = _crossing(band(-zq), g, rtol, max_steps)
    s, d, se = curve.points()
    return WidthResult(width=width, ci_low=ci_low, ci_high=ci_high,
                       bracketed=not math.isnan(width), threshold=threshold, quantity=quantity,
                       confidence=float(confidence), sigmas=s, delta=d, stderr=se,
                       num_samples=job.num_samples, noise=job.noise, seed=job.seed)


def pac_bayes_sigma(model: nn.Module, loss_fn: LossFn, data: object, *, target: float = 0.1,
                    tolerance: float = 0.01, sigma_bounds: tuple[float, float] = (0.0, 2.0),
                    max_steps: int = 15, num_samples: int = 10,
                    noise: NoiseModel = "additive", seed: int = 0, bn: BNPolicy = "stored",
                    params: ParamSelection = None, biasbn: BiasBN | None = None,
                    **options: Any) -> PacBayesSigmaResult:
    """Jiang et al. (2020)'s PAC-Bayes σ′: the noise level that raises the training error by
    ``target`` (see the module docstring).

    Bisection: ``σ = (lo + hi)/2``; stop if ``|Δerror(σ) − target| < tolerance``; else
    ``hi = σ`` when ``Δerror(σ) > target``, ``lo = σ`` otherwise. ``Δerror`` is the mean over
    ``num_samples`` draws (the same draws at every σ) of the increase of the training error.
    Jiang et al. use the absolute accuracy change ``|acc(w′) − acc(w)|``; for a trained network
    the two agree.

    Args:
        target: error increase sought. Default ``0.1`` (Jiang et al.).
        tolerance: accepted deviation from ``target``. Default ``0.01`` (Jiang et al.).
        sigma_bounds: initial bracket. Default ``(0, 2)`` (Jiang et al.).
        max_steps: bisection steps. Default ``15``; samples per step ``num_samples`` default
            ``10`` (``nitarshan/robust-generalization-measures``).
        noise: default ``"additive"`` (isotropic N(0, σ′²), the paper's "pacbayes.flatness");
            ``"multiplicative"`` gives a magnitude-aware variant (the paper's "mag" measures add an
            ε² = 1e-6 floor to the variance, which is not implemented here).
        Other arguments: as for :func:`~landscape.flatness.local_energy`.

    Returns:
        :class:`PacBayesSigmaResult`; ``.flatness`` is ``1/σ′²``.
    """
    if not 0 < target < 1:
        raise ConfigError(f"target must lie in (0, 1) (an error increase), got {target}")
    if not tolerance > 0:
        raise ConfigError(f"tolerance must be > 0, got {tolerance}")
    lo, hi = (float(v) for v in sigma_bounds)
    if not (0 <= lo < hi) or not math.isfinite(hi):
        raise ConfigError(f"sigma_bounds must satisfy 0 <= lo < hi, got {sigma_bounds}")
    steps = check_positive("max_steps", max_steps)
    job = _job(model, loss_fn, data, num_samples,
               {"noise": noise, "seed": seed, "bn": bn, "params": params, "biasbn": biasbn,
                **options})
    curve = _Curve(job, "error")
    tried, increases = [], []
    sigma, inc, converged = math.nan, math.nan, False
    for _ in range(steps):
        sigma = (lo + hi) / 2
        inc = curve(sigma)[0]
        tried.append(sigma)
        increases.append(inc)
        if abs(inc - target) < tolerance:
            converged = True
            break
        if inc > target:
            hi = sigma
        else:
            lo = sigma
    return PacBayesSigmaResult(sigma=sigma, error_increase=inc, converged=converged,
                               target=float(target), tolerance=float(tolerance),
                               base_error=curve.base, sigmas=np.array(tried),
                               increases=np.array(increases), num_samples=job.num_samples,
                               noise=job.noise, seed=job.seed)
