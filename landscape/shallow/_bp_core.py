r"""Message-passing kernel of the binary perceptron (private plumbing of ``bp`` and ``fbp``).

Factor graph: weights :math:`w_i = \pm1`, one factor per pattern,
:math:`\Theta(\sum_i \xi^\mu_i w_i - \kappa\sqrt N)` with the label absorbed into
:math:`\xi^\mu \leftarrow \sigma^\mu\xi^\mu`, and a unary field :math:`e^{b_i w_i}` per weight.
Messages are stored as **fields** (log-ratios), dense ``[P, N]`` float64 arrays:

* factor → weight :math:`g_{\mu i}` (the message is :math:`\propto e^{g_{\mu i} w_i}`);
* weight total field :math:`H_i = b_i + \sum_\mu g_{\mu i}`, magnetisation :math:`m_i = \tanh H_i`;
* cavity magnetisation :math:`h_{i\to\mu} = \tanh(H_i - g_{\mu i})`.

Factor update ("accurate" node of ``BinaryCommitteeMachineFBP.jl``): the cavity sum
:math:`\sum_{j\ne i}\xi_j w_j` is taken Gaussian with mean
:math:`\bar\mu = \mu - \xi_i h_{i\to\mu}` and variance :math:`\bar s^2 = s^2 - \xi_i^2(1-h^2)`,
where :math:`\mu = \sum_j \xi_j h_{j\to\mu}`, :math:`s^2 = \sum_j\xi_j^2(1-h_{j\to\mu}^2)`; then

.. math::
    g_{\mu i} = \tfrac12\bigl[\log\Phi\bigl(\tfrac{\bar\mu + \xi_i - \kappa\sqrt N}{\bar s}\bigr)
               - \log\Phi\bigl(\tfrac{\bar\mu - \xi_i - \kappa\sqrt N}{\bar s}\bigr)\bigr],

computed with ``scipy.special.log_ndtr`` (no ``erf`` cancellation at large negative arguments)
by the ``"numpy"`` backend, and as one ratio of two vectorised ``erfc`` by the ``"torch"``
backend (float64, CPU or CUDA; :mod:`landscape.shallow._bp_torch`, about 3x faster per message
on one CPU thread, the same messages to rounding). All factors are updated in parallel (one
sweep is O(N P) vectorised), with damping on the fields.

Bethe free entropy (per weight), with the Gaussian estimate
:math:`Z_\mu = \Phi((\mu-\kappa\sqrt N)/s)` of the factor normalisation:

.. math::
    N\phi = \sum_\mu \log Z_\mu + \sum_i\Bigl[\log 2\cosh H_i - \sum_\mu \log 2\cosh g_{\mu i}\Bigr]
            - \sum_{\mu i}\log\frac{1 + h_{i\to\mu}\tanh g_{\mu i}}{2}
          = \sum_\mu \log Z_\mu + N\log 2 + \sum_i\Bigl[(1 - P)\log\cosh H_i
            + \sum_\mu \log\cosh(H_i - g_{\mu i})\Bigr]

(the second form, via :math:`1 + \tanh a\tanh b = \cosh(a+b)/(\cosh a\cosh b)`, is the one
evaluated: it has no cancellation when messages saturate).

Without patterns it reduces to :math:`\frac1N\sum_i \log 2\cosh b_i` (exact).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.special import log_ndtr

from landscape.errors import ConfigError, NonFiniteError
from landscape.shallow._backend import DEFAULT_BACKEND, Backend, resolve, to_backend, to_numpy
from landscape.shallow._bp_torch import FIELD_CAP as _FIELD_CAP
from landscape.shallow._bp_torch import VAR_FLOOR as _VAR_FLOOR
from landscape.shallow._bp_torch import perceptron_sweep

CONTRADICTION_LOG_Z = np.log(1e-10)  # a pattern satisfied with probability < 1e-10 under BP


def _logcosh(x: np.ndarray) -> np.ndarray:
    """``log cosh x`` without overflow."""
    a = np.abs(x)
    return a + np.log1p(np.exp(-2.0 * a)) - np.log(2.0)


def damped_update(new: np.ndarray, old: np.ndarray, old_tanh: np.ndarray | None, damping: float
                  ) -> tuple[np.ndarray, np.ndarray, float]:
    """Damp new cavity fields towards the old ones, ``g ← (1 − d)·new + d·old``.

    Returns the fields, their ``tanh`` (the messages' magnetisations) and the largest change of a
    magnetisation, the convergence measure of both BP kernels.
    """
    if damping:
        new = (1.0 - damping) * new + damping * old
    u_new = np.tanh(new)
    u_old = np.tanh(old) if old_tanh is None else old_tanh
    change = float(np.max(np.abs(u_new - u_old))) if new.size else 0.0
    return new, u_new, change


def check_instance(xi: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate and return ``(xi float64 [P, N], labels float64 [P])``."""
    xi = np.asarray(xi, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    if xi.ndim != 2:
        raise ConfigError(f"patterns must be a [P, N] array, got shape {xi.shape}")
    if labels.shape != (xi.shape[0],):
        raise ConfigError(f"labels must be [P] = [{xi.shape[0]}], got shape {labels.shape}")
    if not np.all(np.isfinite(xi)):
        raise ConfigError("patterns contain NaN or infinite entries")
    if not np.all(np.abs(labels) == 1):
        raise ConfigError("labels must be ±1")
    return xi, labels


class SweepLoop:
    """The convergence loop shared by the BP kernels: they provide ``sweep``."""

    def sweep(self, external: np.ndarray, damping: float) -> float:
        raise NotImplementedError

    def run(
        self, external: np.ndarray, *, damping: float, tol: float, max_iters: int
    ) -> tuple[int, bool]:
        """Iterate sweeps until the max change is below ``tol``; returns (iterations, converged)."""
        for it in range(1, max_iters + 1):
            if self.sweep(external, damping) < tol:
                return it, True
        return max_iters, False


@dataclass
class PerceptronGraph(SweepLoop):
    """Mutable BP state on one instance (private; results are copied out into frozen classes).

    The messages ``g`` live on the backend (a NumPy array, or a float64 torch tensor on
    ``device``); every method takes and returns NumPy arrays.
    """

    xi: np.ndarray  # [P, N], label-absorbed
    g: np.ndarray | torch.Tensor  # [P, N] factor -> weight fields
    kappa: float = 0.0
    device: torch.device | None = None  # None: the NumPy/SciPy kernel
    _binary: bool = False  # all |xi| == 1 (skips a multiplication)
    _u: np.ndarray | torch.Tensor | None = None  # tanh(g), cached for the change measure
    _xi_dev: torch.Tensor | None = None  # xi on the torch device
    _half_sign: torch.Tensor | None = None  # sign(xi) / 2 on the torch device
    _work: list[torch.Tensor] = field(default_factory=list)  # spare [P, N] tensors

    @classmethod
    def create(
        cls,
        xi: np.ndarray,
        labels: np.ndarray,
        *,
        kappa: float = 0.0,
        init: np.ndarray | None = None,
        backend: Backend = DEFAULT_BACKEND,
        device: str | torch.device | None = None,
    ) -> PerceptronGraph:
        dev = resolve(backend, device)
        xi, labels = check_instance(xi, labels)
        signed = labels[:, None] * xi
        g = np.zeros_like(signed) if init is None else np.array(init, dtype=np.float64)
        if g.shape != signed.shape:
            raise ConfigError(f"initial messages must be {signed.shape}, got {g.shape}")
        graph = cls(xi=signed, g=to_backend(g, dev), kappa=float(kappa), device=dev,
                    _binary=bool(np.all(np.abs(signed) == 1)))
        if dev is not None:
            graph._xi_dev = to_backend(signed, dev)
            graph._half_sign = to_backend(0.5 * np.sign(signed), dev)
            graph._u = torch.tanh(graph.g)
            graph._work = [torch.empty_like(graph.g) for _ in range(3)]
        return graph

    @property
    def N(self) -> int:
        return self.xi.shape[1]

    def messages(self) -> np.ndarray:
        """The factor → weight fields ``g [P, N]`` as NumPy."""
        return to_numpy(self.g)

    def cavity_sum(self) -> np.ndarray:
        r""":math:`\sum_\mu g_{\mu i}`, ``[N]``."""
        return to_numpy(self.g.sum(0))

    def total_field(self, external: np.ndarray) -> np.ndarray:
        return external + self.cavity_sum()

    def count_errors(self, weights: np.ndarray, threshold: float) -> int:
        """Patterns whose stability ``xi . w`` (labels absorbed) is not above ``threshold``."""
        if self._xi_dev is None:
            return int(np.sum(self.xi @ weights <= threshold))
        w = torch.as_tensor(weights, dtype=torch.float64, device=self.device)
        return int((self._xi_dev @ w <= threshold).sum())

    def _cavity(self, H: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        cav = H[None, :] - self.messages()
        h = np.tanh(cav)
        xh = self.xi * h
        # 1 - h^2 loses its relative precision only for |cav| > ~18, where the variance floor
        # takes over anyway
        var_i = (1.0 - h) * (1.0 + h)
        if not self._binary:
            var_i *= self.xi**2
        return h, xh, var_i, cav

    def sweep(self, external: np.ndarray, damping: float) -> float:
        """One parallel update of all factor messages; returns the max message change."""
        thr = self.kappa * np.sqrt(self.N)
        if self.device is not None:
            H = torch.as_tensor(external, dtype=torch.float64, device=self.device) + self.g.sum(0)
            self.g, self._u, change = perceptron_sweep(
                self._xi_dev, self._half_sign, self.g, self._u, H, thr, self._binary, damping,
                self._work,
            )
            if not np.isfinite(change):
                raise NonFiniteError("BP messages became NaN; increase damping or check the data")
            return change
        H = self.total_field(external)
        _, xh, var_i, _ = self._cavity(H)
        mu = xh.sum(axis=1, keepdims=True)
        var = var_i.sum(axis=1, keepdims=True)
        mu_bar = mu - xh
        s_bar = np.sqrt(np.maximum(var - var_i, _VAR_FLOOR))
        new = 0.5 * (
            log_ndtr((mu_bar + self.xi - thr) / s_bar) - log_ndtr((mu_bar - self.xi - thr) / s_bar)
        )
        np.clip(new, -_FIELD_CAP, _FIELD_CAP, out=new)
        if not np.all(np.isfinite(new)):
            raise NonFiniteError("BP messages became NaN/inf; increase damping or check the data")
        self.g, self._u, change = damped_update(new, self.g, self._u, damping)
        return change
    def factor_log_z(self, external: np.ndarray) -> np.ndarray:
        """Gaussian estimate of ``log Z_mu`` (probability that pattern mu is satisfied), ``[P]``."""
        H = self.total_field(external)
        _, xh, var_i, _ = self._cavity(H)
        s = np.sqrt(np.maximum(var_i.sum(axis=1), _VAR_FLOOR))
        return log_ndtr((xh.sum(axis=1) - self.kappa * np.sqrt(self.N)) / s)

    def contradiction(self, external: np.ndarray) -> bool:
        """Whether some pattern is (almost surely) violated under the BP marginals.

        Such a fixed point describes no solution (loopy BP lost the solution space); its Bethe
        free entropy is meaningless (it diverges to -inf).
        """
        if self.xi.shape[0] == 0:
            return False
        return bool(np.min(self.factor_log_z(external)) < CONTRADICTION_LOG_Z)

    def free_entropy(self, external: np.ndarray) -> float:
        """Bethe free entropy per weight at the current messages."""
        N = self.N
        H = self.total_field(external)
        site = float(np.sum(_logcosh(H)) + N * np.log(2.0))
        if self.xi.shape[0] == 0:
            return site / N
        _, xh, var_i, cav = self._cavity(H)
        mu = xh.sum(axis=1)
        s = np.sqrt(np.maximum(var_i.sum(axis=1), _VAR_FLOOR))
        factor = float(np.sum(log_ndtr((mu - self.kappa * np.sqrt(N)) / s)))
        # sum_i [log 2cosh H_i - sum_mu log 2cosh g] - sum_{mu i} log((1 + h tanh g)/2), using
        # 1 + tanh(a) tanh(b) = cosh(a + b) / (cosh a cosh b) with a + b = H_i (no cancellation)
        P = self.xi.shape[0]
        site = float((1 - P) * np.sum(_logcosh(H)) + np.sum(_logcosh(cav)) + N * np.log(2.0))
        value = (factor + site) / N
        if not np.isfinite(value):
            raise NonFiniteError("the Bethe free entropy is not finite (no solution nearby?)")
        return value
