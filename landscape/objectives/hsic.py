"""The HSIC bottleneck (Ma, Lewis, Kleijn, AAAI 2020): layer-wise training without end-to-end
back-propagation, then a one-layer "format" head trained with cross-entropy, or the unformatted
read-out.

The estimators (:func:`gaussian_kernel`, :func:`hsic`, :func:`normalized_hsic`, in
:mod:`landscape.objectives._hsic_estimators` and importable from here) follow the authors' code
choasma/HSIC-bottleneck (``source/hsicbt/math/hsic.py``); the procedure is
:class:`HSICBottleneck`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from landscape.errors import ConfigError, NonFiniteError
from landscape.objectives._hsic_estimators import (  # noqa: F401  (re-exported)
    flat,
    gaussian_kernel,
    greedy_class_units,
    hsic,
    normalized_hsic,
)
from landscape.objectives._softmax import finite
from landscape.objectives.base import Batch, Objective, StepContext, StepOutput
from landscape.objectives.sam import preserved_batchnorm_stats


def _block_forward(block: nn.Module, h: torch.Tensor) -> torch.Tensor:
    for layer in block.children():  # the MLP's own order: linear → (bn) → act → (dropout)
        h = layer(h)
    return h


def _norm_layers(module: nn.Module) -> list[nn.modules.batchnorm._NormBase]:
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._NormBase)]


def hsic_parameters(block: nn.Module) -> list[nn.Parameter]:
    """The parameters of ``block`` that the HSIC stage trains: all but the affine γ, β of its
    normalisation layers.

    The authors' blocks are Linear → ``BatchNorm1d(affine=False)`` → activation
    (``model/block.py``, ``makeblock_dense``), and ``train_hsic.py`` optimises exactly two tensors
    per block, the linear weight and bias. Leaving γ = 1, β = 0 of an affine BatchNorm at their
    initial values computes the same function.
    """
    skip = {id(p) for m in _norm_layers(block) for p in m.parameters(recurse=False)}
    return [p for p in block.parameters() if p.requires_grad and id(p) not in skip]


@torch.no_grad()
def recompute_batchnorm_stats(blocks: list[nn.Module], x: torch.Tensor, batch_size: int) -> None:
    """Reset the running statistics of the BatchNorm layers in ``blocks`` and recompute them on
    ``x`` as the equal-weight average over its consecutive full batches of ``batch_size`` (the
    incomplete last batch is used only when there is no full one), as
    ``torch.optim.swa_utils.update_bn`` does.

    ``blocks`` run in order on the flattened ``x``; only the normalisation layers are in train mode
    (batch statistics, as during training), the rest (dropout) in eval mode. Draws no random
    numbers; the modes are restored afterwards.
    """
    norms = [m for b in blocks for m in _norm_layers(b) if m.track_running_stats]
    if not norms or len(x) == 0:
        return
    modes = [(m, m.training) for b in blocks for m in b.modules()]
    momenta = [m.momentum for m in norms]
    starts = list(range(0, max(len(x) - batch_size + 1, 1), batch_size))
    try:
        for block in blocks:
            block.eval()
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average
            m.train()
        for start in starts:
            h = flat(x[start:start + batch_size])
            for block in blocks:
                h = _block_forward(block, h)
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        for m, mode in modes:
            m.training = mode


class HSICBottleneck(Objective):
    """HSIC bottleneck: layer-wise training without back-propagation, then a CE format head.

    Ma, Lewis, Kleijn, "The HSIC Bottleneck: Deep Learning without Back-Propagation", AAAI 2020,
    arXiv:1908.01580; code choasma/HSIC-bottleneck.

    **HSIC stage** (epochs ``0 … hsic_epochs − 1``): every hidden block Z_i = ``model.hidden[i]``
    (linear → (BatchNorm) → activation of :class:`landscape.models.MLP`) is trained on its own
    objective, with no gradient crossing blocks,

        L_i = nHSIC(Z_i, X) − β·nHSIC(Z_i, Y)

    (:func:`normalized_hsic`, Gaussian kernels of width σ·√d for each variable: X the raw flattened
    input, Y the one-hot observed label, Z_i the block's output). Per batch, blocks are trained
    in order, each on the output of the blocks before it *after* their update (the code re-runs
    the forward pass for each block); block i's input is detached and it has its own SGD
    optimiser (lr ``hsic_lr``, ``momentum``, ``weight_decay``) over its parameters except the
    BatchNorm γ, β (:func:`hsic_parameters`: the code's blocks have ``affine=False``), whose
    state is in :meth:`state_dict`. The output head ``model.out`` and the training optimiser are
    not used. The reported training loss is Σ_i L_i.

    **BatchNorm running statistics.** The blocks are evaluated (format stage, read-outs, test
    accuracy) in eval mode, i.e. with the running statistics. The code runs a full forward pass
    of the net in train mode 1 + (number of blocks) times per batch, so with momentum 0.1 over
    its ≥ 117 batches per epoch the running statistics are those of the final weights. Ours are
    updated once per batch, which on a small training set (6–8 batches per epoch) leaves them
    dominated by their initial value (variance 1) and shrinks every eval-mode feature (feature
    std 0.2 instead of 0.6 on a 2000-sample Fashion-MNIST subset; the format head then trains
    far more slowly: 0.65 instead of 0.87 test accuracy on digits). So whenever the blocks
    changed, before they are next evaluated or frozen for the format stage, their statistics are
    recomputed on the training inputs at the current weights (:func:`recompute_batchnorm_stats`,
    batches of the HSIC batch size): what the code's estimates converge to.

    **Format stage** (``readout="format"``, epochs ≥ ``hsic_epochs``): the hidden blocks are
    frozen and run in eval mode; the head ``model.out`` (one linear layer) is trained with
    cross-entropy by the training optimiser of :class:`~landscape.train.TrainConfig` (the code's
    format training: SGD, lr 0.005, weight decay 1e-3, no momentum, batch 256 — set them there).
    Evaluation uses ``model(x)``.

    **Unformatted read-out** (``readout="unformatted"``, every epoch is an HSIC epoch): the
    logit of class c is the activation of the last hidden unit assigned to c by
    :func:`greedy_class_units` from the per-class mean activations on the *training* data (the
    code recomputes the map on each split, test included; we fit it on the training set only).
    The last hidden layer needs at least C units (the paper's has exactly C). The map is
    recomputed whenever the weights changed since it was last computed; before training has
    seen data (the evaluation of the initialisation) it is the identity, units 0 … C − 1.

    Args:
        sigma: kernel width σ > 0, scaled by √d per variable (default 5, the code's
            general-MLP config and the paper's; its unformatted experiments use 6).
        beta: β ≥ 0, weight of the label term (the code's ``lambda_y``; default 50, the code's
            general-MLP config; the unformatted experiments use 200–2500). The code's
            ``lambda_x`` is unused there and is 1 here.
        epsilon: ε > 0 of the normalised HSIC (default 1e-5, the code's ``hsic_normalized_cca``).
        hsic_lr: learning rate of the per-block SGD (default 1e-4, the code's general-MLP
            config with batch 512; its unformatted 5-layer runs use 1e-3).
        momentum: momentum of the per-block SGD (default 0. The code builds a fresh
            SGD(momentum 0.9) at every step, so its momentum never accumulates, which is plain
            SGD; a positive value here accumulates across steps, our extension).
        weight_decay: weight decay of the per-block SGD (default 1e-3, the code).
        hsic_epochs: number of HSIC epochs before the format stage (default 5, the code's
            config; ignored with ``readout="unformatted"``).
        readout: ``"format"`` (default, the paper's main protocol) or ``"unformatted"``.

    The model must have ``model.hidden`` (a sequence of blocks) and ``model.out`` (the head), as
    :class:`landscape.models.MLP` has. Not implemented: the median-distance σ fallback of the code
    (σ = None) and the σ-combined ensemble.
    """

    name: ClassVar[str] = "hsic_bottleneck"
    READOUTS: ClassVar[tuple[str, ...]] = ("format", "unformatted")

    def __init__(self, sigma: float = 5.0, beta: float = 50.0, epsilon: float = 1e-5,
                 hsic_lr: float = 1e-4, momentum: float = 0.0, weight_decay: float = 1e-3,
                 hsic_epochs: int = 5, readout: str = "format") -> None:
        self.sigma = finite("sigma", sigma)
        self.beta = finite("beta", beta)
        self.epsilon = finite("epsilon", epsilon)
        self.hsic_lr = finite("hsic_lr", hsic_lr)
        self.momentum = finite("momentum", momentum)
        self.weight_decay = finite("weight_decay", weight_decay)
        if not (self.sigma > 0 and self.epsilon > 0 and self.hsic_lr > 0):
            raise ConfigError(f"sigma, epsilon and hsic_lr must be positive, got {sigma}, "
                              f"{epsilon}, {hsic_lr}")
        if self.beta < 0 or self.weight_decay < 0 or not 0 <= self.momentum < 1:
            raise ConfigError(f"need beta >= 0, weight_decay >= 0 and momentum in [0, 1), got "
                              f"{beta}, {weight_decay}, {momentum}")
        if isinstance(hsic_epochs, bool) or not isinstance(hsic_epochs, int) or hsic_epochs < 0:
            raise ConfigError(f"hsic_epochs must be an integer >= 0, got {hsic_epochs!r}")
        if readout not in self.READOUTS:
            raise ConfigError(f"readout must be one of {self.READOUTS}, got {readout!r}")
        self.hsic_epochs = hsic_epochs
        self.readout = readout
        self.stage = "hsic"
        self.last_layer_losses: list[float] = []
        self._optimizers: list[torch.optim.Optimizer] = []
        self._model_id: int | None = None
        self._pending: list[dict[str, Any]] | None = None
        self._train_data: Any = None
        self._version = 0
        self._units: torch.Tensor | None = None
        self._units_version = -1
        self._stats_version = 0  # blocks version whose BatchNorm statistics were recomputed
        self._batch_size = 0  # the largest HSIC batch seen: the recomputation's batch size

    def params(self) -> dict[str, Any]:
        return {"sigma": self.sigma, "beta": self.beta, "epsilon": self.epsilon,
                "hsic_lr": self.hsic_lr, "momentum": self.momentum,
                "weight_decay": self.weight_decay, "hsic_epochs": self.hsic_epochs,
                "readout": self.readout}

    # -- the model and the per-block optimisers ------------------------------------------------
    @staticmethod
    def _blocks(model: nn.Module) -> list[nn.Module]:
        hidden = getattr(model, "hidden", None)
        if not isinstance(hidden, (nn.ModuleList, nn.Sequential)) or len(hidden) == 0 \
                or not isinstance(getattr(model, "out", None), nn.Module):
            raise ConfigError("the HSIC bottleneck needs a model with hidden blocks "
                              "`model.hidden` (at least one) and a head `model.out`, such as "
                              "landscape.models.MLP with depth >= 1")
        return list(hidden)

    def _setup(self, model: nn.Module) -> None:
        if self._model_id == id(model) and self._optimizers:
            return
        self._optimizers = [
            torch.optim.SGD(hsic_parameters(block), lr=self.hsic_lr,
                            momentum=self.momentum, weight_decay=self.weight_decay)
            for block in self._blocks(model)]
        self._model_id = id(model)
        if self._pending:  # an empty list: saved before the first epoch, nothing to load
            if len(self._pending) != len(self._optimizers):
                raise ConfigError(f"stored HSIC state has {len(self._pending)} block optimisers, "
                                  f"the model has {len(self._optimizers)} blocks")
            for opt, state in zip(self._optimizers, self._pending):
                opt.load_state_dict(state)
        self._pending = None

    def stage_of(self, epoch: int) -> str:
        """``"hsic"`` or ``"format"``: the stage of 0-based ``epoch``."""
        if self.readout == "unformatted" or epoch < self.hsic_epochs:
            return "hsic"
        return "format"

    def on_epoch_start(self, epoch: int, model: nn.Module, train_data: Any) -> None:
        self._setup(model)
        self._train_data = train_data
        self.stage = self.stage_of(epoch)
        if self.stage == "format":
            self.sync_batchnorm_stats(model)

    def sync_batchnorm_stats(self, model: nn.Module) -> None:
        """Recompute the blocks' BatchNorm running statistics on the training inputs if the
        blocks changed since they were last recomputed (see the class docstring)."""
        if self._stats_version == self._version or self._train_data is None:
            return
        param = next(model.parameters())
        x = self._train_data.x.to(param.device, param.dtype)
        recompute_batchnorm_stats(self._blocks(model), x, self._batch_size or 256)
        self._stats_version = self._version

    def set_readout_data(self, train_data: Any) -> None:
        """The data the unformatted read-out fits its class → unit map on (set by training)."""
        self._train_data = train_data

    # -- training steps ------------------------------------------------------------------------
    def training_step(self, batch: Batch, ctx: StepContext) -> StepOutput:
        self._setup(ctx.model)
        if self.stage == "format":
            return self._format_step(batch, ctx)
        return self._hsic_step(batch, ctx)

    def _check(self, loss: torch.Tensor, ctx: StepContext, what: str) -> None:
        if not torch.isfinite(loss):
            raise NonFiniteError(f"the {what} loss became {loss.item()} at epoch {ctx.epoch}, "
                                 f"step {ctx.step}: lower the learning rate or raise sigma")

    def _hsic_step(self, batch: Batch, ctx: StepContext) -> StepOutput:
        x = flat(batch.x)
        y = F.one_hot(batch.y, ctx.num_classes).to(x.dtype)
        h = x
        losses = []
        self._batch_size = max(self._batch_size, len(x))
        for i, (block, opt) in enumerate(zip(self._blocks(ctx.model), self._optimizers)):
            opt.zero_grad(set_to_none=True)
            z = _block_forward(block, h.detach())
            loss = normalized_hsic(z, x, self.sigma, self.epsilon) \
                - self.beta * normalized_hsic(z, y, self.sigma, self.epsilon)
            self._check(loss, ctx, f"HSIC (block {i})")
            loss.backward()
            opt.step()
            losses.append(loss.detach())
            with torch.no_grad(), preserved_batchnorm_stats(block):
                h = _block_forward(block, h)  # the updated block's output feeds the next one
        self._version += 1
        self.last_layer_losses = [float(v) for v in losses]
        with torch.no_grad():
            logits = ctx.model.out(h)
        return StepOutput(torch.stack(losses).sum(), logits.detach())

    @staticmethod
    def _frozen_features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        blocks = HSICBottleneck._blocks(model)
        modes = [b.training for b in blocks]
        try:
            with torch.no_grad():
                h = flat(x)
                for block in blocks:
                    block.eval()
                    h = _block_forward(block, h)
        finally:
            for block, mode in zip(blocks, modes):
                block.train(mode)
        return h

    def _format_step(self, batch: Batch, ctx: StepContext) -> StepOutput:
        h = self._frozen_features(ctx.model, batch.x)
        ctx.optimizer.zero_grad(set_to_none=True)
        logits = ctx.model.out(h)
        loss = F.cross_entropy(logits, batch.y)
        self._check(loss, ctx, "format-layer cross-entropy")
        loss.backward()
        ctx.optimizer.step()
        return StepOutput(loss.detach(), logits.detach())

    # -- read-out ------------------------------------------------------------------------------
    def class_units(self, model: nn.Module, data: Any) -> torch.Tensor:
        """The unformatted read-out's class → unit map fitted on ``data`` (a
        :class:`~landscape.data.LabelledDataset`, observed labels), ``[C]``."""
        param = next(model.parameters())
        h = torch.cat([self._frozen_features(model, data.x[i:i + 4096].to(param.device,
                                                                            param.dtype))
                       for i in range(0, len(data), 4096)]).double().cpu()
        c = data.num_classes
        sums = torch.zeros(c, h.shape[1], dtype=torch.float64).index_add_(0, data.y, h)
        counts = torch.bincount(data.y, minlength=c).double()
        return greedy_class_units(sums / counts[:, None])

    def eval_logits(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        self.sync_batchnorm_stats(model)
        if self.readout == "format":
            return model(x)
        if self._units is None or self._units_version != self._version:
            if self._train_data is None:  # before training saw data: units 0 … C − 1
                logits = self._frozen_features(model, x)
                return logits[:, :self._num_classes(model)]
            self._units = self.class_units(model, self._train_data)
            self._units_version = self._version
        return self._frozen_features(model, x)[:, self._units.to(x.device)]

    @staticmethod
    def _num_classes(model: nn.Module) -> int:
        out = model.out
        if isinstance(out, nn.Linear):
            return out.out_features
        raise ConfigError("set_readout_data(train_data) before the unformatted read-out")

    # -- state ---------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        layers = ([opt.state_dict() for opt in self._optimizers] if self._optimizers
                  else list(self._pending or []))
        return {"stage": self.stage, "layers": layers, "version": self._version,
                "stats_version": self._stats_version, "batch_size": self._batch_size}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.stage = state.get("stage", self.stage)
        self._version = int(state.get("version", 0))
        self._stats_version = int(state.get("stats_version", 0))
        self._batch_size = int(state.get("batch_size", 0))
        self._pending = list(state.get("layers", []))
        self._optimizers = []
        self._model_id = None
