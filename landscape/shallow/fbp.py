r"""Focusing belief propagation (fBP) for the binary perceptron and committee machine.

fBP (Baldassi et al., PNAS 2016; reference code ``BinaryCommitteeMachineFBP.jl`` and its C++ port
``rFBP``) runs BP on the perceptron factor graph (:mod:`landscape.shallow._bp_core`; for odd
``K >= 3`` the fully connected committee machine of :mod:`landscape.shallow._bp_committee`, with
the exact majority output node) with an extra
*focusing* factor on every weight, the result of tracing out :math:`y` replicas coupled with
strength :math:`\gamma` to the reference configuration. With :math:`h_i = \tanh\sum_\mu g_{\mu i}`
the cavity magnetisation of weight :math:`i` (all pattern messages), the focusing message is

.. math::  \hat m_i = \tanh\gamma\,\tanh\!\bigl[(y-1)\operatorname{atanh}(h_i\tanh\gamma)\bigr],

(``research/baldassi.md`` §4.1), evaluated in field form with
:math:`\operatorname{atanh}(\tanh a\tanh b) = \tfrac12[\log\cosh(a+b) - \log\cosh(a-b)]` so that it
stays finite when messages saturate; :math:`\gamma = \infty` gives the reinforcement field
:math:`(y-1)\sum_\mu g_{\mu i}`. A *protocol* raises :math:`(\gamma, y)` step by step:

* ``"reinforcement"`` (``StandardReinforcement(1e-2)``, the Julia default): :math:`\gamma=\infty`,
  :math:`y = 1/(1-x)` for :math:`x = 0, 0.01, \dots, 0.99`;
* ``"scoping"`` (rFBP default): :math:`y = 21`, :math:`\gamma` from 0 to 7 in 101 steps, then
  :math:`\gamma = \infty`;
* ``"pseudo_reinforcement"`` (rFBP Python default, ``x = 0.5``): :math:`\rho = 0, 0.01, \dots,
  0.99` then :math:`0.992, \dots, 0.998`, with :math:`\gamma = \operatorname{atanh}\sqrt\rho` and
  :math:`y = (2-\rho)/(1-\rho)`.

At each step BP is iterated (all messages in parallel, damped) until the largest message change is
below ``tol`` or ``max_iters`` sweeps; the candidate :math:`w = \operatorname{sign}(m)` is checked
after **every sweep** and the run stops at zero training errors (the reference checks after each
step; checking more often only stops earlier). Defaults follow rFBP's Python interface
(``damping=0.5``, ``randfact=0.1``, ``pseudo_reinforcement``) except ``tol`` (rFBP ``epsil=0.1``,
Julia ``ϵ=1e-3``; 1e-3 here) and ``max_iters`` (1000 in both; 100 here: the candidate is tested
every sweep and a step rarely needs more). Messages are updated in parallel, which is weaker per
sweep than the reference's random sequential order: the reference tests' ``max_iters=1`` still
solves ``N=21, K=5, M=10``, but ``N=321, K=5, alpha=0.3`` needed ``max_iters=10`` here (solved in
136 sweeps, ~40 s); with ``max_iters=1`` it failed.

Near capacity a slower protocol helps: at ``N = 1001``, ``alpha = 0.74`` (instance and learner
seeds 0-9, ``benchmarks/shallow.py``) the reference ``pseudo_reinforcement`` solved 4/10, and
``protocol_step=0.005`` (twice the steps) solved 5/10 (the others stopped at 1, 1, 2, 12 and
125 errors).

Example:
    >>> from landscape.shallow import focusing_bp, random_patterns
    >>> xi, labels = random_patterns(201, 80, seed=0)
    >>> res = focusing_bp(xi, labels, seed=0)
    >>> res.solved, res.errors, res.weights.shape
    (True, 0, (201,))
"""

from __future__ import annotations

import time
from typing import Literal

import numpy as np
import torch

from landscape._seeding import numpy_rng
from landscape.errors import ConfigError
from landscape.shallow._backend import DEFAULT_BACKEND, Backend
from landscape.shallow._bp_committee import CommitteeGraph
from landscape.shallow._bp_core import PerceptronGraph, _logcosh, check_instance
from landscape.shallow.results import LearnerResult

Protocol = Literal["pseudo_reinforcement", "scoping", "reinforcement"]

__all__ = ["Protocol", "focusing_bp", "focusing_field", "protocol_schedule"]


