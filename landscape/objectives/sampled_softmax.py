r"""Sampled-softmax cross-entropy (Jean et al. 2015; Bengio & Senécal 2008) for large item sets.

Each training step draws ``num_negatives`` items from a proposal :math:`Q`, shared by the batch
(as TensorFlow's ``sampled_softmax_loss``), and takes the cross-entropy over the target and the
negatives with the **log-Q correction** (logits :math:`z_v - \log Q(v)`), which makes the
sampled softmax a consistent estimate of the full one; a negative equal to a sample's target
(an accidental hit) is masked out for that sample. With ``num_negatives >= V − 1`` every other
item is a negative and the loss **is** the full cross-entropy (tested).

Proposals: ``"uniform"`` (the correction is then a constant and cancels) or ``"popularity"``,
:math:`Q(v) \propto n_v + 1` from the training targets (read at the first epoch; items seen
often are drawn often and corrected the most).

The sampled loss only shapes training. Evaluation and every measure of the minimum use the full
softmax cross-entropy that it estimates (:meth:`SampledSoftmax.per_sample`), so a sampled-softmax
minimum is measured on the same landscape as a cross-entropy one. Negatives are drawn from
``derive_seed(seed, "sampled_softmax", step)``: a resumed run draws the same ones.

Example:
    >>> import torch
    >>> z, y = torch.randn(4, 6), torch.tensor([0, 3, 5, 1])
    >>> exact = SampledSoftmax(num_negatives=10).sampled(z, y, step=0)
    >>> bool(torch.allclose(exact, torch.nn.functional.cross_entropy(z, y)))
    True
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F

from landscape._seeding import torch_generator
from landscape.errors import ConfigError
from landscape.objectives._softmax import check
from landscape.objectives.base import Batch, LossObjective, StepContext


class SampledSoftmax(LossObjective):
    """Sampled-softmax CE in training, the full CE in evaluation (see the module doc).

    Args:
        num_negatives: negatives per step, shared by the batch. Default 100 (about 5 % of a
            2000-item catalogue; the field uses 100–1000 for 10⁴–10⁶ items).
        proposal: ``"uniform"`` (default) or ``"popularity"``.
        seed: seed of the negatives.
    """

    name: ClassVar[str] = "sampled_softmax"

    def __init__(self, num_negatives: int = 100,
                 proposal: Literal["uniform", "popularity"] = "uniform", seed: int = 0) -> None:
        if isinstance(num_negatives, bool) or int(num_negatives) != num_negatives \
                or num_negatives < 1:
            raise ConfigError(f"num_negatives must be an integer >= 1, got {num_negatives!r}")
        if proposal not in ("uniform", "popularity"):
            raise ConfigError(f"proposal must be 'uniform' or 'popularity', got {proposal!r}")
        self.num_negatives, self.proposal, self.seed = int(num_negatives), proposal, int(seed)
        self._log_q: torch.Tensor | None = None

    def params(self) -> dict[str, Any]:
        return {"num_negatives": self.num_negatives, "proposal": self.proposal, "seed": self.seed}

    def per_sample(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        check(logits, targets, min_classes=2)
        return F.cross_entropy(logits, targets, reduction="none")

    def on_epoch_start(self, epoch: int, model: Any, train_data: Any) -> None:
        if self.proposal == "popularity" and self._log_q is None:
            counts = torch.bincount(train_data.y, minlength=train_data.num_classes).double() + 1
            self._log_q = (counts / counts.sum()).log()

    def loss(self, logits: torch.Tensor, batch: Batch, ctx: StepContext) -> torch.Tensor:
        return self.sampled(logits, batch.y, ctx.step)

    def sampled(self, logits: torch.Tensor, targets: torch.Tensor, step: int) -> torch.Tensor:
        """The sampled-softmax loss of one step (mean over the batch)."""
        check(logits, targets, min_classes=2)
        V = logits.shape[1]
        if self.num_negatives >= V - 1:
            negatives = torch.arange(V, device=logits.device)
            log_q = torch.zeros(V, dtype=logits.dtype, device=logits.device)
        else:
            gen = torch_generator(self.seed, "sampled_softmax", step)
            if self.proposal == "popularity":
                if self._log_q is None or len(self._log_q) != V:
                    raise ConfigError("the popularity proposal needs the training targets: "
                                      "train through landscape.train")
                q = self._log_q.exp()
                negatives = torch.multinomial(q, self.num_negatives, replacement=True,
                                              generator=gen).to(logits.device)
                log_q = self._log_q.to(logits.device, logits.dtype)
            else:
                negatives = torch.randint(0, V, (self.num_negatives,), generator=gen
                                          ).to(logits.device)
                log_q = torch.full((V,), -float(torch.log(torch.tensor(V))),
                                   dtype=logits.dtype, device=logits.device)
        own = logits.gather(1, targets.unsqueeze(1)) - log_q[targets].unsqueeze(1)
        other = logits[:, negatives] - log_q[negatives]
        other = other.masked_fill(negatives.unsqueeze(0) == targets.unsqueeze(1), -float("inf"))
        return F.cross_entropy(torch.cat([own, other], dim=1),
                               torch.zeros_like(targets), reduction="mean")
