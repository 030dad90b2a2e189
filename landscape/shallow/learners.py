r"""Baseline learners beside fBP: γ-cross-entropy SGD, the clipped perceptron, simulated annealing.

All three return the same :class:`~landscape.shallow.results.LearnerResult` as
:func:`~landscape.shallow.fbp.focusing_bp`, draw every random number from
:func:`landscape._seeding.numpy_rng` (reproducible from ``seed``, no global state), and
**recompute** ``errors``/``solved`` from the returned weights with
:func:`~landscape.shallow.models.num_errors` (a learner's own bookkeeping is never trusted).
``LearnerResult.settings`` holds the learner's settings as JSON (provenance).

* :func:`gamma_ce_sgd`: SGD on the γ-cross-entropy :math:`\sum_\mu f_\gamma(x^\mu)`
  (:mod:`landscape.shallow.losses`) of continuous weights. With ``binary=True`` (default, binary
  problems) continuous hidden states are trained through their signs (straight-through) and the
  returned weights are the signs, whose errors are reported; with ``binary=False`` (the spherical
  perceptron) the weights stay on the sphere :math:`|w_k|^2 = N` and are returned as they are.
  :math:`\gamma` follows a schedule over the epochs:
  ``"anneal"`` (geometric from ``gamma_min`` to ``gamma_max``, the slow annealing that PNAS 2020
  says leads to wide flat minima), ``"jump"`` (``gamma_max`` from the first epoch, the contrast),
  or an explicit array. Perceptron stability :math:`x = \sigma\,w\cdot\xi/\sqrt N`; for the fully
  connected committee machine (odd ``K``) the loss acts on the soft output
  :math:`x = \sigma\,K^{-1/2}\sum_k\tanh(w_k\cdot\xi/\sqrt N)` (a smooth surrogate of the majority
  vote chosen here, not taken from the paper), and the binary solution is the majority machine of
  the signs.
* :func:`clipped_perceptron`: the clipped perceptron rule (CP, Baldassi et al. PNAS 2007) for
  binary weights :math:`w_i = \operatorname{sign}(h_i)` with odd integer hidden states
  :math:`h_i \in [-H, H]`: a misclassified pattern adds :math:`2\sigma\xi_i` to every
  :math:`h_i` (clipped to ``±H``); with ``reinforce_prob > 0`` a correctly classified pattern of
  small stability (:math:`\sigma w\cdot\xi \le` ``margin``) updates, with that probability, only
  the states that already agree with it (:math:`w_i\sigma\xi_i = 1`) — the CP+R/SBPI idea, from
  memory (``research/baldassi.md`` cites the rule but not its details). Perceptron only (``K=1``).
* :func:`simulated_annealing`: single-flip Metropolis on the number of training errors (perceptron
  or committee machine) with an exponential temperature schedule ``T0 → T1`` over ``sweeps``
  sweeps of ``N K`` proposals; the fields are kept up to date so that one proposal costs O(P).

Example:
    >>> from landscape.shallow import random_patterns
    >>> from landscape.shallow.learners import clipped_perceptron, gamma_ce_sgd
    >>> xi, labels = random_patterns(201, 40, seed=0)
    >>> gamma_ce_sgd(xi, labels, epochs=100, seed=0).solved
    True
    >>> clipped_perceptron(xi, labels, seed=0).errors
    0
"""

from __future__ import annotations

import json
import time
from typing import Any, Literal

import numpy as np

from landscape._seeding import numpy_rng
from landscape.errors import ConfigError, NonFiniteError
from landscape.shallow._bp_core import check_instance
from landscape.shallow.losses import cross_entropy_gamma_grad
from landscape.shallow.models import num_errors
from landscape.shallow.results import LearnerResult

__all__ = ["clipped_perceptron", "gamma_ce_schedule", "gamma_ce_sgd", "simulated_annealing"]

GammaSchedule = Literal["anneal", "jump"]


