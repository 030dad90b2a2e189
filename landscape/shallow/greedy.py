r"""Greedy learners for binary committee machines: least-action learning and an entropic variant.

Both train binary weights :math:`J = \operatorname{sign}(H)` through continuous hidden variables
``H`` (random ±1 start, as in ``BinaryCommitteeMachineRSGD.jl``), draw every random number from
:func:`landscape._seeding.numpy_rng`, and return a
:class:`~landscape.shallow.results.LearnerResult` whose ``errors``/``solved`` are recounted from
the returned weights.

* :func:`least_action`: least-action learning (Nilsson 1965; Mitchison & Durbin 1989), the
  committee-machine rule inside replicated SGD (``research/baldassi.md`` §4.2) without replicas:
  for every misclassified pattern, move the :math:`(1 - \sigma h_\mathrm{out})/2` wrong hidden
  units with the smallest :math:`|h_k|` by :math:`\eta\sigma\xi`. For ``K = 1`` it is the
  perceptron rule on the hidden variables.
* :func:`entropic_least_action`: **our** entropy-driven variant ("eLAL"). The PNAS 2020 rule is
  not sourced (``research/baldassi.md`` §4.4 flags it as the weakest item), so this is a
  documented substitute, not the paper's algorithm: the same least-action rule, but a pattern
  counts as learnt only if a majority of hidden units have a *normalised* field above a margin
  :math:`\kappa`, and :math:`\kappa` is raised step by step (scoping) each time the current
  margin is met. See its docstring for the rationale.

Example:
    >>> from landscape.shallow import random_patterns
    >>> from landscape.shallow.greedy import entropic_least_action, least_action
    >>> xi, labels = random_patterns(101, 30, seed=0)
    >>> least_action(xi, labels, seed=0).solved
    True
    >>> res = entropic_least_action(xi, labels, seed=0)
    >>> res.solved, res.weights.shape
    (True, (101,))
"""

from __future__ import annotations

import time

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

__all__ = ["entropic_least_action", "least_action"]


