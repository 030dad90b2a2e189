r"""Replicated and entropic gradient descent on the γ-cross-entropy of continuous weights.

* :func:`replicated_gd`: ``y`` replicas of continuous weights each doing minibatch gradient
  descent on the γ-cross-entropy plus :math:`\tfrac{c}{2}|w^a - \bar w|^2`, the centre
  :math:`\bar w` being the replica mean and the coupling scoped upward,
  :math:`c(t) = c_0(1+c_1)^t` (the rSGD of Pittorino et al., ICLR 2021, §5 of the notes).
* :func:`entropic_gd`: Entropy-SGD (Chaudhari et al. 2017, §4.5 of the notes) on the same loss: an
  inner Langevin loop on :math:`w'` coupled to the outer variable :math:`x`, whose running
  average :math:`\mu` drives the outer step :math:`x \leftarrow x - \eta\, c\,(x - \mu)`.

Both keep the weights of each perceptron / hidden unit on the sphere :math:`|w_k|^2 = N`
(``binary=False``, the default) or train hidden states in ``[-1, 1]`` through their signs
(``binary=True``, the straight-through scheme of :func:`~landscape.shallow.learners.gamma_ce_sgd`)
and return the signs of the centre. For odd ``K >= 3`` the loss acts on the same smooth
surrogate of the majority vote as ``gamma_ce_sgd``,
:math:`x = \sigma K^{-1/2}\sum_k \tanh(w_k\cdot\xi/\sqrt N)`. Every random number comes from
:func:`landscape._seeding.numpy_rng`; ``errors``/``solved`` are recounted from the returned
weights. Re-exported by :mod:`landscape.shallow.replicated`.

Example:
    >>> from landscape.shallow import random_patterns
    >>> from landscape.shallow.continuous_replicas import replicated_gd
    >>> xi, labels = random_patterns(101, 30, seed=0)
    >>> replicated_gd(xi, labels, binary=True, seed=0).solved
    True
"""

from __future__ import annotations

import time
from typing import Literal

import numpy as np

from landscape._seeding import numpy_rng
from landscape.errors import ConfigError, NonFiniteError
from landscape.shallow._bp_core import check_instance
from landscape.shallow._least_action import (
    check_K,
    finish,
    sign,
    squeeze,
)
from landscape.shallow.losses import cross_entropy_gamma_grad
from landscape.shallow.models import spherical
from landscape.shallow.results import LearnerResult

__all__ = ["entropic_gd", "replicated_gd"]

Formula = Literal["simple", "corrected", "hard", "continuous"]
_FORMULAS = ("simple", "corrected", "hard", "continuous")


# -- continuous weights: shared helpers -----------------------------------------------------------
def _ce_step(w: np.ndarray, A: np.ndarray, gamma: float, binary: bool) -> np.ndarray:
    r"""Descent direction of the γ-CE of the minibatches ``A[R, B, N]`` (labels absorbed) for the
    weights ``w[R, K, N]``: :math:`-\sqrt N\,\nabla_w\sum_{\mu\in B} f_\gamma(x^\mu)` (spherical),
    or that divided by :math:`\sqrt N` with the forward pass on :math:`\operatorname{sign}(w)`
    (binary, straight-through), exactly the step of ``gamma_ce_sgd``."""
    K, N = w.shape[-2:]
    sq = np.sqrt(N)
    v = sign(w) if binary else w
    h = np.einsum("rkn,rbn->rbk", v, A) / sq
    if K == 1:
        coef = -cross_entropy_gamma_grad(h, gamma)  # |f'| in (0, 1), [R, B, 1]
    else:
        t = np.tanh(h)
        x = t.sum(axis=-1) / np.sqrt(K)
        coef = -cross_entropy_gamma_grad(x, gamma)[..., None] * (1 - t * t) / np.sqrt(K)
    step = np.einsum("rbk,rbn->rkn", coef, A)
    return step / sq if binary else step


def _project(w: np.ndarray, binary: bool) -> np.ndarray:
    """Hidden states clipped to ``[-1, 1]`` (binary) or each row put on the sphere ``|w|^2 = N``."""
    if binary:
        return np.clip(w, -1.0, 1.0)
    return w * (np.sqrt(w.shape[-1]) / np.linalg.norm(w, axis=-1, keepdims=True))


def _init(rng: np.random.Generator, shape: tuple[int, ...], binary: bool,
          init_scale: float) -> np.ndarray:
    if binary:
        return rng.uniform(-init_scale, init_scale, size=shape)
    return _project(rng.standard_normal(shape), False)