def _check_K(K: int) -> None:
    if K != 1 and (K < 3 or K % 2 == 0):
        raise ConfigError(f"K must be 1 (perceptron) or odd >= 3 (committee machine), got K={K}")


def _errors(w: np.ndarray, xi: np.ndarray, labels: np.ndarray) -> int:
    machine = "perceptron" if w.ndim == 1 else "committee"
    return int(num_errors(w, xi, labels, machine=machine))


def _result(w, xi, labels, *, start, algorithm, protocol, iterations, steps, K, seed,
            settings: dict[str, Any]) -> LearnerResult:
    if not np.all(np.isfinite(w)):
        raise NonFiniteError(f"{algorithm}: the weights became non-finite")
    errors = _errors(w, xi, labels)  # recomputed from the returned weights, never assumed
    P, N = xi.shape
    return LearnerResult(
        weights=w, solved=errors == 0, errors=errors, iterations=int(iterations),
        seconds=time.perf_counter() - start, algorithm=algorithm, protocol=protocol,
        steps=int(steps), K=int(K), N=int(N), P=int(P), seed=int(seed),
        settings=json.dumps(settings, sort_keys=True))


# -- γ-cross-entropy SGD ---------------------------------------------------------------------------
def gamma_ce_schedule(schedule: GammaSchedule | np.ndarray | list[float], epochs: int,
                      gamma_min: float, gamma_max: float) -> np.ndarray:
    """γ per epoch: ``"anneal"`` (geometric ``gamma_min → gamma_max``), ``"jump"`` (constant
    ``gamma_max``) or an explicit array of ``epochs`` positive values."""
    if epochs < 1:
        raise ConfigError(f"epochs must be >= 1, got {epochs}")
    if isinstance(schedule, str):
        if not 0 < gamma_min <= gamma_max:
            raise ConfigError(f"need 0 < gamma_min <= gamma_max (got {gamma_min}, {gamma_max})")
        if schedule == "anneal":
            return np.geomspace(gamma_min, gamma_max, epochs)
        if schedule == "jump":
            return np.full(epochs, float(gamma_max))
        raise ConfigError(f"unknown gamma_schedule {schedule!r}; use 'anneal', 'jump' or an array")
    g = np.asarray(schedule, dtype=np.float64)
    if g.shape != (epochs,) or not np.all(np.isfinite(g) & (g > 0)):
        raise ConfigError(f"an explicit gamma_schedule must hold {epochs} positive finite values")
    return g