class _State:
    """Hidden variables ``H[K, n]``, weights ``J = sign(H)`` and the least-action pass."""

    def __init__(self, wiring: Wiring, rng: np.random.Generator, eta: float, batch: int,
                 hidden_max: float | None) -> None:
        self.wiring, self.eta, self.batch, self.hidden_max = wiring, eta, batch, hidden_max
        self.H = 2.0 * rng.integers(0, 2, size=wiring.shape) - 1.0
        self.J = sign(self.H)
        self.updates = 0

    def epoch(self, perm: np.ndarray, threshold: float) -> None:
        """One pass over ``perm`` in minibatches (``batch = 1``: online), fields of a minibatch
        computed before its update."""
        w = self.wiring
        for b in range(0, perm.size, self.batch):
            idx = perm[b:b + self.batch]
            mask = least_action_mask(w.fields(self.J, idx), threshold)
            if not mask.any():
                continue
            self.H += self.eta * w.accumulate(mask, idx)
            if self.hidden_max is not None:
                np.clip(self.H, -self.hidden_max, self.hidden_max, out=self.H)
            self.J = sign(self.H)
            self.updates += 1
        if not np.all(np.isfinite(self.H)):
            raise NonFiniteError("least-action learning: the hidden variables became non-finite")

    def unsatisfied(self, threshold: float) -> int:
        """Patterns without a majority of hidden fields above ``threshold``."""
        h = self.wiring.fields(self.J)
        return int(np.sum((h > threshold).sum(axis=-1) < (self.wiring.K + 1) // 2))


def _check(K: int, eta: float, batch: int, max_epochs: int, hidden_max: float | None) -> None:
    check_K(K)
    if not eta > 0 or batch < 1 or max_epochs < 0:
        raise ConfigError(f"need eta > 0, batch >= 1, max_epochs >= 0 (got {eta}, {batch}, "
                          f"{max_epochs})")
    if hidden_max is not None and not hidden_max > 0:
        raise ConfigError(f"hidden_max must be positive or None, got {hidden_max}")


def least_action(
    xi: np.ndarray,
    labels: np.ndarray,
    *,
    K: int = 1,
    eta: float = 2.0,
    batch: int = 1,
    max_epochs: int = 1000,
    hidden_max: float | None = None,
    tree: bool = False,
    seed: int = 0,
) -> LearnerResult:
    r"""Least-action learning of binary weights for the perceptron and committee machines.

    Patterns are presented in a fresh random order each epoch, in minibatches of ``batch``
    (default 1: online, the classical rule). For a misclassified pattern :math:`\mu` (labels
    absorbed, :math:`a = \sigma\xi`, fields :math:`h_k = J_k\cdot a`), the
    :math:`(K + 1)/2 - \#\{k: h_k > 0\}` hidden units with :math:`h_k \le 0` and the smallest
    :math:`|h_k|` (the least change that fixes the output) get :math:`H_k \mathrel{+}= \eta a`;
    ``K = 1`` is the perceptron rule :math:`H \mathrel{+}= \eta\sigma\xi`. The run stops at the end
    of the first epoch with zero training errors. This is replicated SGD with ``y = 1``,
    ``lam = 0`` (:func:`~landscape.shallow.replicated.replicated_sgd`) at ``batch = 1``.

    Defaults: ``eta = 2`` and the ±1 start of ``H`` are the rSGD reference's; ``max_epochs = 1000``
    as there; no clipping of ``H`` (``hidden_max=None``; a finite clip gives the clipped perceptron
    of :func:`~landscape.shallow.learners.clipped_perceptron` for ``K = 1``, ``eta = 2``).

    Args:
        xi: Patterns ``[P, N]``. labels: ±1 ``[P]``.
        K: 1 (perceptron) or odd ``K >= 3`` (majority output).
        eta: Step. batch: Minibatch size. max_epochs: Maximum passes over the patterns.
        hidden_max: Clip ``|H| <= hidden_max`` (``None``: no clip).
        tree: Tree committee (disjoint receptive fields, weights ``[K, N // K]``).
        seed: Seed of the start and of the presentation orders.

    Returns:
        :class:`LearnerResult` (``iterations`` = epochs, ``steps`` = minibatches that updated).
    """
    _check(K, eta, batch, max_epochs, hidden_max)
    xi0, labels0 = check_instance(xi, labels)
    start = time.perf_counter()
    wiring = Wiring(labels0[:, None] * xi0, K, tree)
    state = _State(wiring, numpy_rng(seed, "least_action", "init"), eta, batch, hidden_max)
    epochs = 0
    while epochs < max_epochs and int(wiring.errors(state.J)) > 0:
        state.epoch(numpy_rng(seed, "least_action", "epoch", epochs).permutation(wiring.P), 0.0)
        epochs += 1
    settings = {"eta": float(eta), "batch": int(batch), "max_epochs": int(max_epochs),
                "hidden_max": hidden_max, "tree": bool(tree)}
    return finish(squeeze(state.J, K), xi0, labels0, machine=wiring.machine(), start=start,
                  algorithm="least_action", protocol="online" if batch == 1 else "minibatch",
                  iterations=epochs, steps=state.updates, K=K, seed=seed, settings=settings)


def entropic_least_action(
    xi: np.ndarray,
    labels: np.ndarray,
    *,
    K: int = 1,
    eta: float = 2.0,
    batch: int = 1,
    kappa_step: float = 0.05,
    kappa_max: float = 1.0,
    patience: int = 50,
    max_epochs: int = 1000,
    hidden_max: float | None = None,
    tree: bool = False,
    seed: int = 0,
) -> LearnerResult:
    r"""Entropy-driven least-action learning with a scoped robustness margin (our eLAL).

    **What this is.** The PNAS 2020 "entropic least action learning" rule could not be sourced
    (``research/baldassi.md`` §4.4); this function is a reasoned substitute and is **not**
    claimed to be the paper's rule. It runs the least-action rule of :func:`least_action` with a
    margin: with :math:`n` inputs per hidden unit (``N``, or ``N/K`` for a tree), a hidden unit is
    satisfied on pattern :math:`\mu` when :math:`h_k^\mu/\sqrt n > \kappa`, a pattern is learnt
    when a majority :math:`(K+1)/2` of its units are satisfied, and for every pattern that is not,
    the missing number of unsatisfied units with the **largest** field (least action) get
    :math:`H_k \mathrel{+}= \eta\sigma\xi`. At :math:`\kappa = 0` this is exactly
    :func:`least_action`.

    **Schedule (scoping).** :math:`\kappa` starts at 0. At the end of every epoch, if every pattern
    is learnt at the current :math:`\kappa`, the configuration is recorded (it has zero training
    errors) and :math:`\kappa` is raised by ``kappa_step``. The run stops when :math:`\kappa` would
    exceed ``kappa_max``, when ``patience`` epochs pass without meeting the current margin after a
    solution has been recorded, or at ``max_epochs``. The **last recorded** configuration (the
    largest margin reached) is returned, or the final one if none was recorded.

    **Why.** Flipping a fraction :math:`p` of the ±1 weights of a unit moves its normalised field
    by a roughly Gaussian amount of standard deviation :math:`2\sqrt p`; a solution whose
    majority fields exceed :math:`\kappa` therefore keeps (almost) zero training error for
    :math:`p \ll \kappa^2/4`, i.e. it has a low local energy and sits inside a wide region of
    solutions (large local entropy at small distance). Raising :math:`\kappa` gradually, like the
    coupling :math:`\gamma` in focusing BP or replicated SGD, first finds a solution and then
    drives the search towards the interior of the solution space instead of stopping at its
    border, where the first solution of plain least-action learning typically lies. Robust
    (large-margin) solutions of binary perceptrons are known to lie in wide flat minima (Baldassi
    et al., arXiv 2107.01163, abstract); that is the "entropic" bias here.

    Defaults: ``eta``, ``batch``, ``max_epochs``, ``hidden_max`` as :func:`least_action`;
    ``kappa_step = 0.05``, ``kappa_max = 1`` (above any margin reachable at the loads of interest),
    ``patience = 50`` were chosen on ``N = 201`` instances, not taken from a paper.

    Args:
        xi: Patterns ``[P, N]``. labels: ±1 ``[P]``.
        K: 1 (perceptron) or odd ``K >= 3`` (majority output).
        eta: Step. batch: Minibatch size (1: online).
        kappa_step: Margin increment after each epoch that meets the current margin.
        kappa_max: Largest margin tried.
        patience: Epochs allowed to meet a raised margin once a solution is recorded.
        max_epochs: Maximum passes over the patterns.
        hidden_max: Clip ``|H| <= hidden_max`` (``None``: no clip).
        tree: Tree committee (weights ``[K, N // K]``).
        seed: Seed of the start and of the presentation orders.

    Returns:
        :class:`LearnerResult`; ``settings["kappa_reached"]`` is the margin of the returned
        weights (``null`` if no solution was recorded), ``steps`` = minibatches that updated.
    """
    _check(K, eta, batch, max_epochs, hidden_max)
    if not (kappa_step > 0 and kappa_max >= 0) or patience < 1:
        raise ConfigError("need kappa_step > 0, kappa_max >= 0 and patience >= 1")
    xi0, labels0 = check_instance(xi, labels)
    start = time.perf_counter()
    wiring = Wiring(labels0[:, None] * xi0, K, tree)
    state = _State(wiring, numpy_rng(seed, "entropic_least_action", "init"), eta, batch,
                   hidden_max)
    scale = np.sqrt(wiring.n)
    level, best, best_kappa, waited, epochs = 0, None, None, 0, 0
    while True:
        kappa = level * kappa_step
        if state.unsatisfied(kappa * scale) == 0:  # margin met: record, then tighten
            best, best_kappa, waited = state.J.copy(), kappa, 0
            if (level + 1) * kappa_step > kappa_max * (1 + 1e-12):
                break
            level += 1
            continue
        if epochs >= max_epochs or (best is not None and waited >= patience):
            break
        perm = numpy_rng(seed, "entropic_least_action", "epoch", epochs).permutation(wiring.P)
        state.epoch(perm, kappa * scale)
        epochs += 1
        waited += best is not None
    weights = state.J if best is None else best
    settings = {"eta": float(eta), "batch": int(batch), "kappa_step": float(kappa_step),
                "kappa_max": float(kappa_max), "patience": int(patience),
                "max_epochs": int(max_epochs), "hidden_max": hidden_max, "tree": bool(tree),
                "kappa_reached": None if best_kappa is None else float(best_kappa)}
    return finish(squeeze(weights, K), xi0, labels0, machine=wiring.machine(), start=start,
                  algorithm="entropic_least_action", protocol="margin_scoping",
                  iterations=epochs, steps=state.updates, K=K, seed=seed, settings=settings)

