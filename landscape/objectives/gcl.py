"""Gaussian clouded logit adjustment (GCL) for long-tailed classification (Li, Cheung, Lu,
CVPR 2022): a perturbed cosine-logit cross-entropy, then classifier re-training with
class-balanced effective-number re-sampling on a frozen backbone."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from landscape._seeding import torch_generator
from landscape.errors import ConfigError, NonFiniteError
from landscape.objectives._softmax import finite
from landscape.objectives.base import Batch, Objective, StepContext, StepOutput
from landscape.objectives.long_tail import _counts, balanced_accuracy

SAMPLERS = ("cbenrs", "effective_number", "balanced")


def cloud_sizes(class_counts: Sequence[int] | np.ndarray | torch.Tensor) -> torch.Tensor:
    """Normalised per-class cloud sizes â_c = a_c / max_c a_c, a_c = log n_max − log n_c.

    0 for the most frequent class, 1 for the rarest (all 0 when the counts are equal). Float64
    ``[C]``; classes with n_c = 0 get 0 (they have no samples to perturb).
    """
    n = torch.as_tensor(np.asarray(class_counts, dtype=np.float64))
    a = torch.zeros_like(n)
    present = n > 0
    if bool(present.any()):
        logn = torch.log(n[present])
        a[present] = logn.max() - logn
    top = float(a.max()) if a.numel() else 0.0
    return a / top if top > 0 else a


def sampler_class_weights(class_counts: Sequence[int] | np.ndarray | torch.Tensor,
                          kind: str = "cbenrs") -> torch.Tensor:
    """Per-class sampling weight (unnormalised, float64 ``[C]``) of the stage-2 sampler.

    - ``"cbenrs"`` (the paper's class-based effective-number sampling, code ``CBEffectNumSampler``):
      β_c = 0.9999 + 1e-5·δ_c with δ_c the min-max normalised log n_max − log n_c (which is
      :func:`cloud_sizes`), weight (1 − β_c)/(1 − β_c^{n_c});
    - ``"effective_number"`` (Cui et al. 2019, code ``EffectNumSampler``): the same with β = 0.9999;
    - ``"balanced"`` (the code's default ``BalancedDatasetSampler``): 1/n_c.

    Classes with n_c = 0 get weight 0.
    """
    if kind not in SAMPLERS:
        raise ConfigError(f"sampler must be one of {SAMPLERS}, got {kind!r}")
    n = torch.as_tensor(np.asarray(class_counts, dtype=np.float64))
    present = n > 0
    if kind == "balanced":
        w = 1.0 / n
    else:
        beta = 0.9999 + (1e-5 * cloud_sizes(n) if kind == "cbenrs" else 0.0)
        w = (1.0 - beta) / (1.0 - torch.pow(beta, n))
    return torch.where(present, w, torch.zeros_like(w))


class GCL(Objective):
    """Gaussian clouded logit adjustment: perturbed cosine-logit CE, then balanced re-training.

    Li, Cheung, Lu, "Long-tailed Visual Recognition via Gaussian Clouded Logit Adjustment",
    CVPR 2022, arXiv:2305.11733; code Keke921/GCLLoss.

    **Cosine classifier.** The logits are cos_ij = ⟨f_i/‖f_i‖, w_j/‖w_j‖⟩ of the input f of the
    model's head ``model.out`` (a linear layer, whose bias is unused) and its weight rows (the
    code's ``NormedLinear``); the model must have an ``out`` linear head
    (:class:`landscape.models.MLP`, :class:`~landscape.models.LeNet`).

    **Perturbed logits** (code ``GCLLoss``): for every sample i and class j,

        ĉ_ij = cos_ij − λ·|ε_ij|·â_j − m·1[j = y_i],   ε_ij ~ N(0, (1/3)²) clamped to [−1, 1],

    with cloud sizes â_j = (log n_max − log n_j)/max_k(log n_max − log n_k) (:func:`cloud_sizes`),
    fresh noise at every step; the loss is the cross-entropy of s·ĉ. Tail classes get larger,
    always-negative perturbations.

    **Stage 1** (epochs ``0 … stage1_epochs − 1``): the whole network is trained with CE(s·ĉ)
    (s = ``s``, m = ``m``) by the training optimiser, with natural (uniform) sampling.

    **Stage 2** (later epochs): the backbone is frozen (eval mode, no gradients: only the head
    ``model.out`` moves), the head's optimiser state is reset when the stage starts (the code
    builds a new optimiser), the loss is the focal version (1 − p_y)^γ·CE(s₂·ĉ, y) with the focal
    weight detached (``train_cls=True``), and samples are re-drawn with replacement (N per epoch)
    with the class weights of :func:`sampler_class_weights` (``sampler``).

    **Evaluation** uses the unperturbed logits s·cos (s of the current stage) and reports
    balanced accuracy through :meth:`balanced_accuracy`. Not implemented: the code's mixup
    (α = 1 by default there) and its separate learning-rate schedules per stage (both stages use
    :class:`~landscape.train.TrainConfig`'s optimiser and schedule here).

    Args:
        class_counts: training-set count per class n_c (required; ``landscape train`` fills in
            the training set's counts).
        s: logit scale of stage 1 (default 30, the code's ``cifar_train_backbone.py``).
        m: additive target margin of stage 1 (default 0, the same).
        noise_mul: λ, the cloud-size multiplier (default 0.5, the code's ``noise_mul`` in both
            stages).
        stage1_epochs: number of stage-1 epochs (default 200, the code's CIFAR schedule, which
            then re-trains the classifier 30 epochs; set it below ``TrainConfig.epochs`` to get
            a stage 2).
        stage2_s: logit scale of stage 2 (default 20, the code's ``cifar_train_classifier.py``).
        stage2_m: target margin of stage 2 (default 0.1, the same).
        gamma: focal exponent γ ≥ 0 of stage 2 (default 1, the same).
        sampler: stage-2 sampler, ``"cbenrs"`` (default, the paper's class-based effective
            number; the code's command-line default is ``"balanced"``), ``"effective_number"``
            or ``"balanced"``.
        seed: ``None`` (default): the noise comes from torch's generator, which
            :func:`~landscape.train.train` seeds per epoch from its ``TrainConfig.seed``; an
            integer: from the stream ``derive_seed(seed, "gcl", epoch, step)``.
    """

    name: ClassVar[str] = "gcl"

    def __init__(self, class_counts: Sequence[int], s: float = 30.0, m: float = 0.0,
                 noise_mul: float = 0.5, stage1_epochs: int = 200, stage2_s: float = 20.0,
                 stage2_m: float = 0.1, gamma: float = 1.0, sampler: str = "cbenrs",
                 seed: int | None = None) -> None:
        self.class_counts = _counts(class_counts)
        self.s = finite("s", s)
        self.m = finite("m", m)
        self.noise_mul = finite("noise_mul", noise_mul)
        self.stage2_s = finite("stage2_s", stage2_s)
        self.stage2_m = finite("stage2_m", stage2_m)
        self.gamma = finite("gamma", gamma)
        if not (self.s > 0 and self.stage2_s > 0):
            raise ConfigError(f"the logit scales s and stage2_s must be positive, got {s}, "
                              f"{stage2_s}")
        if self.noise_mul < 0 or self.gamma < 0:
            raise ConfigError(f"noise_mul and gamma must be >= 0, got {noise_mul}, {gamma}")
        if isinstance(stage1_epochs, bool) or not isinstance(stage1_epochs, int) \
                or stage1_epochs < 0:
            raise ConfigError(f"stage1_epochs must be an integer >= 0, got {stage1_epochs!r}")
        if sampler not in SAMPLERS:
            raise ConfigError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ConfigError(f"seed must be an integer or None, got {seed!r}")
        self.stage1_epochs = stage1_epochs
        self.sampler = sampler
        self.seed = seed
        self.clouds = cloud_sizes(self.class_counts)
        self.stage = 1
        self.head_reset = False

    def params(self) -> dict[str, Any]:
        return {"class_counts": list(self.class_counts), "s": self.s, "m": self.m,
                "noise_mul": self.noise_mul, "stage1_epochs": self.stage1_epochs,
                "stage2_s": self.stage2_s, "stage2_m": self.stage2_m, "gamma": self.gamma,
                "sampler": self.sampler, "seed": self.seed}

    # -- pieces ------------------------------------------------------------------------------
    @staticmethod
    def _head(model: nn.Module) -> nn.Linear:
        head = getattr(model, "out", None)
        if not isinstance(head, nn.Linear):
            raise ConfigError("GCL needs a model whose head `model.out` is an nn.Linear (the "
                              "cosine classifier uses its weight rows), e.g. landscape MLP")
        return head

    def cosine(self, model: nn.Module, x: torch.Tensor, *, frozen: bool = False) -> torch.Tensor:
        """Cosine logits ``[N, C]`` of the features entering ``model.out``; with ``frozen`` the
        backbone runs in eval mode without gradients (only the head's weight gets one)."""
        head = self._head(model)
        seen: list[torch.Tensor] = []
        handle = head.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
        mode = model.training
        try:
            if frozen:
                model.eval()
                with torch.no_grad():
                    model(x)
            else:
                model(x)
        finally:
            handle.remove()
            model.train(mode)
        features = seen[-1].flatten(1)
        if features.shape[1] != head.in_features:
            raise ConfigError("the input of model.out is not its features")
        cos = F.normalize(features, dim=1) @ F.normalize(head.weight, dim=1).T
        if cos.shape[1] != len(self.class_counts):
            raise ConfigError(f"the model has {cos.shape[1]} outputs for "
                              f"{len(self.class_counts)} class counts")
        return cos

    def noise(self, shape: torch.Size, like: torch.Tensor, epoch: int = 0,
              step: int = 0) -> torch.Tensor:
        """ε ~ N(0, (1/3)²) clamped to [−1, 1], drawn as described under ``seed``."""
        gen = torch_generator(self.seed, "gcl", epoch, step) if self.seed is not None else None
        eps = torch.randn(shape, generator=gen, dtype=torch.float64) / 3.0
        return eps.clamp(-1.0, 1.0).to(device=like.device, dtype=like.dtype)

    def perturbed_logits(self, cos: torch.Tensor, targets: torch.Tensor, noise: torch.Tensor,
                         s: float, m: float) -> torch.Tensor:
        """s·(cos − λ·|ε|·â − m·onehot(y)), ``[N, C]``."""
        clouds = self.clouds.to(device=cos.device, dtype=cos.dtype)
        shifted = cos - self.noise_mul * noise.abs() * clouds
        return s * (shifted - m * F.one_hot(targets, cos.shape[1]).to(cos.dtype))

    def stage_of(self, epoch: int) -> int:
        """1 or 2: the stage of 0-based ``epoch``."""
        return 1 if epoch < self.stage1_epochs else 2

    @property
    def scale(self) -> float:
        """The logit scale of the current stage."""
        return self.s if self.stage == 1 else self.stage2_s

    # -- procedure -----------------------------------------------------------------------------
    def on_epoch_start(self, epoch: int, model: nn.Module, train_data: Any) -> None:
        self.stage = self.stage_of(epoch)

    def sampler_weights(self, epoch: int, train_data: Any) -> torch.Tensor | None:
        if self.stage_of(epoch) == 1:
            return None
        per_class = sampler_class_weights(train_data.class_counts, self.sampler)
        return per_class[train_data.y]

    def training_step(self, batch: Batch, ctx: StepContext) -> StepOutput:
        frozen = self.stage == 2
        head = self._head(ctx.model)
        if frozen and not self.head_reset:
            for p in head.parameters():
                ctx.optimizer.state.pop(p, None)
            self.head_reset = True
        ctx.optimizer.zero_grad(set_to_none=True)
        cos = self.cosine(ctx.model, batch.x, frozen=frozen)
        eps = self.noise(cos.shape, cos, ctx.epoch, ctx.step)
        if frozen:
            logits = self.perturbed_logits(cos, batch.y, eps, self.stage2_s, self.stage2_m)
            ce = F.cross_entropy(logits, batch.y, reduction="none")
            loss = ((1.0 - torch.exp(-ce.detach())) ** self.gamma * ce).mean()
        else:
            logits = self.perturbed_logits(cos, batch.y, eps, self.s, self.m)
            loss = F.cross_entropy(logits, batch.y)
        if not torch.isfinite(loss):
            raise NonFiniteError(f"the gcl loss became {loss.item()} at epoch {ctx.epoch}, step "
                                 f"{ctx.step}: lower the learning rate")
        loss.backward()
        ctx.optimizer.step()
        return StepOutput(loss.detach(), (self.scale * cos).detach())

    def eval_logits(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """The unperturbed s·cos (s of the current stage)."""
        return self.scale * self.cosine(model, x)

    def balanced_accuracy(self, model: nn.Module, data: Any, clean: bool = True) -> float:
        """Balanced accuracy of the unperturbed logits on ``data`` (clean labels by default)."""
        param = next(model.parameters())
        mode = model.training
        model.eval()
        try:
            with torch.no_grad():
                logits = torch.cat([self.eval_logits(model, data.x[i:i + 4096].to(
                    param.device, param.dtype)) for i in range(0, len(data), 4096)])
        finally:
            model.train(mode)
        targets = data.y_clean if clean else data.y
        return balanced_accuracy(logits.cpu(), targets, data.num_classes)

    def state_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "head_reset": self.head_reset}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.stage = int(state.get("stage", self.stage))
        self.head_reset = bool(state.get("head_reset", False))

