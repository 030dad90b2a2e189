"""Local entropy at fixed weights: SGLD chains coupled to ``w``, thermodynamic integration in γ.

.. math::
    Z(\\gamma) = \\int dw'\\, e^{-\\beta L(w') - \\frac{\\gamma}{2}\\lVert w' - w\\rVert^2},
    \\qquad \\Phi(w, \\gamma) = \\log Z(\\gamma),
    \\qquad \\Phi_\\mathrm{flat}(\\gamma) = -\\beta L(w) + \\frac{P}{2}\\log\\frac{2\\pi}{\\gamma},

the local entropy of Entropy-SGD (Chaudhari et al., ICLR 2017; Baldassi et al., PNAS 2016) at the
reference weights ``w`` (never moved), with ``L`` the size-weighted mean loss over all batches
and ``P`` the number of selected parameters. ``Φ_flat`` is ``log Z`` of a flat region (``L ≡ L(w)``,
zero curvature), which is also the large-γ limit of ``Φ``. Reported is the **excess**
``ΔΦ(γ) = Φ(γ) − Φ_flat(γ) ≤ 0`` near a minimum: the log of the fraction of the Gaussian volume of
width ``γ^{-1/2}`` around ``w`` that has low loss. Flatter minima have larger (less negative) ΔΦ;
for a quadratic ``L(w + u) = L(w) + ½uᵀHu`` it is exactly ``−½ Σᵢ log(1 + βλᵢ/γ)``.

Sampling. For every γ, ``num_chains`` independent chains of overdamped Langevin dynamics in
``w'``, ``dw' = −[∇L(w') + κ(w' − w)] dt + √(2/β) dB`` with ``κ = γ/β``, whose stationary law is
``∝ exp(−βL(w') − γ/2‖w' − w‖²)``, discretised with step ``η`` (a learning rate on the loss
itself) and no Metropolis correction, as Entropy-SGD's inner loop:

.. math::
    w'_{t+1} = w + a\\,(w'_t - w) - b\\,\\hat g(w'_t) + s\\,\\xi_t, \\qquad \\xi_t \\sim N(0, I),

- ``scheme="euler"`` (Euler–Maruyama, the unadjusted Langevin algorithm; Entropy-SGD's form):
  ``a = 1 − ηκ``, ``b = η``, ``s = √(2η/β)``, i.e. ``w' ← w' − h ∇[βL(w') + γ/2‖w' − w‖²] +
  √(2h) ξ`` with ``h = η/β``.
- ``scheme="exponential"`` (default; exponential Euler): the Gaussian coupling is integrated
  exactly over the step with ``ĝ`` held fixed: ``a = e^{−κη}``, ``b = (1 − a)/κ``,
  ``s = √((1 − a²)/(κβ))``. It equals ``"euler"`` to first order in ``κη``, but is exact
  when ``L`` is flat, so its bias comes from the curvature of ``L`` alone (below).

``noise_scales`` reports ``s``. ``ĝ`` is the full-data gradient ``∇L`` (``batch_size=None``,
default) or the gradient of the mean loss on a fresh uniform minibatch of ``batch_size`` samples
per chain and step (minibatch SGLD, Welling & Teh 2011). All chains start from ``N(w, I/γ_max)``
(the flat, large-γ limit) at the largest γ and are annealed: the γ values are visited from large to
small, each chain warm-started from its last state at the previous γ (small γ means wider, slower
chains, so each γ starts from an equilibrated narrower one). At each γ the first ``burn_in`` steps
are discarded; the next ``num_steps`` record ``‖w'_t − w‖²`` and ``L(w'_t)`` (the loss is the value
computed with the gradient at the same point: the full-data loss, or with minibatches the minibatch
loss, an unbiased but noisier estimate of it). Chains run in lock-step: one ``torch.vmap`` of
``torch.func.functional_call`` over stacked copies and one backward pass per step serve all chains
(a plain loop over chains would multiply the Python overhead that dominates small models by ``C``);
models with convolutions loop over the chains on the CPU, where a vmapped convolution is 3x slower.
Each chain has its own random streams ``(seed, chain)``, so results are deterministic from ``seed``
and the trajectory of chain ``c`` does not depend on ``num_chains``.

Estimators. Per chain, the time averages ``m_c(γ) = mean_t ‖w'_t − w‖²`` and ``ℓ_c(γ) = mean_t
L(w'_t)``; reported are their means over chains and standard errors ``std_c(ddof=1)/√C``. Chains
are independent, so this standard error is valid whatever the autocorrelation within a chain.
Control variate (``control_variate=True``, default): every chain drives a *flat shadow chain*
``u_{t+1} = a u_t + s ξ_t`` (the same scheme with ``L ≡ const``, the same noise ``ξ_t`` and the
same start, ``u_0 = w'_0 − w``), whose ``E‖u_t‖² = P v_t`` is known exactly at every step
(``v_{t+1} = a² v_t + s²``, ``v_0 = 1/γ_max``), and records ``‖w'_t − w‖² − c(‖u_t‖² − P v_t)``
instead, with ``c`` per γ the least-squares slope of ``‖w'_t − w‖²`` on ``‖u_t‖²`` pooled over
steps and chains, both centred per step across chains (``cv_coefficients``): the same
expectation, transients included (up to an O(1/(CT)) bias from estimating ``c``), but the
P-dimensional noise of ``‖w'_t − w‖²`` largely cancels where the coupling dominates the loss
(large γ, flat directions, ``c ≈ 1``), which is where the thermodynamic integrand ``γm − P`` is
a small difference of large numbers; where the loss dominates (``βλ ≫ γ``) the shadow
decorrelates and ``c → 0``. The standard errors treat ``c`` as fixed; through ``c`` the
reported per-chain values (not the trajectories) depend on the other chains. For a flat loss
the estimate is exact: every record is ``P v_t``.

Thermodynamic integration: ``d log Z/dγ = −½⟨‖w' − w‖²⟩_γ``, and ``⟨‖w' − w‖²⟩_flat = P/γ``, so

.. math::
    \\Delta\\Phi(\\gamma_k) = \\tfrac12 \\int_{\\gamma_k}^{\\infty} \\big(\\gamma\\, m(\\gamma) -
    P\\big)\\, d\\log\\gamma ,

evaluated **per chain** by the trapezoid rule in ``log γ`` over the given grid up to
``γ_max = max(gammas)`` (the integrand ``γm − P`` is smooth and bounded in ``log γ``, where the
trapezoid in ``γ`` would be dominated by the small-γ end), plus a tail ``½(γ_max m(γ_max) − P)``
for ``γ > γ_max`` (``tail=True``), the exact first-order term when ``γm − P ∝ 1/γ``, i.e. when
``γ_max ≫ β λ_max(H)`` (check that it is small next to the reported ΔΦ). The reported mean, standard
error and confidence interval (Student t over chains) are those of the per-chain integrals, so
the correlation between γ values within a chain is accounted for. ``delta_log_z`` is the same
integral without the flat reference: ``log Z(γ_k) − log Z(γ_max) = ½∫_{γ_k}^{γ_max} m dγ``.

Assumptions and biases (check them; none is corrected here):

- **Stationarity after burn-in.** The slowest direction relaxes in about
  ``1/(η(λ_min + γ/β))`` steps (``λ_min`` the smallest Hessian eigenvalue, ≈ 0 in the flat
  directions of a deep net, so ``β/(ηγ)`` at small γ; the squared distance relaxes twice as
  fast). ``sq_dist_drift`` (the second half of the recorded steps minus the first, in units of
  its standard error over chains) flags chains still moving: |drift| ≳ 3 means a longer
  ``burn_in``.
- **Discretisation bias O(η).** No accept/reject step. On a Gaussian target (``L`` quadratic
  with Hessian ``H``) both schemes have the exact stationary mean, and per eigendirection ``λᵢ``
  of ``H`` the variance ``s²/(1 − mᵢ²)`` with ``mᵢ = a − bλᵢ`` instead of ``1/(β(λᵢ + κ))``.
  ``"euler"``: inflated by ``1/(1 − η(λᵢ + κ)/2)``, which grows with γ: in flat directions the
  relative bias ``≈ ηκ/2`` of ``γ m`` accumulates in ΔΦ(γ) over ``[γ, γ_max]`` to about
  ``P η (γ_max − γ)/(4β)``, and stability needs ``η(λ_max + κ_max) < 2``. ``"exponential"``:
  exact in flat directions at any γ, relative bias ``≈ ηλᵢ/2`` in curved ones (at small κη).
  Keep ``η λ_max(H) ≪ 1``; halve ``step_size`` and compare to see the bias. ``step_size`` may be
  one value per γ.
- **Minibatch gradients** add gradient noise of covariance ``η² Cov[ĝ]`` per step next to the
  injected ``2η/β``; the chain then samples at an effective temperature raised by about
  ``ηβ Cov[ĝ]/2`` (Welling & Teh 2011; Chen et al. 2014), so ``batch_size`` trades accuracy for
  speed and is only a good approximation when that ratio is small. Full batch is the default.
- **Locality.** ``Z(γ)`` integrates over all of weight space; at small γ a chain can leave the
  basin of ``w`` (a sudden jump of ``loss_chains``), and then ΔΦ no longer measures it.

Defaults and sources. Entropy-SGD (Chaudhari et al. 2017; ``ucla-vision/entropy-sgd``) runs
``L = 20`` inner SGLD steps with learning rate ``η' = 0.1`` and thermal noise ``ε = 1e-4`` (the
paper's Algorithm 1 adds ``√η' ε ξ``; its issues #2/#5 note that the code scales the noise
differently), coupling ``γ₀ = 0.03`` with scoping ``(1 + 10⁻³)^t`` in the paper (code: ``10⁻²``,
no scoping). With Algorithm 1's scaling that chain is ``η = η'``, ``β = 2/ε² = 2·10⁸`` and
``γ_here = β γ_ESGD``: almost noiseless (near-zero temperature), where ΔΦ reduces to the
Laplace approximation. For a *measurement* the defaults here are instead ``β = N`` (the number
of samples in ``data``: ``βL`` is the summed loss, for a negative log-likelihood the Bayesian
posterior at temperature 1, as in SGLD, Welling & Teh 2011; pass ``beta`` to choose),
``step_size = 0.01`` (ten times below Entropy-SGD's inner rate: a bias of about 0.5% per unit
of ``λ_max(H)``), ``scheme="exponential"``, ``num_chains = 8`` (the fewest for a usable t
interval), ``burn_in = 200`` and ``num_steps = 200`` per γ (ten times Entropy-SGD's 20 inner
steps, which estimate a mean, not an equilibrium average).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from scipy import stats
from torch import nn
from torch.func import functional_call, vmap
from tqdm.auto import tqdm

from landscape._seeding import torch_generator
from landscape.errors import ConfigError, NonDeterministicError, NonFiniteError
from landscape.flatness._entropy_checkpoint import Records, StudyCheckpoint
from landscape.flatness._evaluate import LossFn, vmap_is_slow
from landscape.hessian._checks import (
    check_choice,
    check_positive,
    check_scalar_loss,
    stochastic_modules,
)
from landscape.hessian._data import (
    ParamSelection,
    check_reiterable,
    iterate,
    select_parameters,
)
from landscape.hessian._results import ArraysMixin
from landscape.store.writer import writes_study

#: SGLD discretisation: ``"exponential"`` integrates the Gaussian coupling exactly over a step
#: (bias O(η λ(H)) only); ``"euler"`` is Entropy-SGD's Euler–Maruyama step (bias O(η(λ + γ/β))).
Scheme = Literal["exponential", "euler"]

#: Default step size η (a learning rate on the loss; module docstring).
DEFAULT_STEP_SIZE = 0.01
#: Default number of chains, burn-in steps and recorded steps per γ.
DEFAULT_NUM_CHAINS = 8
DEFAULT_BURN_IN = 200
DEFAULT_NUM_STEPS = 200


@dataclass(frozen=True, eq=False)
class LocalEntropyResult(ArraysMixin):
    """Local-entropy estimates against γ (sorted ascending), with per-chain values.

    Attributes:
        gammas: float64 ``[K]``, the couplings γ, **sorted ascending** (whatever the input order).
        sq_dist_mean, sq_dist_stderr: float64 ``[K]``, ``⟨‖w' − w‖²⟩_γ`` and its standard error
            over chains. sq_dist_chains: ``[K, C]``, the per-chain time averages (of the
            control-variate records when ``control_variate``).
        sq_dist_drift: ``[K]``, (second-half − first-half mean of the recorded ``‖w' − w‖²``)
            over its standard error across chains; |drift| ≳ 3 suggests a longer burn-in.
        loss_mean, loss_stderr, loss_chains: the same for ``L(w')``.
        delta_log_z, delta_log_z_stderr, delta_log_z_chains: ``log Z(γ_k) − log Z(γ_max)`` by
            thermodynamic integration (trapezoid in ``log γ``), ``[K]``, ``[K]``, ``[K, C]``.
        phi_excess, phi_excess_stderr, phi_excess_chains: ``ΔΦ(γ) = Φ(γ) − Φ_flat(γ)``,
            including the tail term (if ``tail``), ``[K]``, ``[K]``, ``[K, C]``.
        phi_tail_chains: ``[C]``, the per-chain tail term ``½(γ_max m_c(γ_max) − P)`` (zeros
            when ``tail`` is false).
        base: ``L(w)``, the full-data loss at the reference weights.
        beta: β. step_sizes, noise_scales: ``[K]``, η per γ and the noise coefficient ``s``
            of a step. scheme: ``"exponential"`` or ``"euler"``. control_variate: whether the
            flat shadow chains were subtracted from ``sq_dist``, with the regression
            coefficients ``cv_coefficients`` ``[K]`` (zeros without).
        num_chains, num_steps, burn_in: ``C``, recorded and discarded steps per γ.
        num_params: ``P``. num_data: ``N``. seed: the seed. tail: whether the tail is included.
        estimator: ``"full_batch"`` or ``"minibatch"``. integration: ``"trapezoid_log_gamma"``.
        batch_size: the minibatch size, or ``None`` (full batch; left out of ``to_arrays``).
    """

    gammas: np.ndarray
    sq_dist_mean: np.ndarray
    sq_dist_stderr: np.ndarray
    sq_dist_chains: np.ndarray
    sq_dist_drift: np.ndarray
    loss_mean: np.ndarray
    loss_stderr: np.ndarray
    loss_chains: np.ndarray
    delta_log_z: np.ndarray
    delta_log_z_stderr: np.ndarray
    delta_log_z_chains: np.ndarray
    phi_excess: np.ndarray
    phi_excess_stderr: np.ndarray
    phi_excess_chains: np.ndarray
    phi_tail_chains: np.ndarray
    base: float
    beta: float
    step_sizes: np.ndarray
    noise_scales: np.ndarray
    scheme: str
    control_variate: bool
    cv_coefficients: np.ndarray
    num_chains: int
    num_steps: int
    burn_in: int
    num_params: int
    num_data: int
    seed: int
    tail: bool
    estimator: str
    integration: str
    batch_size: int | None = None

    @property
    def phi_flat(self) -> np.ndarray:
        """``Φ_flat(γ) = −βL(w) + (P/2) log(2π/γ)``, ``[K]``."""
        return -self.beta * self.base + 0.5 * self.num_params * np.log(2 * np.pi / self.gammas)

    @property
    def phi(self) -> np.ndarray:
        """The absolute estimate ``Φ(w, γ) = log Z(γ) = ΔΦ(γ) + Φ_flat(γ)``, ``[K]``."""
        return self.phi_excess + self.phi_flat

    def phi_excess_ci(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """``(low, high)`` ``[K]``: the Student-t interval of ΔΦ over chains (NaN if ``C = 1``)."""
        return _ci(self.phi_excess, self.phi_excess_stderr, self.num_chains, level)

    def delta_log_z_ci(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """``(low, high)`` ``[K]``: the Student-t interval of ``log Z(γ) − log Z(γ_max)``."""
        return _ci(self.delta_log_z, self.delta_log_z_stderr, self.num_chains, level)

    def sq_dist_ci(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """``(low, high)`` ``[K]``: the Student-t interval of ``⟨‖w' − w‖²⟩_γ``."""
        return _ci(self.sq_dist_mean, self.sq_dist_stderr, self.num_chains, level)


def _ci(mean: np.ndarray, stderr: np.ndarray, n: int, level: float
        ) -> tuple[np.ndarray, np.ndarray]:
    if not 0.0 < level < 1.0:
        raise ConfigError(f"level must be in (0, 1), got {level!r}")
    if n < 2:
        nan = np.full(np.shape(mean), np.nan)
        return nan, nan.copy()
    q = float(stats.t.ppf(0.5 + level / 2, n - 1))
    return mean - q * stderr, mean + q * stderr


def _mean_stderr(chains: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c = chains.shape[-1]
    mean = chains.mean(axis=-1)
    if c < 2:
        return mean, np.full(mean.shape, np.nan)
    return mean, chains.std(axis=-1, ddof=1) / math.sqrt(c)


def check_gammas(gammas: Sequence[float] | np.ndarray | torch.Tensor
                 ) -> tuple[np.ndarray, np.ndarray]:
    """``(sorted, order)``: ``gammas`` as a float64 ``[K]`` array sorted ascending and the
    sorting permutation, or :class:`ConfigError` (empty, not 1-D, γ ≤ 0, non-finite,
    repeated)."""
    if isinstance(gammas, torch.Tensor):
        gammas = gammas.detach().cpu().numpy()
    try:
        arr = np.asarray(gammas, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"gammas must be a 1-D sequence of numbers, got {gammas!r}") from exc
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1 or arr.size == 0:
        raise ConfigError(f"gammas must be a non-empty 1-D sequence, got shape {list(arr.shape)}")
    if not np.isfinite(arr).all() or (arr <= 0).any():
        raise ConfigError(f"gammas must be finite and > 0 (γ is the coupling strength of "
                          f"exp(-γ/2 ||w' - w||^2)), got {arr.tolist()}")
    order = np.argsort(arr, kind="stable")
    arr = arr[order]
    if (np.diff(arr) == 0).any():
        raise ConfigError(f"gammas must be distinct, got {arr.tolist()}")
    return arr, order


def _check_steps(step_size: float | Sequence[float] | np.ndarray, order: np.ndarray
                 ) -> np.ndarray:
    """One step size per γ, permuted by ``order`` (the sorting of the given gammas)."""
    if isinstance(step_size, (int, float, np.floating)) and not isinstance(step_size, bool):
        return np.full(order.size, _check_float("step_size", step_size))
    try:
        arr = np.asarray(step_size, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"step_size must be a number or one number per gamma, got "
                          f"{step_size!r}") from exc
    if arr.size != order.size:
        raise ConfigError(f"step_size must be one number or one per gamma ({order.size}), got "
                          f"{arr.size} values")
    for v in arr:
        _check_float("step_size", float(v))
    return arr[order]


def _check_float(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)):
        raise ConfigError(f"{name} must be a positive number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be finite and > 0, got {value!r}")
    return value


def integrate_log_gamma(gammas: np.ndarray, sq_dist: np.ndarray, num_params: int, *,
                        tail: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thermodynamic integration of ``⟨‖w' − w‖²⟩`` curves (trapezoid in ``log γ``).

    Args:
        gammas: ``[K]`` ascending. sq_dist: ``[K, ...]`` (e.g. ``[K, C]``, one curve per chain).
        num_params: ``P``. tail: add ``½(γ_max m(γ_max) − P)`` for ``γ > γ_max``.

    Returns:
        ``(delta_log_z, phi_excess, tail)``: ``log Z(γ_k) − log Z(γ_max)`` and
        ``ΔΦ(γ_k) = Φ(γ_k) − Φ_flat(γ_k)``, both shaped like ``sq_dist``, and the tail term
        (shaped like ``sq_dist[-1]``).
    """
    g = np.asarray(gammas, dtype=np.float64)
    m = np.asarray(sq_dist, dtype=np.float64)
    u = np.log(g).reshape((-1,) + (1,) * (m.ndim - 1))
    f = g.reshape(u.shape) * m                      # γ m(γ): d log Z = −½ γ m d log γ
    du = np.diff(u, axis=0)
    pieces = 0.5 * du * (f[1:] + f[:-1])            # ∫ over [u_j, u_{j+1}]
    upper = np.zeros_like(m)
    upper[:-1] = np.flip(np.cumsum(np.flip(pieces, 0), 0), 0)   # ∫_{u_k}^{u_max} γ m d log γ
    delta_log_z = 0.5 * upper
    flat = num_params * (u[-1] - u)                 # the same integral for m = P/γ
    tail_term = 0.5 * (f[-1] - num_params) if tail else np.zeros_like(m[-1])
    phi_excess = 0.5 * (upper - flat) + tail_term
    return delta_log_z, phi_excess, tail_term


def step_coefficients(gamma: float, beta: float, eta: float, scheme: str
                      ) -> tuple[float, float, float]:
    """``(a, b, s)`` of one step ``w' ← w + a(w' − w) − b ĝ + s ξ`` (module docstring).

    ``"euler"``: ``a = 1 − ηκ``, ``b = η``, ``s = √(2η/β)`` with ``κ = γ/β``.
    ``"exponential"``: ``a = e^{−κη}``, ``b = (1 − a)/κ``, ``s = √((1 − a²)/(κβ))``.
    """
    kappa = gamma / beta
    if scheme == "euler":
        return 1.0 - eta * kappa, eta, math.sqrt(2.0 * eta / beta)
    one_minus_a = -math.expm1(-kappa * eta)
    return (1.0 - one_minus_a, one_minus_a / kappa,
            math.sqrt(-math.expm1(-2.0 * kappa * eta) / (kappa * beta)))


class _Chains:
    """Lock-step SGLD chains over the selected parameters (private)."""

    def __init__(self, model: nn.Module, loss_fn: LossFn, data: object, params: ParamSelection,
                 num_chains: int, batch_size: int | None, seed: int,
                 control_variate: bool = True) -> None:
        self.control_variate = bool(control_variate)
        self.u: dict[str, torch.Tensor] = {}
        self.v = 0.0
        if not callable(loss_fn):
            raise ConfigError("loss_fn must be callable as loss_fn(model(x), y)")
        check_reiterable(data)
        findings = stochastic_modules(model)
        if findings:
            raise NonDeterministicError(
                "the loss would not be a function of the weights, so the chains would not "
                "sample exp(-beta L): " + "; ".join(findings) + ". Call model.eval() first "
                "(BatchNorm then uses its stored running statistics, dropout is off)")
        self.names, tensors = select_parameters(model, params)
        self.shapes = [t.shape for t in tensors]
        self.sizes = [t.numel() for t in tensors]
        self.num_params = sum(self.sizes)
        self.device = tensors[0].device
        self.dtype = tensors[0].dtype if tensors[0].is_floating_point() \
            else torch.get_default_dtype()
        self.w = {n: t.detach().clone() for n, t in zip(self.names, tensors)}
        chosen = set(self.names)
        self.fixed = {n: p.detach() for n, p in model.named_parameters() if n not in chosen}
        self.fixed.update({n: b.detach() for n, b in model.named_buffers()})
        self.model, self.loss_fn = model, loss_fn
        self.data = data
        self.batches = list(iterate(data, self.device, self.dtype))
        if not self.batches:
            raise ConfigError("data holds no batch: pass one (x, y) batch or a non-empty "
                              "iterable of batches")
        self.num_data = sum(b.n for b in self.batches)
        self.num_chains = num_chains
        self.batch_size = batch_size
        if batch_size is not None:
            if batch_size > self.num_data:
                raise ConfigError(f"batch_size={batch_size} exceeds the {self.num_data} samples "
                                  "in data")
            xs, ys = [b.x for b in self.batches], [b.y for b in self.batches]
            if not all(isinstance(t, torch.Tensor) for t in xs + ys):
                raise ConfigError("batch_size (minibatch SGLD) needs tensor inputs and targets "
                                  "that can be concatenated and indexed")
            self.x_all, self.y_all = torch.cat(xs), torch.cat(ys)
        self.noise_gens = [torch_generator(seed, "local_entropy", "noise", c, device=self.device)
                           for c in range(num_chains)]
        self.init_gens = [torch_generator(seed, "local_entropy", "init", c, device=self.device)
                          for c in range(num_chains)]
        self.batch_gens = [torch_generator(seed, "local_entropy", "batch", c, device=self.device)
                           for c in range(num_chains)]
        self._fwd = vmap(self._loss, in_dims=(0, None, None))
        self._fwd_mb = vmap(self._loss, in_dims=(0, 0, 0))
        self._loop = vmap_is_slow(model, self.device)

    def _loss(self, p: dict[str, torch.Tensor], x: Any, y: Any) -> torch.Tensor:
        out = functional_call(self.model, {**self.fixed, **p}, (x,))
        return check_scalar_loss(self.loss_fn(out, y))

    def _losses(self, leaves: dict[str, torch.Tensor], x: Any, y: Any, per_chain: bool
                ) -> torch.Tensor:
        """``[C]`` losses of the chains, on shared ``x, y`` or (``per_chain``) on ``x[c], y[c]``."""
        if not self._loop:
            return (self._fwd_mb if per_chain else self._fwd)(leaves, x, y)
        return torch.stack([self._loss({n: t[c] for n, t in leaves.items()},
                                       x[c] if per_chain else x, y[c] if per_chain else y)
                            for c in range(self.num_chains)])

    def base(self) -> float:
        """``L(w)`` over the full data."""
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        with torch.no_grad():
            for b in self.batches:
                total += self._loss(self.w, b.x, b.y).to(torch.float64) * b.n
        value = float(total) / self.num_data
        if not math.isfinite(value):
            raise NonFiniteError(f"the loss at the reference weights is {value}; local entropy "
                                 "is undefined (check the model, the data and loss_fn)")
        return value

    def start(self, gamma: float) -> dict[str, torch.Tensor]:
        """Every chain drawn from ``N(w, I/γ)`` (the flat, large-γ limit) with its own stream
        ``(seed, "init", c)``: ``{name: [C, *shape]}``. The flat shadow chains ``u`` start at
        the same offsets, with known per-coordinate variance ``v = 1/γ``."""
        xi = self.noise(self.init_gens)
        self.u = {n: x / math.sqrt(gamma) for n, x in xi.items()}
        self.v = 1.0 / gamma
        return {n: t.unsqueeze(0) + self.u[n] for n, t in self.w.items()}

    def gradient(self, state: dict[str, torch.Tensor]
                 ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """``(ĝ, L̂)`` per chain: full-data or one fresh minibatch per chain."""
        leaves = {n: t.detach().requires_grad_(True) for n, t in state.items()}
        with torch.enable_grad():
            if self.batch_size is not None:
                idx = torch.stack([torch.randperm(self.num_data, generator=g,
                                                  device=self.device)[: self.batch_size]
                                   for g in self.batch_gens])
                value = self._losses(leaves, self.x_all[idx], self.y_all[idx], per_chain=True)
            else:
                value = sum(self._losses(leaves, b.x, b.y, per_chain=False) * (b.n / self.num_data)
                            for b in self.batches)
            # chain c's loss depends only on its own slice, so the gradient of the sum over
            # chains is every chain's own gradient (one backward pass for all chains)
            grads = torch.autograd.grad(value.sum(), list(leaves.values()))
        return dict(zip(leaves, grads)), value.detach()

    def noise(self, gens: list[torch.Generator] | None = None) -> dict[str, torch.Tensor]:
        """Standard normal ``{name: [C, *shape]}``, chain ``c`` from its own stream."""
        flat = torch.stack([torch.randn(self.num_params, generator=g, device=self.device,
                                        dtype=self.dtype)
                            for g in (self.noise_gens if gens is None else gens)])
        parts = torch.split(flat, self.sizes, dim=1)
        return {n: p.reshape(self.num_chains, *s)
                for n, p, s in zip(self.names, parts, self.shapes)}

    def sq_dist(self, state: dict[str, torch.Tensor], centre: bool = True) -> torch.Tensor:
        """``‖w'_c − w‖²`` (``‖u_c‖²`` with ``centre=False``) per chain, float64 ``[C]``."""
        total = torch.zeros(self.num_chains, dtype=torch.float64, device=self.device)
        for n, t in state.items():
            d = (t - self.w[n] if centre else t).to(torch.float64)
            total += d.reshape(self.num_chains, -1).pow(2).sum(1)
        return total

    def run(self, state: dict[str, torch.Tensor], gamma: float, beta: float, eta: float,
            scheme: str, steps: int, record: bool, bar: Any
            ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor, torch.Tensor]:
        """``steps`` SGLD steps at ``γ``; returns the new state and, if ``record``, ``[T, C]``
        float64 squared distances, centred shadow-chain values ``‖u‖² − P v`` (mean zero) and
        losses at the pre-step points (else empty)."""
        coupling = gamma / beta
        keep, drift, scale = step_coefficients(gamma, beta, eta, scheme)
        dists, shadows, losses = [], [], []
        for _ in range(steps):
            grads, value = self.gradient(state)
            if record:
                dists.append(self.sq_dist(state))
                shadows.append(self.sq_dist(self.u, centre=False) - self.num_params * self.v)
                losses.append(value.detach().to(torch.float64))
            xi = self.noise()
            state = {n: (self.w[n] + keep * (t - self.w[n]) - drift * grads[n] + scale * xi[n]
                         ).detach()
                     for n, t in state.items()}
            self.u = {n: keep * t + scale * xi[n] for n, t in self.u.items()}
            self.v = keep * keep * self.v + scale * scale
            if bar is not None:
                bar.update(1)
        finite = all(bool(torch.isfinite(t).all()) for t in state.values())
        if record:
            d, lo = torch.stack(dists).cpu(), torch.stack(losses).cpu()
            y = torch.stack(shadows).cpu()
            finite = finite and bool(torch.isfinite(d).all()) and bool(torch.isfinite(lo).all())
        else:
            d = lo = y = torch.empty(0, self.num_chains, dtype=torch.float64)
        if not finite:
            raise NonFiniteError(
                f"an SGLD chain became non-finite at gamma={gamma:g} (NaN or infinite loss or "
                f"weights); reduce step_size (stability needs about step_size * lambda_max(H) "
                f"< 2, and with scheme='euler' step_size * (lambda_max(H) + gamma/beta) < 2; "
                f"here gamma/beta = {coupling:g}) or check the model")
        return state, d, y, lo


def local_entropy(model: nn.Module, loss_fn: LossFn, data: object,
                  gammas: Sequence[float] | np.ndarray | torch.Tensor, *,
                  beta: float | None = None, num_chains: int = DEFAULT_NUM_CHAINS,
                  num_steps: int = DEFAULT_NUM_STEPS, burn_in: int = DEFAULT_BURN_IN,
                  step_size: float | Sequence[float] = DEFAULT_STEP_SIZE, tail: bool = True,
                  scheme: Scheme = "exponential", control_variate: bool = True, seed: int = 0,
                  batch_size: int | None = None, params: ParamSelection = None,
                  progress: bool = False, _checkpoint: StudyCheckpoint | None = None
                  ) -> LocalEntropyResult:
    """Local entropy ``ΔΦ(w, γ)`` by SGLD chains coupled to ``w`` (see the module docstring).

    Args:
        model: the network at the reference weights ``w``; never modified. Must be in eval mode
            (no train-mode dropout or BatchNorm: the loss must be a function of the weights).
        loss_fn: ``loss_fn(model(x), y)`` returning the batch-mean loss as a scalar; it is
            called under ``torch.vmap`` over chains and differentiated by autograd.
        data: one batch ``(x, y, ...)`` or a re-iterable of batches (only the first two entries
            are used; batches are weighted by their size). It is read once and kept in memory
            (on the parameters' device) for the whole run.
        gammas: the couplings γ > 0, distinct, any order (results are sorted ascending). Span
            from ``γ_max ≫ β λ_max(H)`` (the Gaussian regime, where the tail term is small) down
            to the widths of interest; a few points per decade (trapezoid in ``log γ``).
        beta: the inverse temperature β of ``exp(−βL)``; ``None`` (default) uses ``N``, the
            number of samples in ``data`` (``βL`` is then the summed loss).
        num_chains: independent chains ``C`` (the standard errors are over chains). Default 8.
        num_steps: recorded steps per γ. Default 200.
        burn_in: discarded steps at the start of each γ (after the warm start). Default 200.
        step_size: the step ``η`` (a learning rate on the loss; with ``scheme="euler"`` the
            step is ``w' ← w' − η[ĝ + (γ/β)(w' − w)] + √(2η/β) ξ``): one number, or one per γ
            in the order of ``gammas``. Default 0.01. Keep ``η λ_max(H) ≪ 1``.
        tail: add the ``γ > γ_max`` tail ``½(γ_max m(γ_max) − P)`` to ΔΦ. Default ``True``.
        scheme: :data:`Scheme`, the discretisation: ``"exponential"`` (default; exact for the
            Gaussian coupling) or ``"euler"`` (Entropy-SGD's Euler–Maruyama step).
        control_variate: subtract a flat shadow chain driven by the same noise (module
            docstring): same expectation, much smaller variance when ``βH`` is small next to
            ``γ``. Default ``True``.
        seed: chain ``c`` draws from the streams ``(seed, "local_entropy", ·, c)``. Default 0.
        batch_size: ``None`` (default) for full-data gradients; an integer for minibatch SGLD
            with a fresh uniform minibatch (without replacement) per chain and step.
        params: which parameters the chains move (``None``: all trainable ones; a glob
            pattern, a list of names or a predicate on the name); the others stay at ``w``.
        progress: show a progress bar.
        _checkpoint: private; :func:`local_entropy_to_study` passes one to checkpoint the
            chains after every γ and to resume from it.

    Returns:
        :class:`LocalEntropyResult` (γ sorted ascending).

    Raises:
        ConfigError: bad gammas (empty, ≤ 0, non-finite, repeated), beta, step_size, scheme,
            counts, batch_size, data or loss shape.
        NonDeterministicError: dropout or BatchNorm in train mode.
        NonFiniteError: the loss at ``w`` is NaN or infinite, or a chain diverged.

    Example:
        >>> model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double().eval()
        >>> x, y = torch.randn(16, 3, dtype=torch.float64), torch.randint(0, 2, (16,))
        >>> r = local_entropy(model, nn.CrossEntropyLoss(), (x, y), [100.0, 10.0], beta=16.0,
        ...                   num_chains=2, num_steps=5, burn_in=5)
        >>> r.gammas.tolist(), r.sq_dist_chains.shape, r.phi_excess.shape
        ([10.0, 100.0], (2, 2), (2,))
    """
    gam, order = check_gammas(gammas)
    num_chains = check_positive("num_chains", num_chains)
    num_steps = check_positive("num_steps", num_steps)
    if isinstance(burn_in, bool) or int(burn_in) != burn_in or burn_in < 0:
        raise ConfigError(f"burn_in must be a non-negative integer, got {burn_in!r}")
    burn_in = int(burn_in)
    etas = _check_steps(step_size, order)
    check_choice("scheme", scheme, ("exponential", "euler"))
    if batch_size is not None:
        batch_size = check_positive("batch_size", batch_size)
    chains = _Chains(model, loss_fn, data, params, num_chains, batch_size, int(seed),
                     control_variate)
    b = float(chains.num_data) if beta is None else _check_float("beta", beta)
    base = chains.base()

    k = gam.size
    restored = _checkpoint.load(chains, k) if _checkpoint is not None else None
    if restored is None:
        rec = Records.empty(k, num_chains)
        state = chains.start(float(gam[-1]))
    else:
        rec, state = restored
    dist_chains, loss_chains, drift, cv_coef = rec.dist, rec.loss, rec.drift, rec.cv
    with tqdm(total=k * (burn_in + num_steps), desc="local entropy", disable=not progress,
              leave=False, initial=int(rec.done.sum()) * (burn_in + num_steps)) as bar:
        for i in range(k - 1, -1, -1):                     # anneal: large γ to small γ
            if rec.done[i]:
                continue
            g, eta = float(gam[i]), float(etas[i])
            if burn_in:
                state, *_ = chains.run(state, g, b, eta, scheme, burn_in, False, bar)
            state, d, y, lo = chains.run(state, g, b, eta, scheme, num_steps, True, bar)
            d_np, lo_np = d.numpy(), lo.numpy()
            if control_variate:
                y_np = y.numpy()
                cv_coef[i] = _cv_coefficient(d_np, y_np)
                d_np = d_np - cv_coef[i] * y_np
            dist_chains[i] = d_np.mean(0)
            loss_chains[i] = lo_np.mean(0)
            drift[i] = _drift(d_np)
            rec.done[i] = True
            if _checkpoint is not None:
                _checkpoint.save(rec, state, chains)

    dist_mean, dist_err = _mean_stderr(dist_chains)
    loss_mean, loss_err = _mean_stderr(loss_chains)
    dlz_chains, phi_chains, tail_chains = integrate_log_gamma(gam, dist_chains,
                                                              chains.num_params, tail=tail)
    dlz_mean, dlz_err = _mean_stderr(dlz_chains)
    phi_mean, phi_err = _mean_stderr(phi_chains)
    return LocalEntropyResult(
        gammas=gam, sq_dist_mean=dist_mean, sq_dist_stderr=dist_err,
        sq_dist_chains=dist_chains, sq_dist_drift=drift, loss_mean=loss_mean,
        loss_stderr=loss_err, loss_chains=loss_chains, delta_log_z=dlz_mean,
        delta_log_z_stderr=dlz_err, delta_log_z_chains=dlz_chains, phi_excess=phi_mean,
        phi_excess_stderr=phi_err, phi_excess_chains=phi_chains,
        phi_tail_chains=np.asarray(tail_chains, dtype=np.float64), base=base, beta=b,
        step_sizes=etas, scheme=scheme, control_variate=bool(control_variate),
        cv_coefficients=cv_coef,
        noise_scales=np.array([step_coefficients(float(g), b, float(e), scheme)[2]
                               for g, e in zip(gam, etas)]),
        num_chains=num_chains,
        num_steps=num_steps, burn_in=burn_in, num_params=chains.num_params,
        num_data=chains.num_data, seed=int(seed), tail=bool(tail),
        estimator="full_batch" if batch_size is None else "minibatch",
        integration="trapezoid_log_gamma", batch_size=batch_size)


def _cv_coefficient(d: np.ndarray, y: np.ndarray) -> float:
    """The variance-minimising coefficient ``c`` of ``d − c y`` from ``[T, C]`` records: the
    least-squares slope pooled over steps and chains, both centred per step across chains (so a
    transient drift of the means does not enter; over all records when ``C = 1``); 0 when ``y``
    does not vary."""
    axis = 1 if d.shape[1] > 1 else None
    dc = d - d.mean(axis=axis, keepdims=True)
    yc = y - y.mean(axis=axis, keepdims=True)
    yy = float((yc * yc).sum())
    return float((dc * yc).sum() / yy) if yy > 0 else 0.0


def _drift(d: np.ndarray) -> float:
    """(second-half − first-half mean) of ``[T, C]`` records over its stderr across chains."""
    t, c = d.shape
    if t < 2 or c < 2:
        return math.nan
    h = t // 2
    diff = d[t - h:].mean(0) - d[:h].mean(0)
    se = diff.std(ddof=1) / math.sqrt(c)
    if se == 0:
        return 0.0 if diff.mean() == 0 else math.copysign(math.inf, diff.mean())
    return float(diff.mean() / se)


@writes_study("path")
def local_entropy_to_study(path: str | os.PathLike[str], run: str, name: str, model: nn.Module,
                           loss_fn: LossFn, data: object,
                           gammas: Sequence[float] | np.ndarray | torch.Tensor, *,
                           overwrite: bool = False, **kwargs: Any) -> LocalEntropyResult:
    """:func:`local_entropy`, stored under ``runs/<run>/measurements/<name>`` in a study file,
    checkpointed after every γ and resumable.

    The chains are warm-started from one γ to the next, so after every γ the chains themselves
    (and their random streams) are checkpointed into the measurement's group along with the
    per-γ records (:mod:`~landscape.flatness._entropy_checkpoint`); a killed job called again with
    the same arguments continues with the next γ, never recomputes a finished one, and ends with
    the same numbers as an uninterrupted run (same machine and thread count). The complete result
    then replaces the checkpoint; a later call with the same settings, γ values and model weights
    reads it instead of recomputing. Other settings under the same name raise
    :class:`~landscape.errors.StoreError` unless ``overwrite``.

    Args:
        path, run, name: the study file, the run, and the measurement's name.
        overwrite: recompute and replace a stored result (or checkpoint) made with other
            settings.
        **kwargs: the keyword options of :func:`local_entropy`.
    """
    import json

    from landscape.errors import StoreError
    from landscape.store import Study, load_result, param_hash, save_result
    from landscape.store._schema import MEASUREMENTS
    from landscape.store.study import write_attrs

    settings = json.dumps({"gammas": check_gammas(gammas)[0].tolist(),
                           "param_hash": param_hash(model),
                           **{k: v for k, v in sorted(kwargs.items()) if k != "progress"}},
                          sort_keys=True, default=str)
    with Study(path, "r") as study:
        group = study.run(run).get(MEASUREMENTS)
        found = group is not None and name in group
        same = found and group[name].attrs.get("settings") == settings
        if same and not group[name].attrs.get("partial", False):
            return load_result(group[name], LocalEntropyResult)
        if found and not same and not overwrite:
            raise StoreError(f"measurement {name!r} of run {run!r} was made with other "
                             "settings, γ values or weights; use another name or overwrite")
    if not same:
        with Study(path, "a") as study:
            parent = study.run(run).require_group(MEASUREMENTS)
            if name in parent:
                del parent[name]
            write_attrs(parent.create_group(name), {"settings": settings,
                                                    "kind": "local_entropy", "partial": True})
    result = local_entropy(model, loss_fn, data, gammas,
                           _checkpoint=StudyCheckpoint(path, run, name), **kwargs)
    with Study(path, "a") as study:
        save_result(study.run(run).require_group(MEASUREMENTS), name, result,
                    attrs={"settings": settings, "kind": "local_entropy",
                           "device": str(next(model.parameters()).device)})
    return result