def _returned(center: np.ndarray, binary: bool, K: int) -> np.ndarray:
    """The weights handed back: signs of the centre (binary) or the centre on the sphere."""
    w = sign(center) if binary else spherical(center)
    return squeeze(w, K)


def _check_continuous(K: int, y: int, gamma: float, lr: float, batch_size: int, epochs: int,
                      coupling0: float, coupling_rate: float) -> None:
    check_K(K)
    if y < 1 or batch_size < 1 or epochs < 1:
        raise ConfigError(f"need y >= 1, batch_size >= 1, epochs >= 1 (got {y}, {batch_size}, "
                          f"{epochs})")
    if not (gamma > 0 and lr > 0 and coupling0 >= 0 and coupling_rate >= 0):
        raise ConfigError("need gamma > 0, lr > 0, coupling0 >= 0, coupling_rate >= 0")


def _solved(center: np.ndarray, a: np.ndarray, binary: bool) -> bool:
    """Zero errors of the returned centre on the label-absorbed patterns ``a``."""
    v = sign(center) if binary else center
    votes = np.where(np.einsum("kn,pn->pk", v, a) > 0, 1, -1).sum(axis=-1)
    return bool(np.all(votes > 0))


# -- replicated gradient descent -------------------------------------------------------------------
def replicated_gd(
    xi: np.ndarray,
    labels: np.ndarray,
    *,
    K: int = 1,
    y: int = 3,
    gamma: float = 5.0,
    lr: float | None = None,
    coupling0: float = 0.05,
    coupling_rate: float = 1e-3,
    epochs: int = 300,
    batch_size: int = 10,
    binary: bool = False,
    stop_at_zero: bool = False,
    init_scale: float = 0.1,
    seed: int = 0,
) -> LearnerResult:
    r"""Replicated minibatch GD on the γ-cross-entropy of continuous weights (rSGD, ICLR 2021).

    ``y`` replicas :math:`w^a` (independent random starts), each with its own reshuffled
    minibatches, take the step

    .. math::
        w^a \leftarrow \Pi\Bigl[w^a - \eta\sqrt N\,\nabla\!\sum_{\mu\in B_a} f_\gamma(x^\mu_a)
        - \min(\eta\,c(t), 1)\,(w^a - \bar w)\Bigr],\qquad
        \bar w = \frac1y\sum_b w^b,\quad c(t) = c_0(1+c_1)^t,

    i.e. gradient descent on :math:`\sqrt N\sum_B f_\gamma + \tfrac{c}{2}|w^a - \bar w|^2` with the
    centre held fixed during the step (the coupling step is capped at 1: a replica never overshoots
    the centre). :math:`t` counts minibatch steps, :math:`\Pi` is the projection of
    :func:`landscape.shallow.models.spherical` (or the clip to ``[-1, 1]`` of the binary hidden
    states, whose forward pass uses their signs, as :func:`~landscape.shallow.learners.gamma_ce_sgd`
    with ``binary=True``). The CE step is exactly ``gamma_ce_sgd``'s, so ``lr`` means the same.

    Defaults: ``y = 3`` (the low end of the 3–5 replicas of ICLR 2021, recalled in
    ``research/baldassi.md`` §5); :math:`c_0 = 0.05`, :math:`c_1 = 10^{-3}` per step (inside the
    recalled ranges :math:`c_0 \sim 10^{-4}`–:math:`10^{-2}` ×, :math:`c_1 \sim
    10^{-4}`–:math:`10^{-3}`, with :math:`c_0` raised because our CE step is :math:`\sqrt N` larger
    than a mean loss's); ``gamma = 5`` (a fixed CE inverse temperature, within the 0.5–20 range of
    ``gamma_ce_sgd``'s schedule); ``lr``, ``epochs``, ``batch_size`` and ``init_scale`` as
    ``gamma_ce_sgd``. These were chosen on ``N = 201`` instances, not taken from a paper.

    Args:
        xi: Patterns ``[P, N]``. labels: ±1 ``[P]``.
        K: 1 (perceptron) or odd ``K >= 3`` (fully connected committee, soft-majority loss).
        y: Number of replicas. gamma: CE inverse temperature :math:`\gamma` (fixed).
        lr: Step :math:`\eta` (default 0.05 spherical, 0.5 binary).
        coupling0, coupling_rate: :math:`c_0` and :math:`c_1` of the coupling schedule.
        epochs: Passes over the data (every replica sees every pattern once per epoch).
        batch_size: Minibatch size. binary: Binary weights (straight-through hidden states).
        stop_at_zero: Stop after the first epoch whose centre has no training error.
        init_scale: Hidden states start uniform in ``±init_scale`` (binary).
        seed: Seed of the starts and of the shuffling.

    Returns:
        :class:`LearnerResult` with the centre (on the sphere, or its signs if ``binary``);
        ``iterations`` = epochs run, ``steps`` = minibatch steps (per replica).
    """
    if lr is None:
        lr = 0.5 if binary else 0.05
    _check_continuous(K, y, gamma, lr, batch_size, epochs, coupling0, coupling_rate)
    xi0, labels0 = check_instance(xi, labels)
    a = labels0[:, None] * xi0
    P, N = a.shape
    start = time.perf_counter()
    w = _init(numpy_rng(seed, "replicated_gd", "init"), (y, K, N), binary, init_scale)
    steps = epochs_run = 0
    for epoch in range(epochs):
        erng = numpy_rng(seed, "replicated_gd", "epoch", epoch)
        perms = np.stack([erng.permutation(P) for _ in range(y)])  # [y, P]
        for b in range(0, P, batch_size):
            c = coupling0 * (1.0 + coupling_rate) ** steps
            wbar = w.mean(axis=0)
            step = _ce_step(w, a[perms[:, b:b + batch_size]], gamma, binary)
            w = _project(w + lr * step - min(lr * c, 1.0) * (w - wbar), binary)
            steps += 1
        epochs_run += 1
        if not np.all(np.isfinite(w)):
            raise NonFiniteError("replicated_gd: the weights became non-finite")
        if stop_at_zero and _solved(w.mean(axis=0), a, binary):
            break
    settings = {"y": int(y), "gamma": float(gamma), "lr": float(lr), "coupling0": float(coupling0),
                "coupling_rate": float(coupling_rate), "epochs": int(epochs),
                "batch_size": int(batch_size), "binary": bool(binary),
                "stop_at_zero": bool(stop_at_zero), "init_scale": float(init_scale),
                "coupling_final": float(coupling0 * (1.0 + coupling_rate) ** max(steps - 1, 0))}
    return finish(_returned(w.mean(axis=0), binary, K), xi0, labels0,
                  machine="perceptron" if K == 1 else "committee", start=start,
                  algorithm="replicated_gd", protocol="scoping", iterations=epochs_run,
                  steps=steps, K=K, seed=seed, settings=settings)


