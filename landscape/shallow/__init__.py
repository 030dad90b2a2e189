r"""Perceptrons and committee machines: losses, local entropy and energy, message-passing learners.

The statistical-physics half of the toolkit (Baldassi, Pittorino & Zecchina, PNAS 2020, and the
papers it builds on; sources and how well each fact is known: ``research/baldassi.md``).

Data: :func:`random_patterns`, :func:`teacher_patterns`, :func:`num_patterns` (``alpha = P/(N K)``).
Models: :func:`predict`, :func:`hidden_fields`, :func:`stabilities`, :func:`num_errors`,
:func:`training_error` (perceptron, committee, tree, parity).
Losses: :func:`error_loss`, :func:`cross_entropy_gamma` (and its derivatives).
Exact enumeration (``N <= 21``): :func:`enumerate_solutions`, :func:`exact_local_entropy`,
:func:`exact_marginals`.
Belief propagation: :func:`perceptron_bp`, :func:`local_entropy` → :class:`LocalEntropyResult`,
:func:`binary_entropy`.
Learners (all → :class:`LearnerResult`): :func:`focusing_bp` (perceptron and committee machine),
:func:`gamma_ce_sgd`, :func:`clipped_perceptron`, :func:`simulated_annealing`
(:mod:`landscape.shallow.learners`); :func:`replicated_sgd` (binary committee machines),
:func:`replicated_gd`, :func:`entropic_gd` (continuous weights; all three in
:mod:`landscape.shallow.replicated`); :func:`least_action`, :func:`entropic_least_action`
(:mod:`landscape.shallow.greedy`).
Storage: :func:`~landscape.store.shallow.save_solution` and friends; figures:
:mod:`landscape.shallow.plots`.
Flatness: :func:`local_energy` (random weight flips) → :class:`LocalEnergyResult`;
:func:`local_energy_gaussian` (multiplicative Gaussian noise, continuous weights) →
:class:`GaussianLocalEnergyResult`.

Example:
    >>> import numpy as np
    >>> from landscape.shallow import focusing_bp, local_energy, local_entropy, random_patterns
    >>> xi, labels = random_patterns(201, 80, seed=1)
    >>> sol = focusing_bp(xi, labels, seed=1)
    >>> sol.solved
    True
    >>> le = local_energy(sol.weights, xi, labels, [0.0, 0.05], num_samples=20, seed=0)
    >>> float(le.mean[0])
    0.0
    >>> S = local_entropy(sol.weights, xi, labels, couplings=np.array([2.0, 1.0]))
    >>> bool(np.all(S.entropy <= S.bound + 0.01))
    True
"""

from __future__ import annotations

from landscape.shallow.bp import (
    BPResult,
    LocalEntropyResult,
    binary_entropy,
    default_couplings,
    local_entropy,
    perceptron_bp,
)
from landscape.shallow.data import PatternKind, num_patterns, random_patterns, teacher_patterns
from landscape.shallow.enumeration import (
    ExactLocalEntropy,
    TiltedEntropy,
    enumerate_solutions,
    exact_local_entropy,
    exact_marginals,
)
from landscape.shallow.fbp import Protocol, focusing_bp, protocol_schedule
from landscape.shallow.greedy import entropic_least_action, least_action
from landscape.shallow.learners import clipped_perceptron, gamma_ce_sgd, simulated_annealing
from landscape.shallow.local_energy import (
    GaussianLocalEnergyResult,
    LocalEnergyResult,
    local_energy,
    local_energy_gaussian,
)
from landscape.shallow.losses import (
    cross_entropy_gamma,
    cross_entropy_gamma_grad,
    cross_entropy_gamma_hess,
    error_loss,
)
from landscape.shallow.models import (
    Machine,
    hidden_fields,
    num_errors,
    predict,
    spherical,
    stabilities,
    training_error,
)
from landscape.shallow.replicated import entropic_gd, replicated_gd, replicated_sgd
from landscape.shallow.results import LearnerResult

__all__ = [
    "BPResult",
    "ExactLocalEntropy",
    "GaussianLocalEnergyResult",
    "LearnerResult",
    "LocalEnergyResult",
    "LocalEntropyResult",
    "Machine",
    "PatternKind",
    "Protocol",
    "TiltedEntropy",
    "binary_entropy",
    "clipped_perceptron",
    "cross_entropy_gamma",
    "cross_entropy_gamma_grad",
    "cross_entropy_gamma_hess",
    "default_couplings",
    "entropic_gd",
    "entropic_least_action",
    "enumerate_solutions",
    "error_loss",
    "exact_local_entropy",
    "exact_marginals",
    "focusing_bp",
    "gamma_ce_sgd",
    "hidden_fields",
    "least_action",
    "local_energy",
    "local_energy_gaussian",
    "local_entropy",
    "num_errors",
    "num_patterns",
    "perceptron_bp",
    "predict",
    "protocol_schedule",
    "random_patterns",
    "replicated_gd",
    "replicated_sgd",
    "simulated_annealing",
    "spherical",
    "stabilities",
    "teacher_patterns",
    "training_error",
]
