"""``ldce_approx``: our approximation of LDCE-style confidence estimation for noisy labels.

**This is not LDCE.** LDCE (label-distribution-based confidence estimation) is from Liu, Xu,
Zhang, Geng, "Label Distribution for Learning with Noisy Labels", IJCAI 2020. The paper's code is
not public (none found under its name, title or method; ``../shared/research/objectives.md`` §3)
and its abstract gives neither the label-enhancement procedure nor the learner it is combined
with. What is implemented here is the approximation described in the notes (§3, "Implementable
approximation [ours]"), with label propagation as the label-enhancement step, so it is
registered as ``ldce_approx`` and must never be reported as LDCE.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from scipy.sparse.linalg import cg
from scipy.stats import rankdata
from torch import nn

from landscape.errors import ConfigError, NonFiniteError
from landscape.objectives._softmax import finite
from landscape.objectives.base import Batch, Objective, StepContext

MODES = ("weight", "select")


def detection_auc(confidence: np.ndarray | torch.Tensor,
                  is_clean: np.ndarray | torch.Tensor) -> float:
    """Area under the ROC curve of ``confidence`` as a score for "the observed label is clean".

    The Mann–Whitney statistic P(c_clean > c_noisy) + ½·P(c_clean = c_noisy), from mid-ranks.
    NaN when either group is empty.

    Example:
        >>> detection_auc([0.9, 0.8, 0.1, 0.8], [True, True, False, False])
        0.875
    """
    c = np.asarray(confidence, dtype=np.float64).ravel()
    clean = np.asarray(is_clean, dtype=bool).ravel()
    if c.shape != clean.shape:
        raise ConfigError(f"confidence {c.shape} and is_clean {clean.shape} differ in shape")
    n_pos, n_neg = int(clean.sum()), int((~clean).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(c)
    return float((ranks[clean].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def knn_affinity(features: torch.Tensor, k: int, *, normalize: bool = True,
                 chunk: int = 1024) -> tuple[sp.csr_matrix, float]:
    """Symmetric kNN graph with Gaussian affinities over the rows of ``features`` ``[N, D]``.

    Each sample is joined to its ``k`` nearest other samples (Euclidean, after L2 normalisation
    of the rows when ``normalize``); an edge of length d gets a_ij = exp(−d²/(2σ²)) with σ the
    median length of all kNN edges (the notes' "σ set by the median distance"). The directed
    graph is symmetrised as W = A + Aᵀ (as Iscen et al., CVPR 2019, do), with a zero diagonal.
    Distances are computed in float64, ``chunk`` rows at a time. Returns ``(W, σ)``.
    """
    n = features.shape[0]
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k < n:
        raise ConfigError(f"k must be an integer in [1, {n - 1}] for {n} samples, got {k!r}")
    f = features.detach().to("cpu", torch.float64).flatten(1)
    if normalize:
        f = F.normalize(f, dim=1)
    sq = (f * f).sum(1)
    dists, cols = [], []
    for start in range(0, n, chunk):
        rows = slice(start, start + chunk)
        d2 = (sq[rows, None] + sq[None, :] - 2.0 * f[rows] @ f.T).clamp_min(0.0)
        d2[torch.arange(d2.shape[0]), torch.arange(start, start + d2.shape[0])] = float("inf")
        # ties broken by the smaller index: stable sort on the distance
        order = torch.sort(d2, dim=1, stable=True)
        dists.append(order.values[:, :k])
        cols.append(order.indices[:, :k])
    d2 = torch.cat(dists).numpy()
    col = torch.cat(cols).numpy()
    sigma = float(np.median(np.sqrt(d2)))
    if not sigma > 0:
        sigma = 1.0  # all neighbours coincide: every affinity is 1
    a = np.exp(-d2 / (2.0 * sigma * sigma))
    row = np.repeat(np.arange(n), k)
    directed = sp.csr_matrix((a.ravel(), (row, col.ravel())), shape=(n, n))
    w = (directed + directed.T).tocsr()
    w.setdiag(0.0)
    w.eliminate_zeros()
    return w, sigma


def label_propagation(affinity: Any, labels: np.ndarray | torch.Tensor, num_classes: int, *,
                      alpha: float = 0.99, iterations: int | None = None) -> np.ndarray:
    """Label propagation of Zhou et al. (NeurIPS 2003, "Learning with local and global
    consistency") over a symmetric non-negative affinity matrix W ``[N, N]``.

    With S = D^{−1/2}·W·D^{−1/2} (D the degree matrix) and Y the one-hot observed labels:

    - ``iterations=None``: the fixed point F* = (1 − α)·(I − αS)^{−1}·Y, solved per class
      column by conjugate gradients (I − αS is symmetric positive definite for 0 ≤ α < 1) to a
      relative residual of 1e-12;
    - ``iterations=T``: T steps of F_{t+1} = αS·F_t + (1 − α)·Y from F_0 = Y.

    Returns F ``[N, C]`` (float64, non-negative), not normalised. Isolated nodes (zero degree)
    keep their own label.
    """
    alpha = finite("alpha", alpha)
    if not 0 <= alpha < 1:
        raise ConfigError(f"alpha must lie in [0, 1), got {alpha}")
    if iterations is not None and (isinstance(iterations, bool) or not isinstance(iterations, int)
                                   or iterations < 0):
        raise ConfigError(f"iterations must be None or an integer >= 0, got {iterations!r}")
    w = sp.csr_matrix(affinity, dtype=np.float64)
    n = w.shape[0]
    y_idx = np.asarray(labels, dtype=np.int64).ravel()
    if w.shape != (n, n) or y_idx.shape != (n,):
        raise ConfigError(f"need a square affinity [N, N] and N labels, got {w.shape} and "
                          f"{y_idx.shape}")
    y = np.zeros((n, num_classes))
    y[np.arange(n), y_idx] = 1.0
    degree = np.asarray(w.sum(axis=1)).ravel()
    inv_sqrt = np.zeros(n)
    inv_sqrt[degree > 0] = 1.0 / np.sqrt(degree[degree > 0])
    s = sp.diags(inv_sqrt) @ w @ sp.diags(inv_sqrt)
    if iterations is not None:
        f = y.copy()
        for _ in range(iterations):
            f = alpha * (s @ f) + (1.0 - alpha) * y
        return f
    system = (sp.identity(n, format="csr") - alpha * s).tocsr()
    f = np.empty_like(y)
    for c in range(num_classes):
        b = (1.0 - alpha) * y[:, c]
        if not b.any():
            f[:, c] = 0.0
            continue
        sol, info = cg(system, b, rtol=1e-12, atol=0.0, maxiter=10 * n)
        if info != 0:
            raise NonFiniteError(f"label propagation did not converge (class {c}, info {info})")
        f[:, c] = sol
    return np.clip(f, 0.0, None)  # CG round-off can leave tiny negatives


def label_distribution(f: np.ndarray) -> np.ndarray:
    """Rows of F normalised to sum 1 (the recovered label distributions d_i); an all-zero row
    becomes uniform."""
    total = f.sum(axis=1, keepdims=True)
    out = np.full_like(f, 1.0 / f.shape[1])
    np.divide(f, total, out=out, where=total > 0)
    return out


def penultimate_features(model: nn.Module, x: torch.Tensor, *,
                         batch_size: int = 4096) -> torch.Tensor:
    """The input of the model's final linear layer (``model.out`` when it is an ``nn.Linear``,
    otherwise the last ``nn.Linear`` among ``model.modules()``), in eval mode without gradients;
    the model's mode is restored. Returns ``[N, D]`` on the CPU."""
    head = getattr(model, "out", None)
    if not isinstance(head, nn.Linear):
        linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
        if not linears:
            raise ConfigError("ldce_approx needs a model with a final nn.Linear layer (its input "
                              "is the feature space of the kNN graph)")
        head = linears[-1]
    param = next(model.parameters())
    seen: list[torch.Tensor] = []
    handle = head.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach()))
    was_training = model.training
    model.eval()
    out = []
    try:
        with torch.no_grad():
            for start in range(0, x.shape[0], batch_size):
                seen.clear()
                model(x[start:start + batch_size].to(device=param.device, dtype=param.dtype))
                out.append(seen[-1].flatten(1).cpu())
    finally:
        handle.remove()
        model.train(was_training)
    return torch.cat(out)


