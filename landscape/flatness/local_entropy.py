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

This module holds the result and :func:`local_entropy`; the argument checks, the step kernel and
the chains are in :mod:`landscape.flatness._sgld`, the estimators from the chains' records in
:mod:`landscape.flatness._entropy_estimators`, the per-γ checkpoint's arrays in
:mod:`landscape.flatness._entropy_checkpoint`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from landscape._checkpoint import Checkpoint
from landscape._progress import progress as progress_bar
from landscape.errors import ConfigError
from landscape.flatness._entropy_checkpoint import Records, pack, unpack
from landscape.flatness._entropy_estimators import (
    _cv_coefficient,
    _drift,
    _mean_stderr,
    ci,
    integrate_log_gamma,
)
from landscape.flatness._evaluate import LossFn
from landscape.flatness._sgld import (
    _Chains,
    _check_float,
    _check_steps,
    check_gammas,
    step_coefficients,
)
from landscape.forward import Forward
from landscape.hessian._checks import check_choice, check_positive
from landscape.hessian._data import ParamSelection
from landscape.hessian._results import ArraysMixin

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
        return ci(self.phi_excess, self.phi_excess_stderr, self.num_chains, level)

    def delta_log_z_ci(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """``(low, high)`` ``[K]``: the Student-t interval of ``log Z(γ) − log Z(γ_max)``."""
        return ci(self.delta_log_z, self.delta_log_z_stderr, self.num_chains, level)

    def sq_dist_ci(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """``(low, high)`` ``[K]``: the Student-t interval of ``⟨‖w' − w‖²⟩_γ``."""
        return ci(self.sq_dist_mean, self.sq_dist_stderr, self.num_chains, level)


def local_entropy(model: nn.Module, loss_fn: LossFn, data: object,
                  gammas: Sequence[float] | np.ndarray | torch.Tensor, *,
                  beta: float | None = None, num_chains: int = DEFAULT_NUM_CHAINS,
                  num_steps: int = DEFAULT_NUM_STEPS, burn_in: int = DEFAULT_BURN_IN,
                  step_size: float | Sequence[float] = DEFAULT_STEP_SIZE, tail: bool = True,
                  scheme: Scheme = "exponential", control_variate: bool = True, seed: int = 0,
                  batch_size: int | None = None, params: ParamSelection = None,
                  progress: bool = False, checkpoint: Checkpoint | None = None,
                  forward: Forward | str | None = None, process_group: Any = "auto"
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
        forward: structured batches, ``forward(model, batch) -> (outputs, targets)``
            (:mod:`landscape.forward`); a batch weighs ``len(targets)``; full-data gradients
            only (``batch_size=None``), one evaluation per chain.
        checkpoint: where to keep the chains, their random streams and the records after
            every γ (:class:`~landscape._checkpoint.Checkpoint`); a call with the same arguments
            and checkpoint continues with the next γ and ends bit-identical to an
            uninterrupted run on the same machine and thread count.
        process_group: data parallelism (:mod:`landscape.distributed`): ``"auto"`` (default)
            treats ``data`` as this rank's shard when a process group is initialised and
            all-reduces the chains' losses and gradients (full-data gradients only), so every
            rank gets the single-process result; ``None`` turns it off.

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
                     control_variate, forward=forward, process_group=process_group)
    b = float(chains.num_data) if beta is None else _check_float("beta", beta)
    base = chains.base()

    k = gam.size
    saved = checkpoint.load() if checkpoint is not None else None
    restored = unpack(saved, chains, k) if saved is not None else None
    if restored is None:
        rec = Records.empty(k, num_chains)
        state = chains.start(float(gam[-1]))
    else:
        rec, state = restored
    dist_chains, loss_chains, drift, cv_coef = rec.dist, rec.loss, rec.drift, rec.cv
    with progress_bar(total=k * (burn_in + num_steps), desc="local entropy", unit="step",
                      quiet=not progress, initial=int(rec.done.sum()) * (burn_in + num_steps)
                      ) as bar:
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
            if checkpoint is not None:
                checkpoint.save(pack(rec, state, chains))

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