def protocol_schedule(protocol: Protocol, step: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    r"""The ``(gamma, y)`` sequence of a protocol (``gamma = inf`` allowed), see the module doc.

    ``step`` is the increment of the protocol's parameter (the ``dr`` of
    ``StandardReinforcement(dr)``, the step of the ``ρ`` range of ``PseudoReinforcement``, and
    ``7 step`` for the ``γ`` of scoping); the default 0.01 gives the reference schedules, a
    smaller one a slower (more often successful near capacity) and longer protocol.
    """
    if not 0 < step <= 0.1:
        raise ConfigError(f"protocol step must be in (0, 0.1], got {step}")
    n = int(np.floor(0.99 / step + 1e-9)) + 1  # x or rho = 0, step, ..., <= 0.99
    grid = np.arange(n) / (1.0 / step)
    if protocol == "reinforcement":
        return np.full(n, np.inf), 1.0 / (1.0 - grid)
    if protocol == "scoping":
        gam = np.append(np.linspace(0.0, 7.0, round(1.0 / step) + 1), np.inf)
        return gam, np.full(len(gam), 21.0)
    if protocol == "pseudo_reinforcement":
        rho = np.concatenate([grid, [0.992, 0.994, 0.996, 0.998]])
        return np.arctanh(np.sqrt(rho)), (2.0 - rho) / (1.0 - rho)
    raise ConfigError(
        f"unknown protocol {protocol!r}; use 'pseudo_reinforcement', 'scoping' or 'reinforcement'"
    )


def focusing_field(cavity: np.ndarray, gamma: float, y: float) -> np.ndarray:
    r"""Field :math:`\operatorname{atanh}\hat m` of the focusing message, given cavity fields."""
    r = y - 1.0
    if r == 0.0 or gamma == 0.0:
        return np.zeros_like(cavity)
    if np.isinf(gamma):
        return r * cavity
    # a = atanh(tanh(cavity) tanh(gamma)); result = atanh(tanh(gamma) tanh(r a))
    a = 0.5 * (_logcosh(cavity + gamma) - _logcosh(cavity - gamma))
    return 0.5 * (_logcosh(r * a + gamma) - _logcosh(r * a - gamma))


def focusing_bp(
    xi: np.ndarray,
    labels: np.ndarray,
    *,
    K: int = 1,
    protocol: Protocol = "pseudo_reinforcement",
    seed: int = 0,
    damping: float = 0.5,
    max_iters: int = 100,
    tol: float = 1e-3,
    randfact: float = 0.1,
    kappa: float = 0.0,
    protocol_step: float = 0.01,
    backend: Backend = DEFAULT_BACKEND,
    device: str | torch.device | None = None,
) -> LearnerResult:
    """Find binary weights with zero training errors by focusing BP.

    Args:
        xi: Patterns ``[P, N]`` (±1 or Gaussian). labels: Labels ±1 ``[P]``.
        K: Hidden units: 1 for the perceptron, odd ``K >= 3`` for the fully connected committee
            machine (majority output; weights ``[K, N]``).
        protocol: ``"pseudo_reinforcement"`` (default), ``"scoping"`` or ``"reinforcement"``.
        seed: Seed of the random initial messages (uniform in ``±randfact`` as magnetisations).
        damping: Fraction of the old message kept at each sweep, in ``[0, 1)``.
        max_iters: Maximum BP sweeps per protocol step.
        tol: A step ends when the largest message change is below this.
        randfact: Amplitude of the random initial messages.
        kappa: Margin required of the stabilities (0: plain storage).
        protocol_step: Increment of the protocol's parameter (:func:`protocol_schedule`; 0.01 is
            the reference schedule).
        backend: ``"torch"`` (default; float64 on ``device``, the faster kernel on a CPU too) or
            ``"numpy"`` (SciPy). Both compute the same messages to rounding.
        device: torch device (``"cpu"`` by default, ``"cuda"`` where one is present).

    Returns:
        :class:`LearnerResult` with ``weights`` = sign of the final magnetisations; ``solved``
        and ``errors`` are computed from those weights (never assumed).

    Raises:
        ConfigError: for an even ``K``, an unknown protocol, or bad shapes/settings.
        NonFiniteError: if the messages become NaN.
    """
    if K != 1 and (K < 3 or K % 2 == 0):
        raise ConfigError(f"K must be 1 (perceptron) or odd >= 3 (committee machine), got K={K}")
    if K != 1 and kappa != 0.0:
        raise ConfigError("a margin kappa is only implemented for the perceptron (K=1)")
    if not 0 <= damping < 1 or max_iters < 1 or not tol > 0 or not 0 <= randfact < 1:
        raise ConfigError("need 0 <= damping < 1, max_iters >= 1, tol > 0, 0 <= randfact < 1")
    gammas, ys = protocol_schedule(protocol, protocol_step)
    xi, labels = check_instance(xi, labels)
    P, N = xi.shape
    start = time.perf_counter()
    rng = numpy_rng(seed, "fbp", "init")
    if K == 1:
        init = np.arctanh(rng.uniform(-randfact, randfact, size=(P, N)))
        graph: PerceptronGraph | CommitteeGraph = PerceptronGraph.create(
            xi, labels, kappa=kappa, init=init, backend=backend, device=device
        )
    else:
        init = np.arctanh(rng.uniform(-randfact, randfact, size=(P, K, N)))
        graph = CommitteeGraph.create(xi, labels, K, init, backend=backend, device=device)
    threshold = kappa * np.sqrt(N)

    def errors_of(field: np.ndarray) -> tuple[np.ndarray, int]:
        w = np.where(field > 0, 1.0, -1.0)
        if isinstance(graph, PerceptronGraph):
            return w, graph.count_errors(w, threshold)
        return w, graph.count_errors(w)

    weights, errors = errors_of(graph.cavity_sum())
    sweeps = steps = 0
    for gamma, y in zip(gammas, ys):
        if errors == 0:
            break
        steps += 1
        external = focusing_field(graph.cavity_sum(), gamma, y)
        for _ in range(max_iters):
            change = graph.sweep(external, damping)
            sweeps += 1
            cavity = graph.cavity_sum()
            external = focusing_field(cavity, gamma, y)
            weights, errors = errors_of(cavity + external)
            if errors == 0 or change < tol:
                break
    return LearnerResult(
        weights=weights,
        solved=errors == 0,
        errors=errors,
        iterations=sweeps,
        seconds=time.perf_counter() - start,
        algorithm="focusing_bp",
        protocol=protocol,
        steps=steps,
        K=K,
        N=N,
        P=P,
        seed=int(seed),
        damping=float(damping),
        max_iters=int(max_iters),
        tol=float(tol),
    )