class LDCEApprox(Objective):
    """``ldce_approx``: CE weighted (or filtered) by label-propagation confidences of the
    observed labels. Our approximation of LDCE; **not the paper's method**.

    The paper (Liu, Xu, Zhang, Geng, "Label Distribution for Learning with Noisy Labels",
    IJCAI 2020) estimates the confidence of each observed label from a label distribution
    recovered by label enhancement, then trains with "an existing learning algorithm". Its code is
    not public and the abstract gives no algorithmic detail, so this class follows the notes'
    approximation (``../shared/research/objectives.md`` §3, marked [ours] there):

    1. **Warm-up**: plain cross-entropy on the observed labels for epochs
       ``0 … warmup_epochs − 1``.
    2. **Refresh** (before 0-based epoch ``warmup_epochs`` and then every ``refresh_every``
       epochs): features f_i = the input of the final linear layer (:func:`penultimate_features`,
       eval mode) for the whole training set; kNN graph with Gaussian affinities
       (:func:`knn_affinity`: ``k`` neighbours, L2-normalised features when ``normalize``,
       σ = median kNN distance, W = A + Aᵀ); label propagation of the observed one-hot labels
       (:func:`label_propagation`, Zhou et al.'s F* = (1 − α)(I − αS)^{−1}Y, S = D^{−1/2}WD^{−1/2},
       or ``iterations`` steps of F ← αSF + (1 − α)Y from F = Y); label distributions
       d_i = F_i/Σ_c F_ic (the notes' softmax output is replaced by this normalisation; the
       notes allow "a label-propagation closed form" as a substitute for the GLLE fit).
    3. **Confidence** c_i = d_i[ỹ_i], the description degree of the *observed* label.
    4. **Training** after warm-up: ``mode="weight"``: the batch loss is mean_i(w_i·CE_i) with
       w_i = c_i; ``mode="select"``: w_i = 1[c_i ≥ ``threshold``] (a sample below the threshold
       gets no gradient until the next refresh). Samples are looked up by ``batch.index`` (the
       source index), so subsets work; a sample no refresh has seen gets w = 1.

    The confidences, label distributions and the history of detection AUCs are in
    :meth:`state_dict`, so an interrupted run resumes bit for bit. :meth:`detection_auc` measures
    how well the confidences separate clean from noisy labels (``y == y_clean`` vs
    ``y != y_clean``) on the training data; every refresh on data with label noise appends
    ``(epoch, auc)`` to :attr:`auc_history` (NaN on clean data).

    Args:
        warmup_epochs: CE epochs before the first refresh (default 10, ours; the notes say "a few
            epochs").
        k: neighbours per sample (default 10, the notes' "k≈10", itself marked [ours]).
        alpha: propagation α in [0, 1) (default 0.99, the value of Zhou et al. 2003 and of Iscen
            et al., CVPR 2019).
        iterations: ``None`` (default) for the closed form, or the number of propagation steps.
        mode: ``"weight"`` (default, the notes' option (a)) or ``"select"`` (option (b)).
        threshold: τ of ``mode="select"`` (default 0.5, ours: keep a sample whose observed label
            holds at least half of its recovered distribution).
        refresh_every: recompute the confidences every this many epochs after warm-up
            (default 5, ours).
        normalize: L2-normalise the features before the kNN search (default True, ours, as Iscen
            et al. use cosine similarity of normalised features).

    Not implemented: the GLLE optimisation itself (a fitted linear/kernel model g with a
    Laplacian penalty), the top-(1 − η̂) selection and co-teaching of option (b).
    """

    name: ClassVar[str] = "ldce_approx"
    eval_batch_size: ClassVar[int] = 4096

    def __init__(self, warmup_epochs: int = 10, k: int = 10, alpha: float = 0.99,
                 iterations: int | None = None, mode: str = "weight", threshold: float = 0.5,
                 refresh_every: int = 5, normalize: bool = True) -> None:
        for label, value, low in (("warmup_epochs", warmup_epochs, 0), ("k", k, 1),
                                  ("refresh_every", refresh_every, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"{label} must be an integer >= {low}, got {value!r}")
        self.alpha = finite("alpha", alpha)
        if not 0 <= self.alpha < 1:
            raise ConfigError(f"alpha must lie in [0, 1), got {alpha}")
        if iterations is not None and (isinstance(iterations, bool)
                                       or not isinstance(iterations, int) or iterations < 0):
            raise ConfigError(f"iterations must be None or an integer >= 0, got {iterations!r}")
        if mode not in MODES:
            raise ConfigError(f"mode must be one of {MODES}, got {mode!r}")
        self.threshold = finite("threshold", threshold)
        if not 0 <= self.threshold <= 1:
            raise ConfigError(f"threshold must lie in [0, 1], got {threshold}")
        self.warmup_epochs = warmup_epochs
        self.k = k
        self.iterations = iterations
        self.mode = mode
        self.refresh_every = refresh_every
        self.normalize = bool(normalize)
        self.confidence = torch.full((0,), float("nan"), dtype=torch.float64)
        self.distribution = torch.zeros((0, 0), dtype=torch.float64)
        self.auc_history: list[tuple[int, float]] = []

    def params(self) -> dict[str, Any]:
        return {"warmup_epochs": self.warmup_epochs, "k": self.k, "alpha": self.alpha,
                "iterations": self.iterations, "mode": self.mode, "threshold": self.threshold,
                "refresh_every": self.refresh_every, "normalize": self.normalize}

    # -- schedule and weights ------------------------------------------------------------------
    def refreshes_at(self, epoch: int) -> bool:
        """Whether the confidences are recomputed before 0-based ``epoch``."""
        return epoch >= self.warmup_epochs and (epoch - self.warmup_epochs) \
            % self.refresh_every == 0

    def weights(self, index: torch.Tensor) -> torch.Tensor:
        """Per-sample weights (float64, CPU) of the source indices ``index``: 1 where no
        confidence is known yet, else c_i (``"weight"``) or 1[c_i ≥ τ] (``"select"``)."""
        index = index.to("cpu", torch.long)
        out = torch.ones(index.shape, dtype=torch.float64)
        inside = index < len(self.confidence)
        c = self.confidence[index[inside]]
        known = ~torch.isnan(c)
        w = c if self.mode == "weight" else (c >= self.threshold).to(torch.float64)
        values = torch.where(known, w, torch.ones_like(w))
        out[inside] = values
        return out

    def loss(self, logits: torch.Tensor, batch: Batch, ctx: StepContext) -> torch.Tensor:
        ce = F.cross_entropy(logits, batch.y, reduction="none")
        w = self.weights(batch.index).to(device=ce.device, dtype=ce.dtype)
        return (w * ce).mean()

    # -- confidence estimation -----------------------------------------------------------------
    def estimate(self, model: nn.Module, train_data: Any) -> tuple[np.ndarray, np.ndarray]:
        """Label distributions ``[N, C]`` and confidences ``[N]`` of ``train_data``'s rows under
        ``model`` (steps 2–3 above), without storing them."""
        features = penultimate_features(model, train_data.x, batch_size=self.eval_batch_size)
        w, _ = knn_affinity(features, min(self.k, len(train_data) - 1),
                            normalize=self.normalize)
        y = train_data.y.numpy()
        f = label_propagation(w, y, train_data.num_classes, alpha=self.alpha,
                              iterations=self.iterations)
        d = label_distribution(f)
        return d, d[np.arange(len(y)), y]

    def refresh(self, model: nn.Module, train_data: Any, epoch: int = -1) -> float:
        """Recompute and store the confidences of ``train_data`` (indexed by its ``index``);
        returns the clean/noisy detection AUC (NaN without label noise), also appended to
        :attr:`auc_history` with ``epoch``."""
        d, c = self.estimate(model, train_data)
        index = train_data.index.to("cpu", torch.long)
        needed = int(index.max()) + 1 if index.numel() else 0
        classes = train_data.num_classes
        if needed > len(self.confidence) or self.distribution.shape[1] != classes:
            conf = torch.full((max(needed, len(self.confidence)),), float("nan"),
                              dtype=torch.float64)
            conf[: len(self.confidence)] = self.confidence
            dist = torch.zeros((len(conf), classes), dtype=torch.float64)
            if self.distribution.shape[1] == classes:
                dist[: len(self.distribution)] = self.distribution
            self.confidence, self.distribution = conf, dist
        self.confidence[index] = torch.from_numpy(c)
        self.distribution[index] = torch.from_numpy(d)
        auc = detection_auc(c, (train_data.y == train_data.y_clean).numpy())
        self.auc_history.append((int(epoch), auc))
        return auc

    def detection_auc(self, train_data: Any) -> float:
        """AUC of the stored confidences of ``train_data``'s samples as a score for a clean
        label (``y == y_clean``); NaN when no confidence is stored for some sample or the data
        have no noisy (or no clean) label."""
        index = train_data.index.to("cpu", torch.long)
        if index.numel() == 0 or int(index.max()) >= len(self.confidence):
            return float("nan")
        c = self.confidence[index]
        if bool(torch.isnan(c).any()):
            return float("nan")
        return detection_auc(c.numpy(), (train_data.y == train_data.y_clean).numpy())

    def on_epoch_start(self, epoch: int, model: nn.Module, train_data: Any) -> None:
        if self.refreshes_at(epoch):
            self.refresh(model, train_data, epoch)

    # -- state ---------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"confidence": self.confidence.clone(), "distribution": self.distribution.clone(),
                "auc_epochs": torch.tensor([e for e, _ in self.auc_history], dtype=torch.long),
                "auc_values": torch.tensor([a for _, a in self.auc_history],
                                           dtype=torch.float64)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        conf, dist = state.get("confidence"), state.get("distribution")
        if not isinstance(conf, torch.Tensor) or conf.ndim != 1 \
                or not isinstance(dist, torch.Tensor) or dist.ndim != 2:
            raise ConfigError("ldce_approx state must hold a 1-D 'confidence' and a 2-D "
                              "'distribution' tensor")
        self.confidence = conf.to("cpu", torch.float64).clone()
        self.distribution = dist.to("cpu", torch.float64).clone()
        epochs = state.get("auc_epochs", torch.zeros(0, dtype=torch.long)).tolist()
        values = state.get("auc_values", torch.zeros(0, dtype=torch.float64)).tolist()
        self.auc_history = [(int(e), float(a)) for e, a in zip(epochs, values)]
