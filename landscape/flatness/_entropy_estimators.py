"""The estimators of :func:`landscape.flatness.local_entropy.local_entropy` from the chains'
records (private): means and standard errors over chains, the control-variate coefficient, the
drift diagnostic and the thermodynamic integration in ``log γ`` (the maths is in the docstring of
:mod:`landscape.flatness.local_entropy`).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from landscape.errors import ConfigError


def _mean_stderr(chains: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error over the last axis (chains, or noise draws); NaN error for one."""
    c = chains.shape[-1]
    mean = chains.mean(axis=-1)
    if c < 2:
        return mean, np.full(mean.shape, np.nan)
    return mean, chains.std(axis=-1, ddof=1) / math.sqrt(c)


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


def ci(mean: np.ndarray, stderr: np.ndarray, n: int, level: float
       ) -> tuple[np.ndarray, np.ndarray]:
    """The Student-t interval at ``level`` of means with ``stderr`` over ``n`` chains."""
    if not 0.0 < level < 1.0:
        raise ConfigError(f"level must be in (0, 1), got {level!r}")
    if n < 2:
        nan = np.full(np.shape(mean), np.nan)
        return nan, nan.copy()
    q = float(stats.t.ppf(0.5 + level / 2, n - 1))
    return mean - q * stderr, mean + q * stderr