# -- Entropy-SGD -----------------------------------------------------------------------------------
def entropic_gd(
    xi: np.ndarray,
    labels: np.ndarray,
    *,
    K: int = 1,
    gamma: float = 5.0,
    lr: float | None = None,
    outer_lr: float = 1.0,
    inner_steps: int = 5,
    noise: float = 1e-4,
    average: float = 0.75,
    coupling0: float = 0.5,
    coupling_rate: float = 1e-3,
    epochs: int = 300,
    batch_size: int = 10,
    binary: bool = False,
    stop_at_zero: bool = False,
    init_scale: float = 0.1,
    seed: int = 0,
) -> LearnerResult:
    r"""Entropy-SGD (Chaudhari et al. 2017) on the γ-cross-entropy of continuous weights.

    Outer variable :math:`x`; each outer step sets :math:`w' = \mu = x` and runs ``inner_steps``
    (``L``) Langevin steps, each on a fresh minibatch :math:`B`,

    .. math::
        w' \leftarrow \Pi\Bigl[w' - \eta'\sqrt N\,\nabla\!\sum_{\mu\in B} f_\gamma
        - \min(\eta' c, 1)\,(w' - x) + \epsilon\sqrt{\eta'}\,z\Bigr],\quad
        \mu \leftarrow (1 - \alpha)\mu + \alpha w',

    (:math:`z \sim \mathcal N(0, I)`), then moves along the local-entropy gradient
    :math:`c\,(x - \mu)`: :math:`x \leftarrow \Pi[x - \min(\eta c, 1)(x - \mu)]`, with the
    coupling scoped upward per outer step, :math:`c(t) = c_0(1+c_1)^t` (``research/baldassi.md``
    §4.5). :math:`\Pi` and the CE step are those of :func:`replicated_gd`. Minibatches are drawn
    by passes over reshuffled patterns; an epoch is one pass of the inner loop (``L`` times the
    gradient evaluations of one outer step).

    Defaults: ``inner_steps`` (``L = 5``), ``noise`` (``ε = 1e-4``, the ports' default),
    ``average`` (``α = 0.75``, Chaudhari's running average), ``outer_lr = 1`` (the ports' outer
    ``lr``), :math:`c_1 = 10^{-3}` (inside the recalled range); :math:`c_0 = 0.5` rather than the
    ports' 0.01–0.03 because our CE step is :math:`\sqrt N` larger than a mean loss's and because
    the outer step here carries the factor :math:`c` (the ports drop it), so a small :math:`c_0`
    would freeze :math:`x`; ``gamma``, ``lr``, ``epochs``, ``batch_size`` as :func:`replicated_gd`.

    Args:
        xi: Patterns ``[P, N]``. labels: ±1 ``[P]``.
        K: 1 (perceptron) or odd ``K >= 3`` (fully connected committee, soft-majority loss).
        gamma: CE inverse temperature (fixed). lr: Inner step :math:`\eta'` (default 0.05
            spherical, 0.5 binary). outer_lr: Outer step :math:`\eta`.
        inner_steps: ``L``. noise: Langevin noise :math:`\epsilon`. average: :math:`\alpha`.
        coupling0, coupling_rate: :math:`c_0`, :math:`c_1`.
        epochs: Passes of the inner loop over the data. batch_size: Minibatch size.
        binary: Binary weights (straight-through hidden states, signs returned).
        stop_at_zero: Stop after the first epoch whose :math:`x` has no training error.
        init_scale: Hidden states start uniform in ``±init_scale`` (binary).
        seed: Seed of the start, the shuffling and the Langevin noise.

    Returns:
        :class:`LearnerResult` with :math:`x` (on the sphere, or its signs); ``iterations`` =
        epochs run, ``steps`` = outer steps.
    """
    if lr is None:
        lr = 0.5 if binary else 0.05
    _check_continuous(K, 1, gamma, lr, batch_size, epochs, coupling0, coupling_rate)
    if inner_steps < 1 or not (outer_lr > 0 and noise >= 0 and 0 < average <= 1):
        raise ConfigError("need inner_steps >= 1, outer_lr > 0, noise >= 0, 0 < average <= 1")
    xi0, labels0 = check_instance(xi, labels)
    a = labels0[:, None] * xi0
    P, N = a.shape
    start = time.perf_counter()
    x = _init(numpy_rng(seed, "entropic_gd", "init"), (1, K, N), binary, init_scale)
    wp, mu = x.copy(), x.copy()
    outer = inner = epochs_run = 0
    for epoch in range(epochs):
        erng = numpy_rng(seed, "entropic_gd", "epoch", epoch)
        perm = erng.permutation(P)
        for b in range(0, P, batch_size):
            c = coupling0 * (1.0 + coupling_rate) ** outer
            step = _ce_step(wp, a[perm[b:b + batch_size]][None], gamma, binary)
            kick = noise * np.sqrt(lr) * erng.standard_normal(wp.shape) if noise > 0 else 0.0
            wp = _project(wp + lr * step - min(lr * c, 1.0) * (wp - x) + kick, binary)
            mu = (1.0 - average) * mu + average * wp
            inner += 1
            if inner % inner_steps == 0:
                x = _project(x - min(outer_lr * c, 1.0) * (x - mu), binary)
                wp, mu = x.copy(), x.copy()
                outer += 1
        epochs_run += 1
        if not np.all(np.isfinite(x)):
            raise NonFiniteError("entropic_gd: the weights became non-finite")
        if stop_at_zero and _solved(x[0], a, binary):
            break
    settings = {"gamma": float(gamma), "lr": float(lr), "outer_lr": float(outer_lr),
                "inner_steps": int(inner_steps), "noise": float(noise), "average": float(average),
                "coupling0": float(coupling0), "coupling_rate": float(coupling_rate),
                "epochs": int(epochs), "batch_size": int(batch_size), "binary": bool(binary),
                "stop_at_zero": bool(stop_at_zero), "init_scale": float(init_scale),
                "coupling_final": float(coupling0 * (1.0 + coupling_rate) ** max(outer - 1, 0))}
    return finish(_returned(x[0], binary, K), xi0, labels0,
                  machine="perceptron" if K == 1 else "committee", start=start,
                  algorithm="entropic_gd", protocol="scoping", iterations=epochs_run,
                  steps=outer, K=K, seed=seed, settings=settings)
