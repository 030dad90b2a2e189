r"""Message-passing kernel of the fully connected binary committee machine (private).

Factor graph (``BinaryCommitteeMachineFBP.jl``, K odd, second layer fixed to +1): weights
:math:`w_{ki}=\pm1`, hidden variables :math:`\tau_{\mu k}`, first-layer factors
:math:`\tau_{\mu k} = \operatorname{sign}(\sum_i \xi^\mu_i w_{ki})` (label absorbed,
:math:`\xi \leftarrow \sigma\xi`, so the output constraint becomes :math:`\sum_k\tau_{\mu k} > 0`)
and one output factor per pattern. Messages are fields, ``g[P, K, N]`` (first layer → weight),
``U[P, K]`` (first layer → hidden), ``D[P, K]`` (output → hidden).

* Upward: :math:`U = \tfrac12[\log\Phi(\mu/s) - \log\Phi(-\mu/s)]` per :math:`(\mu, k)`, with
  the Gaussian sum of the cavity magnetisations (the "accurate" node).
* Output (exact, by a Poisson-binomial recursion over the other ``K - 1`` hidden units):
  :math:`D_{\mu k} = \tfrac12\log[P(n_+ \ge (K-1)/2)/P(n_+ \ge (K+1)/2)]`, :math:`n_+` the number of
  other units at +1.
* Downward: with :math:`t = \tanh D` and :math:`s_\pm = (\bar\mu \pm \xi_i)/\bar s`,
  :math:`g = \tfrac12\log\frac{(1+t)\Phi(s_+) + (1-t)\Phi(-s_+)}{(1+t)\Phi(s_-) + (1-t)\Phi(-s_-)}`,
  in log space (``logaddexp`` of ``log_ndtr`` terms); :math:`t = 1` gives the perceptron rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.special import log_ndtr

from landscape.errors import ConfigError, NonFiniteError
from landscape.shallow._backend import DEFAULT_BACKEND, Backend, resolve, to_backend, to_numpy
from landscape.shallow._bp_core import CONTRADICTION_LOG_Z, SweepLoop, _logcosh, damped_update
from landscape.shallow._bp_torch import committee_sweep

_FIELD_CAP = 50.0
_VAR_FLOOR = 1e-12
_PROB_FLOOR = 1e-300


def _output_fields(U: np.ndarray) -> np.ndarray:
    """Exact output-factor messages ``D[P, K]`` from the upward fields ``U[P, K]``."""
    P, K = U.shape
    p_plus = 0.5 * (1.0 + np.tanh(U))  # [P, K]
    D = np.empty_like(U)
    half = (K - 1) // 2
    for k in range(K):
        others = np.delete(p_plus, k, axis=1)  # [P, K-1]
        dist = np.zeros((P, K))
        dist[:, 0] = 1.0
        for j in range(K - 1):  # Poisson-binomial recursion on the count of +1
            pj = others[:, j : j + 1]
            dist[:, 1:] = dist[:, 1:] * (1.0 - pj) + dist[:, :-1] * pj
            dist[:, 0] *= 1.0 - pj[:, 0]
        ge_half = dist[:, half:].sum(axis=1)
        ge_half1 = dist[:, half + 1 :].sum(axis=1)
        D[:, k] = 0.5 * (
            np.log(np.maximum(ge_half, _PROB_FLOOR)) - np.log(np.maximum(ge_half1, _PROB_FLOOR))
        )
    return np.clip(D, -_FIELD_CAP, _FIELD_CAP)


def _upward_fields(mu: np.ndarray, var: np.ndarray) -> np.ndarray:
    r"""First layer → hidden fields :math:`U = \tfrac12[\log\Phi(\mu/s) - \log\Phi(-\mu/s)]`."""
    s = np.sqrt(np.maximum(var, _VAR_FLOOR))
    return 0.5 * (log_ndtr(mu / s) - log_ndtr(-mu / s))


@dataclass
class CommitteeGraph(SweepLoop):
    """Mutable BP state of a committee machine (private); backends as ``PerceptronGraph``."""

    xi: np.ndarray  # [P, N] label-absorbed
    g: np.ndarray | torch.Tensor  # [P, K, N]
    device: torch.device | None = None  # None: the NumPy/SciPy kernel
    _u: np.ndarray | torch.Tensor | None = None
    _xi_dev: torch.Tensor | None = None  # [P, 1, N] on the torch device
    _binary: bool = False
    _work: list[torch.Tensor] = field(default_factory=list)

    @classmethod
    def create(cls, xi: np.ndarray, labels: np.ndarray, K: int, init: np.ndarray, *,
               backend: Backend = DEFAULT_BACKEND, device: str | torch.device | None = None
               ) -> CommitteeGraph:
        if K < 3 or K % 2 == 0:
            raise ConfigError(f"the committee machine needs an odd K >= 3, got K={K}")
        dev = resolve(backend, device)
        signed = labels[:, None] * xi
        g = np.array(init, dtype=np.float64)
        if g.shape != (xi.shape[0], K, xi.shape[1]):
            raise ConfigError(f"initial messages must be {(xi.shape[0], K, xi.shape[1])}")
        graph = cls(xi=signed, g=to_backend(g, dev), device=dev,
                    _binary=bool(np.all(np.abs(signed) == 1)))
        if dev is not None:
            graph._xi_dev = to_backend(signed[:, None, :], dev)
            graph._u = torch.tanh(graph.g)
            graph._work = [torch.empty_like(graph.g) for _ in range(4)]
        return graph

    def messages(self) -> np.ndarray:
        """The first layer → weight fields ``g [P, K, N]`` as NumPy."""
        return to_numpy(self.g)

    def cavity_sum(self) -> np.ndarray:
        """Sum of the pattern messages on each weight, ``[K, N]``."""
        return to_numpy(self.g.sum(0))

    def count_errors(self, weights: np.ndarray) -> int:
        """Patterns the committee ``weights [K, N]`` misclassifies (labels absorbed)."""
        if self._xi_dev is None:
            tau = np.where(self.xi @ weights.T > 0, 1.0, -1.0)  # [P, K]
            return int(np.sum(tau.sum(axis=1) <= 0))
        w = torch.as_tensor(weights, dtype=torch.float64, device=self.device)
        tau = torch.where(self._xi_dev[:, 0, :] @ w.T > 0, 1.0, -1.0)
        return int((tau.sum(1) <= 0).sum())

    def _upward(self, external: np.ndarray):
        g = self.messages()
        H = external + g.sum(axis=0)  # [K, N]
        cav = H[None, :, :] - g
        h = np.tanh(cav)  # [P, K, N]
        x = self.xi[:, None, :]
        xh = x * h
        var_i = x**2 * (1.0 - h) * (1.0 + h)
        mu = xh.sum(axis=2, keepdims=True)  # [P, K, 1]
        var = var_i.sum(axis=2, keepdims=True)
        s = np.sqrt(np.maximum(var, _VAR_FLOOR))
        U = _upward_fields(mu, var)[:, :, 0]
        return H, cav, x, xh, var_i, mu, var, s, U

    def free_entropy(self, external: np.ndarray) -> float:
        r"""Bethe free entropy per weight (``N K`` weights) at the current messages.

        .. math::
            \Phi = \sum_{\mu k}\log Z_{\mu k} + \sum_\mu \log Z_\mu
                  - \sum_{\mu k}\log\frac{\cosh(U+D)}{2\cosh U\cosh D}
                  + \sum_{ki}\Bigl[(1-P)\log\cosh H_{ki} + \sum_\mu\log\cosh(H_{ki} - g_{\mu ki})
                  \Bigr] + NK\log 2,

        with :math:`Z_{\mu k} = \frac{1+t}2\Phi(\mu/s) + \frac{1-t}2\Phi(-\mu/s)`,
        :math:`t = \tanh D_{\mu k}` (first layer) and :math:`Z_\mu = P(n_+ \ge (K+1)/2)` under
        the upward messages (output node); the hidden variables have two neighbours each.
        """
        first, out, hidden, weights_part = self._terms(external)
        _, K, N = self.g.shape
        value = (np.sum(first) + np.sum(out) - np.sum(hidden) + weights_part) / (N * K)
        if not np.isfinite(value):
            raise NonFiniteError("the committee Bethe free entropy is not finite")
        return float(value)

    def _terms(self, external: np.ndarray):
        P, K, N = self.g.shape
        H, cav, _, _, _, mu, _, s, U = self._upward(external)
        weights_part = (1 - P) * np.sum(_logcosh(H)) + np.sum(_logcosh(cav)) + N * K * np.log(2)
        if P == 0:
            return np.zeros((0, K)), np.zeros(0), np.zeros((0, K)), float(weights_part)
        D = _output_fields(U)
        log1p_t = np.log(2.0) - np.logaddexp(0.0, -2.0 * D)
        log1m_t = np.log(2.0) - np.logaddexp(0.0, 2.0 * D)
        m = (mu / s)[:, :, 0]
        first = np.logaddexp(log1p_t + log_ndtr(m), log1m_t + log_ndtr(-m)) - np.log(2.0)
        p_plus = 0.5 * (1.0 + np.tanh(U))
        dist = np.zeros((P, K + 1))
        dist[:, 0] = 1.0
        for j in range(K):
            pj = p_plus[:, j : j + 1]
            dist[:, 1:] = dist[:, 1:] * (1.0 - pj) + dist[:, :-1] * pj
            dist[:, 0] *= 1.0 - pj[:, 0]
        out = np.log(np.maximum(dist[:, (K + 1) // 2 :].sum(axis=1), _PROB_FLOOR))
        hidden = _logcosh(U + D) - _logcosh(U) - _logcosh(D) - np.log(2.0)
        return first, out, hidden, float(weights_part)

    def contradiction(self, external: np.ndarray) -> bool:
        """Whether some pattern's output (or first-layer) constraint has BP probability < 1e-10."""
        if self.g.shape[0] == 0:
            return False
        first, out, _, _ = self._terms(external)
        return bool(min(first.min(), out.min()) < CONTRADICTION_LOG_Z)

    def total_field(self, external: np.ndarray) -> np.ndarray:
        return external + self.cavity_sum()

    def sweep(self, external: np.ndarray, damping: float) -> float:
        """One parallel update of all messages; returns the max change of the ``g`` messages."""
        if self.device is not None:
            H = torch.as_tensor(external, dtype=torch.float64, device=self.device) + self.g.sum(0)
            self.g, self._u, change = committee_sweep(
                self._xi_dev, self.g, self._u, H,
                lambda mu, var: _output_fields(_upward_fields(mu, var)), self._binary, damping,
                self._work,
            )
            if not np.isfinite(change):
                raise NonFiniteError("committee BP messages became NaN; increase damping")
            return change
        _, _, x, xh, var_i, mu, var, _, U = self._upward(external)
        D = _output_fields(U)[:, :, None]  # [P, K, 1]
        log1p_t = np.log(2.0) - np.logaddexp(0.0, -2.0 * D)  # log(1 + tanh D)
        log1m_t = np.log(2.0) - np.logaddexp(0.0, 2.0 * D)  # log(1 - tanh D)
        mu_bar = mu - xh
        s_bar = np.sqrt(np.maximum(var - var_i, _VAR_FLOOR))
        sp = (mu_bar + x) / s_bar
        sm = (mu_bar - x) / s_bar
        num = np.logaddexp(log1p_t + log_ndtr(sp), log1m_t + log_ndtr(-sp))
        den = np.logaddexp(log1p_t + log_ndtr(sm), log1m_t + log_ndtr(-sm))
        new = np.clip(0.5 * (num - den), -_FIELD_CAP, _FIELD_CAP)
        if not np.all(np.isfinite(new)):
            raise NonFiniteError("committee BP messages became NaN/inf; increase damping")
        self.g, self._u, change = damped_update(new, self.g, self._u, damping)
        return change
