"""Losses designed for noisy labels: generalized cross-entropy (plain and truncated), symmetric
cross-entropy, and IMAE.

IMAE stands in for the exponentially weighted cross-entropy family of the "Improved Categorical
Cross-Entropy" paper (Li et al., PRCV 2021), whose exact formula is not public: see
:class:`IMAE`.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import nn

from landscape.errors import ConfigError
from landscape.forward import move_batch
from landscape.objectives._softmax import check, finite, log_p_and_log_1mp
from landscape.objectives.base import Batch, LossObjective, StepContext


def _lq(log_py: torch.Tensor, q: float) -> torch.Tensor:
    """(1 − p_y^q)/q from log p_y, as −expm1(q·log p_y)/q (exact as q → 0)."""
    return -torch.expm1(q * log_py) / q


def _check_q(q: Any) -> float:
    value = finite("q", q)
    if not 0 < value <= 1:
        raise ConfigError(f"q must lie in (0, 1], got {q}")
    return value


class GeneralizedCrossEntropy(LossObjective):
    """Generalized cross-entropy ℓ = (1 − p_y^q)/q (Zhang & Sabuncu, NeurIPS 2018).

    The L_q loss of "Generalized cross entropy loss for training deep neural networks with noisy
    labels" (Zhang & Sabuncu, NeurIPS 2018, arXiv:1805.07836):

        ℓ(z, y) = (1 − p_y^q) / q,    p = softmax(z)

    It tends to cross-entropy −log p_y as q → 0 and is 1 − p_y (MAE on the probabilities up to a
    factor 2: ‖p − onehot(y)‖₁ = 2(1 − p_y)) at q = 1. Computed as −expm1(q·log p_y)/q, which
    keeps full precision for small q.

    Args:
        q: the exponent, in (0, 1] (default 0.7, the paper's value for its experiments and the
            default of the reference code AlanChou/Truncated-Loss; ``../shared/research/
            objectives.md`` §5.2).

    Example:
        >>> GeneralizedCrossEntropy(q=1.0)(torch.zeros(1, 4), torch.tensor([0])).item()  # 1 − 1/4
        0.75
    """

    name: ClassVar[str] = "gce"

    def __init__(self, q: float = 0.7) -> None:
        self.q = _check_q(q)

    def params(self) -> dict[str, Any]:
        return {"q": self.q}

    def per_sample(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        check(logits, targets)
        log_py, _ = log_p_and_log_1mp(logits, targets)
        return _lq(log_py, self.q)


class TruncatedGCE(LossObjective):
    """Truncated L_q loss with a per-sample pruning mask (Zhang & Sabuncu, NeurIPS 2018).

    The paper's truncated loss, with the per-sample pruning of the reference code
    (AlanChou/Truncated-Loss, ``TruncatedLoss.py`` and ``main.py``):

        L_trunc(z, y) = L_q(p_y)  if p_y > k,   L_q(k)  otherwise,    L_q(p) = (1 − p^q)/q

    Training does not use the current p_y for the case split but a 0/1 mask ``w`` over the whole
    training set, indexed by ``batch.index``: sample i contributes ``w_i·L_q(p_y) + (1 −
    w_i)·L_q(k)``, so a pruned sample (``w_i = 0``) is a constant and gets no gradient. The mask
    starts at all ones (plain L_q) and is recomputed from the model at the start of the pruning
    epochs: ``w_i = 1`` iff ``p_y(x_i) > k`` under the current model in eval mode (the code's
    ``update_weight``), so a sample with p_y ≤ k is dropped until the next pruning. Pruning
    epochs follow ``main.py``: before the 1-based epoch t with t ≥ ``start_prune`` and
    t mod ``prune_every`` = 0 (0-based epochs 39, 49, 59, … with the defaults).

    Differences from the code, on purpose: the code recomputes the mask with the checkpoint of
    best *test* accuracy (model selection on test data); this uses the current model. The code's
    loss subtracts the constant L_q(k) from kept samples and gives 0 to pruned ones; this is the
    paper's L_trunc instead, which differs by that constant (same gradients).

    :meth:`per_sample` (used for evaluation and landscape measurements) has no sample indices,
    so it is the paper's L_trunc with the current p_y, i.e. min(L_q(p_y), L_q(k)). The mask is
    in :meth:`state_dict`, so an interrupted run resumes with it.

    Args:
        q: the L_q exponent in (0, 1] (default 0.7, the paper and code).
        k: truncation threshold in (0, 1) (default 0.5, the paper and code).
        start_prune: no pruning before this 1-based epoch; the mask is recomputed before each
            1-based epoch t ≥ ``start_prune`` that is a multiple of ``prune_every`` (default 40,
            the code's ``--start_prune`` for CIFAR-10; the notes give 80 for CIFAR-100).
        prune_every: recompute the mask every this many epochs (default 10, hard-coded in the
            code's ``main.py``).

    Sources of the defaults: ``../shared/research/objectives.md`` §5.2 [code].
    """

    name: ClassVar[str] = "gce_truncated"
    eval_batch_size: ClassVar[int] = 4096  # batch size of the pruning pass (forward only)

    def __init__(self, q: float = 0.7, k: float = 0.5, start_prune: int = 40,
                 prune_every: int = 10) -> None:
        self.q = _check_q(q)
        self.k = finite("k", k)
        if not 0 < self.k < 1:
            raise ConfigError(f"k must lie in (0, 1), got {k}")
        for label, value in (("start_prune", start_prune), ("prune_every", prune_every)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{label} must be an integer >= 1, got {value!r}")
        self.start_prune = start_prune
        self.prune_every = prune_every
        self.mask = torch.ones(0, dtype=torch.bool)
        self.lq_k = (1.0 - self.k ** self.q) / self.q

    def params(self) -> dict[str, Any]:
        return {"q": self.q, "k": self.k, "start_prune": self.start_prune,
                "prune_every": self.prune_every}

    def prunes_at(self, epoch: int) -> bool:
        """Whether the mask is recomputed before 0-based ``epoch``."""
        t = epoch + 1
        return t >= self.start_prune and t % self.prune_every == 0

    def kept(self, index: torch.Tensor) -> torch.Tensor:
        """Mask entries (bool, on the CPU) of the source indices ``index``; samples that no
        pruning has seen yet count as kept."""
        index = index.to("cpu", torch.long)
        needed = int(index.max()) + 1 if index.numel() else 0
        if needed > len(self.mask):
            grown = torch.ones(needed, dtype=torch.bool)
            grown[: len(self.mask)] = self.mask
            self.mask = grown
        return self.mask[index]

    def truncated(self, logits: torch.Tensor, targets: torch.Tensor,
                  kept: torch.Tensor) -> torch.Tensor:
        """Per-sample ``kept·L_q(p_y) + (1 − kept)·L_q(k)`` for a boolean ``kept`` ``[N]``."""
        check(logits, targets)
        log_py, _ = log_p_and_log_1mp(logits, targets)
        lq_k = torch.full_like(log_py, self.lq_k)
        return torch.where(kept.to(logits.device), _lq(log_py, self.q), lq_k)

    def per_sample(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        check(logits, targets)
        kept = torch.softmax(logits, dim=1).gather(1, targets.unsqueeze(1)).squeeze(1) > self.k
        return self.truncated(logits, targets, kept)

    def loss(self, logits: torch.Tensor, batch: Batch, ctx: StepContext) -> torch.Tensor:
        return self.truncated(logits, batch.y, self.kept(batch.index)).mean()

    @torch.no_grad()
    def prune(self, model: nn.Module, train_data: Any) -> None:
        """Recompute the mask over ``train_data`` (a LabelledDataset): keep a sample iff its
        p_y > k under ``model`` in eval mode, without gradients; the model's mode is restored."""
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        dtype = param.dtype if param is not None else train_data.x.dtype
        self.kept(train_data.index)  # size the mask to the largest index
        was_training = model.training
        model.eval()
        try:
            for start in range(0, len(train_data), self.eval_batch_size):
                sl = slice(start, start + self.eval_batch_size)
                logits = self.eval_logits(model, move_batch(train_data.x[sl], device, dtype))
                y = train_data.y[sl].to(logits.device)
                p_y = torch.softmax(logits, dim=1).gather(1, y.unsqueeze(1)).squeeze(1)
                self.mask[train_data.index[sl].long()] = (p_y > self.k).cpu()
        finally:
            model.train(was_training)

    def on_epoch_start(self, epoch: int, model: nn.Module, train_data: Any) -> None:
        if self.prunes_at(epoch):
            self.prune(model, train_data)

    def state_dict(self) -> dict[str, Any]:
        return {"mask": self.mask.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        mask = state["mask"]
        if not isinstance(mask, torch.Tensor) or mask.ndim != 1:
            raise ConfigError("gce_truncated state must hold a 1-D 'mask' tensor")
        self.mask = mask.to("cpu", torch.bool).clone()


class SymmetricCrossEntropy(LossObjective):
    """Symmetric cross-entropy α·CE + β·RCE, RCE = −A·(1 − p_y) (Wang et al., ICCV 2019).

    "Symmetric cross entropy for robust learning with noisy labels" (Wang, Ma, Chen, Luo, Yi,
    Bailey, ICCV 2019, arXiv:1908.06112):

        ℓ(z, y) = α·CE + β·RCE,    CE = −log p_y,
        RCE = −Σ_c p_c log q_c = −A·(1 − p_y)

    where q = onehot(y) and the reverse cross-entropy needs log 0, which the paper replaces by
    the constant ``A`` < 0 (log q_y = log 1 = 0 for the true class). RCE is computed as
    −A·Σ_{c≠y} p_c, exactly; the authors' code also clips p at 1e-7, which changes the value
    only where some p_c < 1e-7 (by at most |A|·(C − 1)·1e-7) and zeroes those gradients.

    Note on ``A``: the paper states A = −4, which is the default. The authors' code (YisenWang/
    symmetric_cross_entropy_for_noisy_labels, ``loss.py``) clips the one-hot target at 1e-4 and
    takes the *natural* log, so the constant it trains with is ln(1e-4) ≈ −9.21 (the paper's
    −4 is log₁₀ 1e-4; ``../shared/research/objectives.md`` §5.3). Pass ``A=math.log(1e-4)`` to
    match the code, with which the published α, β were tuned; the two differ only by a rescaling
    of β (β·4 vs β·9.21).

    Args:
        alpha: weight α of CE (default 0.1, the CIFAR-10 setting of the official
            ``train_models.py``; it uses 0.01 for MNIST and 6.0 for CIFAR-100).
        beta: weight β of RCE (default 1.0, the CIFAR-10 and MNIST setting; 0.1 for CIFAR-100).
        A: the value that replaces log 0, < 0 (default −4, the paper).

    Example:
        >>> SymmetricCrossEntropy(alpha=0.0, beta=1.0)(torch.zeros(1, 4), torch.tensor([0])).item()
        3.0
    """

    name: ClassVar[str] = "sce"

    def __init__(self, alpha: float = 0.1, beta: float = 1.0, A: float = -4.0) -> None:
        self.alpha = finite("alpha", alpha)
        self.beta = finite("beta", beta)
        self.A = finite("A", A)
        if self.alpha < 0 or self.beta < 0 or not self.alpha + self.beta > 0:
            raise ConfigError(f"alpha and beta must be >= 0 and not both 0, got alpha={alpha}, "
                              f"beta={beta}")
        if not self.A < 0:
            raise ConfigError(f"A stands for log 0 and must be negative, got {A}")

    def params(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "beta": self.beta, "A": self.A}

    def per_sample(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        check(logits, targets)
        log_py, log_1mpy = log_p_and_log_1mp(logits, targets)
        return self.alpha * -log_py + self.beta * -self.A * torch.exp(log_1mpy)


class IMAE(LossObjective):
    """IMAE: CE's gradient reweighted per sample by exp(T·p_y(1 − p_y)) (Wang et al., 2019).

    Default ``direction="ce"``: ∂ℓ/∂z = exp(T·v)·(p − onehot(y)) (see *Stability* below for why,
    and for the paper's literal ``direction="normalised"``).

    "Improving MAE against CCE under label noise" (Wang, Kodirov, Hua, Robertson,
    arXiv:1903.12141, 2019; later versions titled "IMAE for noise-robust learning: mean absolute
    error does not treat examples equally and gradient magnitude's variance matters"), here as
    the published, public member of the *exponentially weighted cross-entropy* family.

    **Stand-in.** The "Improved Categorical Cross-Entropy" paper (Li et al., PRCV 2021, LNCS
    13022, doi:10.1007/978-3-030-88013-2_7) describes a CE whose weighting "is adjusted by an
    exponential item" of the predicted probabilities, but its exact formula is not public (the
    chapter is paywalled and no code exists; ``../shared/research/objectives.md`` §1). This class
    is *not* that loss and is not named after it: it is IMAE, the closest published loss of that
    family.

    Definition (by its gradient, as in the paper): with p = softmax(z) and v = p_y(1 − p_y), the
    L1 norm of MAE's gradient with respect to the logits is proportional to v, and IMAE replaces
    that per-sample gradient magnitude by exp(T·v) while keeping MAE's (and CE's) direction:

        ∂ℓ/∂z = exp(T·v) · (p − onehot(y)) / ‖p − onehot(y)‖₁
              = [exp(T·v) / (2(1 − p_y))] · ∂CE/∂z

    i.e. CE whose per-sample gradient is rescaled by a weight depending on p_y only. Samples with
    p_y near ½ get the largest weight, e^{T/4}; fitted (p_y → 1) and badly misfitted (p_y → 0)
    samples both get 1, so T sets the variance of the weights, not which samples they favour.

    The loss value is the exact potential of that gradient (so values, gradients and Hessians
    agree, as landscape measurements need), normalised to 0 at p_y = ½:

        ℓ(z, y) = ½·log((1 − p_y)/p_y) − ½·Σ_{n≥1} (Tⁿ/n!) ∫_{½}^{p_y} (s(1 − s))^{n−1} ds

    (its derivative in p_y is −exp(T·v)/(2v)). The series is summed to float64 precision; the
    integrals follow from I_m = (t·vᵐ + (m/2)·I_{m−1})/(2m + 1), I_0 = t = p_y − ½ (v = ¼ − t²),
    computed as J_m = 4ᵐ·I_m so that no term overflows. Note
    that the value is unbounded below (≈ ½·log(1 − p_y) as p_y → 1) and the gradient never
    vanishes: it is a loss defined for its gradient, like the paper's.

    **Stability.** Because the gradient magnitude never vanishes (it tends to 1 as p_y → 1, where
    CE's vanishes), fitted samples keep pushing their logits outward for ever. Measured on digits
    (MLP 64-64-64-10, SGD lr 0.05 or 0.01, with or without weight decay 5e-4), training reached
    85 % test accuracy and then collapsed to constant outputs (10 %) within 10-20 epochs.
    ``direction="ce"`` is the bounded variant that the notes describe for a third-party
    reimplementation, "CE whose per-sample gradient is rescaled by the detached weight":

        ∂ℓ/∂z = exp(T·v) · (p − onehot(y)),
        ℓ(z, y) = −log p_y + ∫_{p_y}^{1} (exp(T·s(1 − s)) − 1)/s ds,

    the exact potential again (ℓ ≥ 0, = 0 at p_y = 1, = CE at T = 0), whose gradient vanishes on
    fitted samples like CE's; the integral's integrand is smooth on [0, 1] and is summed by
    128-point Gauss–Legendre quadrature in float64 (exact to float64 precision for T ≤ 100).
    It keeps IMAE's weight and its ratio between samples (uncertain samples e^{T/4} times the
    confident ones), on CE's gradient instead of MAE's direction; it is not the paper's exact
    rule, and says so in its name (``describe()`` records ``direction``).

    Caveats: the authors' Caffe layer ("UnifiedWeightLoss") was not found in the stored code, so
    two details are not verified: the form of the weight was read from the notes (which mark it
    as recalled/partial) and from the paper's abstract; and the authors may normalise the weights
    over each mini-batch (as their later "derivative manipulation" work does), which would only
    rescale each step by a batch-dependent factor. This implementation does not normalise.

    Args:
        direction: ``"ce"`` (default: CE's gradient times the detached weight exp(T·v), the
            implementation the notes specify, ``objectives.md`` §1; bounded below and stable,
            see *Stability*) or ``"normalised"`` (the literal reading of the paper's
            definition above: MAE's direction with ‖∂ℓ/∂z‖₁ = exp(T·v); collapses in our
            training budgets).
        T: temperature of the exponential weight, 0 ≤ T ≤ 100 (default 8). Source: the authors'
            repository XinshaoAmosWang/Improving-Mean-Absolute-Error-against-CCE runs CIFAR-100
            with 40 % (and 20 %) label noise with the net ``IMAE_Code/
            CIFAR100_ResNet44_V03_lambda1/Res44_USW_Beta08_lambda1/train.prototxt`` (see
            ``train_Res44_USW_Beta08_lambda1_0.4/train.m``), whose loss layer is
            ``UnifiedWeightLoss {lamda_p: 1.0, scale: 8}``; reading ``scale`` as T (and
            ``lamda_p`` as an exponent on p_y, 1 here) is our inference. The notes also call
            T ≈ 8 typical for noisy labels (after a third-party reimplementation), and the paper
            sweeps T. T = 0 gives every sample the same gradient magnitude.

    Example:
        >>> IMAE(T=8, direction="normalised")(torch.zeros(1, 2), torch.tensor([0])).item()
        0.0
        >>> round(IMAE(T=0)(torch.zeros(1, 2), torch.tensor([0])).item(), 6)  # = CE = log 2
        0.693147
    """

    name: ClassVar[str] = "imae"

    def __init__(self, T: float = 8.0, direction: str = "ce") -> None:
        if direction not in ("normalised", "ce"):
            raise ConfigError(f"direction must be 'normalised' or 'ce', got {direction!r}")
        self.direction = direction
        self.T = finite("T", T)
        if not 0 <= self.T <= 100:
            raise ConfigError(f"T must lie in [0, 100], got {T}")
        # Coefficients (Tⁿ/n!)·4^{1−n} of the series in the scaled integrals J_m = 4ᵐ·I_m (each
        # |J_m| ≤ ½, so nothing overflows in float32), until the terms fall below float64
        # resolution relative to their sum, which is at most 2(e^{T/4} − 1).
        self._coefficients: list[float] = []
        coefficient, total = 4.0, 2.0 * math.expm1(self.T / 4.0)
        for n in range(1, 1000):
            coefficient *= self.T / (4.0 * n)
            if 0.5 * coefficient <= 1e-18 * max(total, 1.0):
                break
            self._coefficients.append(coefficient)

    def params(self) -> dict[str, Any]:
        return {"T": self.T, "direction": self.direction}

    def per_sample(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        check(logits, targets)
        log_py, log_1mpy = log_p_and_log_1mp(logits, targets)
        if self.direction == "ce":
            return self._ce_direction(log_py, log_1mpy)
        t = 0.5 * (torch.exp(log_py) - torch.exp(log_1mpy))  # p_y − ½, precise at both ends
        v = torch.exp(log_py + log_1mpy)  # p_y (1 − p_y)
        series = torch.zeros_like(t)
        scaled, power = t, torch.ones_like(v)  # J_0 = I_0 = t, (4v)⁰
        for n, coefficient in enumerate(self._coefficients, start=1):
            if n > 1:
                m = n - 1
                power = power * (4.0 * v)
                scaled = (t * power + 2.0 * m * scaled) / (2 * m + 1)
            series = series + coefficient * scaled
        return 0.5 * (log_1mpy - log_py) - 0.5 * series

    def _ce_direction(self, log_py: torch.Tensor, log_1mpy: torch.Tensor) -> torch.Tensor:
        """``−log p_y + ∫_{p_y}^1 (e^{T s(1−s)} − 1)/s ds`` (Gauss–Legendre, float64)."""
        x, w = _gauss_legendre(log_py.device)
        q = torch.exp(log_1mpy.double())[:, None]          # 1 − p_y, precise near p_y = 1
        s = 1.0 - q * (1.0 - x) / 2                          # nodes on [p_y, 1]
        g = torch.expm1(self.T * s * (1.0 - s)) / s
        tail = (q[:, 0] / 2) * (g * w).sum(1)
        return (-log_py.double() + tail).to(log_py.dtype)


_GL_CACHE: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}


def _gauss_legendre(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """128-point Gauss–Legendre nodes and weights on [−1, 1] (float64, cached per device)."""
    key = str(device)
    if key not in _GL_CACHE:
        import numpy as np

        x, w = np.polynomial.legendre.leggauss(128)
        _GL_CACHE[key] = (torch.tensor(x, dtype=torch.float64, device=device),
                          torch.tensor(w, dtype=torch.float64, device=device))
    return _GL_CACHE[key]