def gamma_ce_sgd(
    xi: np.ndarray,
    labels: np.ndarray,
    *,
    K: int = 1,
    gamma_schedule: GammaSchedule | np.ndarray | list[float] = "anneal",
    gamma_min: float = 0.5,
    gamma_max: float = 20.0,
    lr: float | None = None,
    epochs: int = 300,
    batch_size: int = 10,
    seed: int = 0,
    binary: bool = True,
    stop_at_zero: bool = False,
    init_scale: float = 0.1,
) -> LearnerResult:
    r"""SGD on the γ-cross-entropy of continuous weights, γ raised along a schedule.

    Spherical (``binary=False``): one step on a minibatch :math:`B` is
    :math:`w \leftarrow w - \eta\sqrt N\,\nabla_w\sum_{\mu\in B} f_\gamma(x^\mu)`, then each
    :math:`w_k` is rescaled to :math:`|w_k|^2 = N` (for the perceptron the step is
    :math:`\eta\sum_B |f'_\gamma(x^\mu)|\,\sigma^\mu\xi^\mu`, the perceptron rule at
    :math:`\eta = 1`, :math:`\gamma\to\infty`). Binary (default): hidden states
    :math:`h\in[-1,1]^N`, the stabilities are those of :math:`\operatorname{sign}(h)` and the
    same gradient, divided by :math:`\sqrt N`, is applied to :math:`h` (straight-through /
    BinaryConnect; clipped to ``[-1, 1]``). Patterns are reshuffled every epoch. Measured at
    ``N = 201`` (300 epochs): binary solves ``alpha = 0.3`` but typically not ``0.5``, so it is a
    baseline for the annealing contrast, not a competitive solver.

    Args:
        xi: Patterns ``[P, N]``. labels: ±1 ``[P]``.
        K: 1 (perceptron) or odd ``K >= 3`` (committee machine, see the module doc).
        gamma_schedule: ``"anneal"``, ``"jump"`` or an array of ``epochs`` values.
        gamma_min, gamma_max: Range of the named schedules.
        lr: Step size :math:`\eta` (default 0.5 binary, 0.05 spherical; larger spherical steps
            stall at ``N = 201``). epochs: Passes over the data. batch_size: Minibatch size.
        seed: Seed of the initial weights and of the shuffling.
        binary: Binary weights (straight-through on hidden states) instead of continuous
            spherical weights.
        stop_at_zero: Stop at the end of the first epoch whose (returned-type) weights have no
            training error; by default the whole γ schedule is run (a CE minimiser, not the first
            solution met).
        init_scale: Hidden states start uniform in ``±init_scale`` (binary mode).

    Returns:
        :class:`LearnerResult` (``protocol`` = the schedule name, ``iterations`` = epochs run,
        ``steps`` = SGD steps).
    """
    _check_K(K)
    if lr is None:
        lr = 0.5 if binary else 0.05
    if not lr > 0 or batch_size < 1:
        raise ConfigError(f"need lr > 0 and batch_size >= 1 (got {lr}, {batch_size})")
    gammas = gamma_ce_schedule(gamma_schedule, epochs, gamma_min, gamma_max)
    xi0, labels0 = check_instance(xi, labels)
    xi = labels0[:, None] * xi0  # labels absorbed (gauge sigma xi -> xi, K odd)
    P, N = xi.shape
    start = time.perf_counter()
    rng = numpy_rng(seed, "gamma_ce_sgd")
    shape = (N,) if K == 1 else (K, N)
    sq = np.sqrt(N)
    if binary:  # hidden states in [-1, 1], the forward pass uses their signs (BinaryConnect)
        w = rng.uniform(-init_scale, init_scale, size=shape)
    else:
        w = rng.standard_normal(shape)
        w *= sq / np.linalg.norm(w, axis=-1, keepdims=True)

    def returned(w: np.ndarray) -> np.ndarray:
        return np.where(w > 0, 1.0, -1.0) if binary else w.copy()

    steps = epochs_run = 0
    for epoch, gamma in enumerate(gammas):
        order = numpy_rng(seed, "gamma_ce_sgd", "epoch", epoch).permutation(P)
        for b in range(0, P, batch_size):
            A = xi[order[b:b + batch_size]]  # [B, N], sigma xi
            v = np.where(w > 0, 1.0, -1.0) if binary else w
            if K == 1:
                x = A @ v / sq
                coef = -cross_entropy_gamma_grad(x, gamma)  # |f'| in (0, 1)
                step = coef @ A
            else:
                h = A @ v.T / sq  # [B, K]
                t = np.tanh(h)
                x = t.sum(axis=1) / np.sqrt(K)
                coef = -cross_entropy_gamma_grad(x, gamma)[:, None] * (1 - t * t) / np.sqrt(K)
                step = coef.T @ A
            if binary:
                w = np.clip(w + (lr / sq) * step, -1.0, 1.0)
            else:
                w = w + lr * step
                w *= sq / np.linalg.norm(w, axis=-1, keepdims=True)
            steps += 1
        epochs_run += 1
        if not np.all(np.isfinite(w)):
            raise NonFiniteError("gamma_ce_sgd: the weights became non-finite")
        if stop_at_zero and _errors(returned(w), xi, np.ones(P)) == 0:
            break
    protocol = gamma_schedule if isinstance(gamma_schedule, str) else "custom"
    settings = {"gamma_schedule": protocol, "gamma_min": float(gammas.min()),
                "gamma_max": float(gammas.max()), "gamma_final": float(gammas[epochs_run - 1]),
                "lr": float(lr), "epochs": int(epochs), "batch_size": int(batch_size),
                "binary": bool(binary), "stop_at_zero": bool(stop_at_zero),
                "init_scale": float(init_scale)}
    return _result(returned(w), xi0, labels0, start=start, algorithm="gamma_ce_sgd",
                   protocol=protocol, iterations=epochs_run, steps=steps, K=K, seed=seed,
                   settings=settings)


