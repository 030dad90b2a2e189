r"""Replicated SGD for binary perceptrons and committee machines (Baldassi et al., PNAS 2016).

Follows ``BinaryCommitteeMachineRSGD.jl`` (``research/baldassi.md`` §4.2): ``y`` replicas with
continuous hidden variables :math:`H^a` and binary weights :math:`J^a = \operatorname{sign}(H^a)`;
each replica in turn takes a least-action minibatch step, then is *kicked* towards the centre,
whose field :math:`H_c = \frac1y\sum_a J^a` (the centre traced out) or an explicit central
replica (``center=True``) couples the replicas. Every random number comes from
:func:`landscape._seeding.numpy_rng`; ``errors``/``solved`` are recounted from the returned
weights. Re-exported by :mod:`landscape.shallow.replicated`.

Example:
    >>> from landscape.shallow import random_patterns
    >>> from landscape.shallow.rsgd import replicated_sgd
    >>> xi, labels = random_patterns(101, 60, seed=0)
    >>> res = replicated_sgd(xi, labels, K=3, y=5, batch=20, seed=0)
    >>> res.solved, res.weights.shape
    (True, (3, 101))
"""

from __future__ import annotations

import time
from typing import Literal

import numpy as np

from landscape._seeding import numpy_rng
from landscape.errors import ConfigError, NonFiniteError
from landscape.shallow._bp_core import check_instance
from landscape.shallow._least_action import (
    Wiring,
    check_K,
    finish,
    least_action_mask,
    sign,
    squeeze,
)
from landscape.shallow.results import LearnerResult

__all__ = ["Formula", "replicated_sgd"]

Formula = Literal["simple", "corrected", "hard", "continuous"]
_FORMULAS = ("simple", "corrected", "hard", "continuous")


# -- replicated SGD (binary committee machines) ---------------------------------------------------
def _center_force(Hc: np.ndarray, scale: float, formula: Formula) -> np.ndarray:
    """The centre term of the traced kick: ``tanh``/hardtanh of ``scale * Hc``, or ``Hc``."""
    if formula == "continuous":
        return Hc
    if np.isinf(scale):
        return np.sign(Hc)
    z = scale * Hc
    return np.clip(z, -1.0, 1.0) if formula == "hard" else np.tanh(z)