# -- clipped perceptron ----------------------------------------------------------------------------
def clipped_perceptron(
    xi: np.ndarray,
    labels: np.ndarray,
    *,
    max_epochs: int = 1000,
    hidden_max: int = 15,
    reinforce_prob: float = 0.0,
    margin: float = 0.0,
    seed: int = 0,
) -> LearnerResult:
    r"""Clipped perceptron (CP) for binary perceptron weights, optionally with reinforcement.

    Patterns are presented one at a time in a fresh random order each epoch; the run stops at the
    end of the first epoch with zero training errors.

    Args:
        xi: Patterns ``[P, N]`` (``N`` odd for ±1 patterns). labels: ±1 ``[P]``.
        max_epochs: Maximum passes over the patterns.
        hidden_max: Clip ``H`` of the odd integer hidden states (odd, >= 1; ``H = 1`` makes the
            rule flip every wrong-signed weight of a misclassified pattern).
        reinforce_prob: Probability of the reinforcing update on a correct pattern whose
            stability :math:`\sigma w\cdot\xi/\sqrt N` is ``<= margin`` (0: plain CP).
        margin: Stability threshold of that update.
        seed: Seed of the initial states and of the presentation order.
    """
    if max_epochs < 1 or hidden_max < 1 or hidden_max % 2 == 0:
        raise ConfigError(f"need max_epochs >= 1 and an odd hidden_max >= 1 (got {max_epochs}, "
                          f"{hidden_max})")
    if not 0 <= reinforce_prob <= 1 or margin < 0:
        raise ConfigError("need 0 <= reinforce_prob <= 1 and margin >= 0")
    xi0, labels0 = check_instance(xi, labels)
    xi = labels0[:, None] * xi0  # labels absorbed (gauge sigma xi -> xi, K odd)
    P, N = xi.shape
    start = time.perf_counter()
    rng = numpy_rng(seed, "clipped_perceptron")
    h = 2.0 * rng.integers(0, 2, size=N) - 1.0  # odd states ±1, never 0
    w = np.sign(h)
    theta = margin * np.sqrt(N)
    epochs = updates = 0
    for epoch in range(max_epochs):
        if np.all(xi @ w > 0):
            break
        erng = numpy_rng(seed, "clipped_perceptron", "epoch", epoch)
        order = erng.permutation(P)
        coins = erng.random(P) < reinforce_prob
        for mu in order:
            a = xi[mu]
            s = a @ w
            if s <= 0:
                h = np.clip(h + 2.0 * a, -hidden_max, hidden_max)
            elif s <= theta and coins[mu]:
                h = np.clip(h + 2.0 * a * (a * w > 0), -hidden_max, hidden_max)
            else:
                continue
            w = np.sign(h)
            updates += 1
        epochs += 1
    settings = {"max_epochs": int(max_epochs), "hidden_max": int(hidden_max),
                "reinforce_prob": float(reinforce_prob), "margin": float(margin)}
    return _result(w, xi0, labels0, start=start, algorithm="clipped_perceptron",
                   protocol="cp+r" if reinforce_prob > 0 else "cp", iterations=epochs,
                   steps=updates, K=1, seed=seed, settings=settings)


# -- simulated annealing ---------------------------------------------------------------------------
def simulated_annealing(
    xi: np.ndarray,
    labels: np.ndarray,
    *,
    K: int = 1,
    sweeps: int = 1000,
    T0: float = 2.0,
    T1: float = 0.05,
    seed: int = 0,
) -> LearnerResult:
    r"""Single-flip Metropolis on the number of training errors, exponential cooling.

    Temperature of sweep ``t``: :math:`T_t = T_0 (T_1/T_0)^{t/(\mathrm{sweeps}-1)}`; a sweep is
    ``N K`` proposals at uniformly random weights. Pre-activations :math:`\sigma\,w_k\cdot\xi`
    are kept for all patterns, so a proposal costs O(P): for the perceptron
    :math:`\Delta E = \#\{F_\mu - 2w_i a_{\mu i} \le 0\} - \#\{F_\mu \le 0\}`; for the committee
    machine only hidden unit ``k`` changes and the majority is recounted (O(K P)). Stops at zero
    errors.

    Args:
        xi: Patterns ``[P, N]``. labels: ±1 ``[P]``.
        K: 1 (perceptron) or odd ``K >= 3`` (committee machine, weights ``[K, N]``).
        sweeps: Maximum number of sweeps. T0, T1: Initial and final temperature (in errors).
        seed: Seed of the initial weights, the proposals and the acceptance draws.

    Returns:
        :class:`LearnerResult` with ``iterations`` = sweeps run and ``steps`` = accepted flips.
    """
    _check_K(K)
    if sweeps < 1 or not 0 < T1 <= T0:
        raise ConfigError(f"need sweeps >= 1 and 0 < T1 <= T0 (got {sweeps}, {T0}, {T1})")
    xi0, labels0 = check_instance(xi, labels)
    xi = labels0[:, None] * xi0  # labels absorbed (gauge sigma xi -> xi, K odd)
    N = xi.shape[1]
    start = time.perf_counter()
    rng = numpy_rng(seed, "simulated_annealing")
    w = 2.0 * rng.integers(0, 2, size=(K, N)) - 1.0
    cols = np.ascontiguousarray(xi.T)  # [N, P]: column i contiguous
    F = w @ xi.T  # [K, P] sigma w_k . xi
    temps = T0 * (T1 / T0) ** (np.arange(sweeps) / max(sweeps - 1, 1))

    def energy_of(F: np.ndarray) -> np.ndarray:  # wrong patterns, bool [P]
        if K == 1:
            return F[0] <= 0
        return np.where(F > 0, 1, -1).sum(axis=0) <= 0

    wrong = energy_of(F)
    E = int(wrong.sum())
    accepted = done = 0
    n = K * N
    for t in range(sweeps):
        if E == 0:
            break
        srng = numpy_rng(seed, "simulated_annealing", "sweep", t)
        sites = srng.integers(0, n, size=n)
        logu = np.log(srng.random(n)) * temps[t]  # accept iff -dE >= T log u
        for site, lu in zip(sites.tolist(), logu.tolist()):
            k, i = divmod(site, N)
            newF_k = F[k] - 2.0 * w[k, i] * cols[i]
            if K == 1:
                new_wrong = newF_k <= 0
            else:
                votes = np.where(F > 0, 1, -1).sum(axis=0) - np.where(F[k] > 0, 1, -1) \
                    + np.where(newF_k > 0, 1, -1)
                new_wrong = votes <= 0
            dE = int(new_wrong.sum()) - E
            if dE <= 0 or -dE >= lu:
                F[k] = newF_k
                w[k, i] = -w[k, i]
                E += dE
                accepted += 1
                if E == 0:
                    break
        done += 1
    weights = w[0] if K == 1 else w
    settings = {"sweeps": int(sweeps), "T0": float(T0), "T1": float(T1)}
    return _result(weights, xi0, labels0, start=start, algorithm="simulated_annealing",
                   protocol="exponential", iterations=done, steps=accepted, K=K, seed=seed,
                   settings=settings)