def replicated_sgd(
    xi: np.ndarray,
    labels: np.ndarray,
    *,
    K: int = 1,
    y: int = 7,
    eta: float = 2.0,
    lam: float = 0.75,
    gamma: float = 0.05,
    gamma_step: float = 0.001,
    eta_factor: float = 1.0,
    lam_factor: float = 1.0,
    batch: int = 80,
    formula: Formula = "simple",
    center: bool = False,
    init_equal: bool = False,
    waitcenter: bool = False,
    max_epochs: int = 1000,
    tree: bool = False,
    seed: int = 0,
) -> LearnerResult:
    r"""Replicated SGD for binary perceptrons and committee machines (PNAS 2016).

    Each replica :math:`a = 1..y` holds hidden variables :math:`H^a` (``[K, n]``, initialised to
    random ±1) and weights :math:`J^a = \operatorname{sign}(H^a)`. One epoch runs
    :math:`\lceil P/B\rceil` sub-epochs; in each, the replicas are visited in a fresh random order
    and replica :math:`a`

    1. takes a **least-action minibatch step** on its next ``batch`` patterns (its own
       permutation, one pass per epoch): for every pattern :math:`\mu` it misclassifies, the
       :math:`(1 - \sigma^\mu h_\mathrm{out})/2` hidden units of the wrong sign with the
       smallest :math:`|h_k|` get :math:`\Delta H_k \mathrel{+}= \eta\,\sigma^\mu\xi^\mu`
       (fields of the minibatch are computed once, before the step; vectorised over its
       patterns);
    2. is **kicked** towards the centre. With the centre traced out (``center=False``) its
       field is :math:`H_c = \frac1y\sum_b J^b` and

       * ``"simple"`` (eq. C7 of PNAS 2016 per the reference docstring):
         :math:`H^a \mathrel{+}= \lambda\,[\tanh(\gamma y H_c) - J^a]`,
       * ``"corrected"`` (eq. C9): :math:`\lambda\,[\tanh(\gamma y H_c) - \tanh(\gamma y)\,J^a]`,
       * ``"hard"``: ``tanh`` replaced by the hard tanh :math:`\max(-1, \min(1, \cdot))`,
       * ``"continuous"``: :math:`\lambda\,[H_c - J^a]`;

       then :math:`H_c` is updated with the replica's new signs. With ``center=True`` an explicit
       central replica :math:`H_c` (random ±1 start) and symmetric kicks
       :math:`\delta = (J_c - J^a)/2`, :math:`H^a \mathrel{+}= \lambda\delta`,
       :math:`H_c \mathrel{-}= \lambda\delta` are used (``formula`` is then ignored).

    After each epoch :math:`\eta \mathrel{*}= \eta_f`, :math:`\lambda \mathrel{*}= \lambda_f`,
    :math:`\gamma \mathrel{+}= \gamma_\mathrm{step}`, and the run stops when the centre
    :math:`\operatorname{sign}(H_c)` has zero training errors, or (``waitcenter=False``) any
    replica has.

    The replica loop is sequential (Gauss–Seidel in a random order, as the reference: each kick
    sees the replicas already moved); the minibatch step, the kick and the error counts (all
    replicas at once) are vectorised. Deviation from the reference: non-±1 patterns are used as
    they are (the reference binarises them with ``x > 0``).

    Defaults: ``eta`` (2), ``eta_factor``, ``lam_factor`` (1), ``max_epochs`` (1000), ``K`` (1),
    ``waitcenter`` (false), ``center`` (false) and ``formula`` are the reference's;
    ``y = 7``, ``batch = 80``, ``lam = 0.75``, ``gamma = 0.05``, ``gamma_step = 0.001`` are its
    documented good configuration (``K = 5``, ``N = 321``, :math:`\alpha = 0.5`) and its test
    settings (the reference's own defaults ``y = 1``, ``lam = 0.1``, ``gamma = inf``,
    ``gamma_step = 0.01``, ``batch = 5`` are "mostly not sensible", its docstring says);
    ``init_equal`` is false (the reference defaults to true; both solve its test instance).

    Args:
        xi: Patterns ``[P, N]`` (±1 with odd ``N``, or real). labels: ±1 ``[P]``.
        K: 1 (perceptron) or odd ``K >= 3``. y: Number of replicas (>= 1; odd avoids ties of
            the traced centre). eta: Step of the least-action update. lam: Step of the kick
            (``η′`` of the paper). gamma: Initial coupling (``inf``: ``tanh -> sign``).
        gamma_step: Added to ``gamma`` after each epoch. eta_factor, lam_factor: Multiply
            ``eta`` and ``lam`` after each epoch. batch: Minibatch size.
        formula: Kick with the centre traced out (see above).
        center: Use an explicit central replica instead of tracing it out.
        init_equal: Start every replica from the same random configuration.
        waitcenter: Only stop when the centre solves the instance.
        max_epochs: Maximum number of epochs.
        tree: Tree committee machine (unit ``k`` sees inputs ``k*N/K .. (k+1)*N/K - 1``;
            weights ``[K, N // K]``) instead of the fully connected one.
        seed: Seed of the initial weights, the permutations and the replica orders.

    Returns:
        :class:`LearnerResult`: ``weights`` = the centre :math:`\operatorname{sign}(H_c)`
        (``[N]`` for ``K = 1``, ``[K, N]`` or ``[K, N // K]`` otherwise), except when the run
        ended on a replica (``waitcenter=False``) while the centre still errs: then the first
        replica with zero errors (``settings["returned"]`` says which); ``iterations`` = epochs,
        ``steps`` = replica minibatch steps.
    """
    check_K(K)
    if formula not in _FORMULAS:
        raise ConfigError(f"unknown formula {formula!r}; use one of {', '.join(_FORMULAS)}")
    if y < 1 or batch < 1 or max_epochs < 0:
        raise ConfigError(f"need y >= 1, batch >= 1, max_epochs >= 0 (got {y}, {batch}, "
                          f"{max_epochs})")
    if not (eta > 0 and lam >= 0 and gamma >= 0 and eta_factor > 0 and lam_factor >= 0):
        raise ConfigError("need eta > 0, lam >= 0, gamma >= 0, eta_factor > 0, lam_factor >= 0")
    xi0, labels0 = check_instance(xi, labels)
    start = time.perf_counter()
    wiring = Wiring(labels0[:, None] * xi0, K, tree)
    P = wiring.P
    rng = numpy_rng(seed, "replicated_sgd", "init")
    shape = wiring.shape

    def random_pm1(*lead: int) -> np.ndarray:
        return 2.0 * rng.integers(0, 2, size=(*lead, *shape)) - 1.0

    Hc = random_pm1() if (center or init_equal) else None
    H = np.repeat(Hc[None], y, axis=0) if init_equal else random_pm1(y)  # [y, K, n]
    J = sign(H)
    if center:
        Jc = sign(Hc)
    else:
        S = J.sum(axis=0)  # sum of the replicas' signs: exact integers, H_c = S / y
        Jc = sign(S)
    err_c = int(wiring.errors(Jc))
    errs = wiring.errors(J)
    done = err_c == 0 or (not waitcenter and bool(np.any(errs == 0)))
    sub_epochs = -(-P // batch)
    epochs = steps = 0
    eta_t, lam_t, gamma_t = float(eta), float(lam), float(gamma)
    while not done and epochs < max_epochs:
        erng = numpy_rng(seed, "replicated_sgd", "epoch", epochs)
        perms = np.stack([erng.permutation(P) for _ in range(y)])  # one pass per replica
        corr = 1.0 if formula != "corrected" or np.isinf(gamma_t) else np.tanh(gamma_t * y)
        for s in range(sub_epochs):
            for a in erng.permutation(y):
                idx = perms[a, s * batch:(s + 1) * batch]
                J_old = J[a].copy()
                mask = least_action_mask(wiring.fields(J_old, idx))
                H[a] += eta_t * wiring.accumulate(mask, idx)
                J_a = sign(H[a])
                if center:
                    if lam_t > 0:
                        delta = 0.5 * (Jc - J_a)
                        H[a] += lam_t * delta
                        Hc -= lam_t * delta
                        Jc = sign(Hc)
                else:
                    force = _center_force(S / y, gamma_t * y, formula)
                    H[a] += lam_t * (force - corr * J_a)
                J[a] = sign(H[a])
                if not center:
                    S += J[a] - J_old
                steps += 1
        epochs += 1
        if not np.all(np.isfinite(H)):
            raise NonFiniteError("replicated_sgd: the hidden variables became non-finite")
        if not center:
            Jc = sign(S)
        err_c = int(wiring.errors(Jc))
        errs = wiring.errors(J)
        done = err_c == 0 or (not waitcenter and bool(np.any(errs == 0)))
        eta_t *= eta_factor
        lam_t *= lam_factor
        gamma_t += gamma_step
    returned = "center"
    weights = Jc
    if err_c != 0 and not waitcenter and np.any(errs == 0):
        r = int(np.flatnonzero(errs == 0)[0])
        returned, weights = f"replica {r}", J[r]
    settings = {"y": int(y), "eta": float(eta), "lam": float(lam), "gamma": float(gamma),
                "gamma_step": float(gamma_step), "eta_factor": float(eta_factor),
                "lam_factor": float(lam_factor), "batch": int(batch), "formula": formula,
                "center": bool(center), "init_equal": bool(init_equal),
                "waitcenter": bool(waitcenter), "max_epochs": int(max_epochs), "tree": bool(tree),
                "returned": returned, "gamma_final": float(gamma_t - gamma_step * (epochs > 0))}
    return finish(squeeze(weights, K), xi0, labels0, machine=wiring.machine(), start=start,
                  algorithm="replicated_sgd", protocol="center" if center else formula,
                  iterations=epochs, steps=steps, K=K, seed=seed, settings=settings)


