"""A tiny padded-sequence tagger with dict batches, and its dense float64 Hessian (test oracle)."""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call

from landscape.models import record_config


class Tagger(nn.Module):
    """Tags every token of a padded sequence: ``tanh(W x_t + masked mean context) → logits``.

    The context mixes the tokens of a sequence (only its real ones), so padding must be masked
    in the model as well as in the loss.
    """

    def __init__(self, dim: int = 3, hidden: int = 4, classes: int = 3) -> None:
        super().__init__()
        self.inp = nn.Linear(dim, hidden)
        self.ctx = nn.Linear(hidden, hidden, bias=False)
        self.out = nn.Linear(hidden, classes)
        record_config(self, dim=dim, hidden=hidden, classes=classes)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.inp(x))
        m = mask.unsqueeze(-1).to(h.dtype)
        context = (h * m).sum(1, keepdim=True) / m.sum(1, keepdim=True)
        return self.out(torch.tanh(h + self.ctx(context)))


def tagger(seed: int = 0, dtype: torch.dtype = torch.float64) -> Tagger:
    torch.manual_seed(seed)
    return Tagger().to(dtype).eval()


def padded_batches(lengths: list[list[int]], seed: int = 1, dim: int = 3, classes: int = 3,
                   dtype: torch.dtype = torch.float64) -> list[dict[str, torch.Tensor]]:
    """One dict batch per list of sequence lengths; padded positions hold garbage (large values
    and label 0) so that a forward that forgets the mask gets a different answer."""
    gen = torch.Generator().manual_seed(seed)
    batches = []
    for lens in lengths:
        t = max(lens)
        mask = torch.arange(t)[None, :] < torch.tensor(lens)[:, None]
        x = torch.randn(len(lens), t, dim, generator=gen, dtype=torch.float64)
        x[~mask] = 50.0
        x = x.to(dtype)
        y = torch.randint(0, classes, (len(lens), t), generator=gen)
        y[~mask] = 0
        batches.append({"inputs": x, "mask": mask, "targets": y,
                        "lengths": torch.tensor(lens)})
    return batches


def token_loss(model: nn.Module, params: dict[str, torch.Tensor],
               batches: list[dict[str, torch.Tensor]]) -> torch.Tensor:
    """Mean cross-entropy over all real tokens of all batches, at ``params``."""
    total, count = 0.0, 0
    for b in batches:
        logits = functional_call(model, params, (b["inputs"], b["mask"]))
        total = total + nn.functional.cross_entropy(logits[b["mask"]], b["targets"][b["mask"]],
                                                    reduction="sum")
        count += int(b["mask"].sum())
    return total / count


def dense_hessian(model: nn.Module, batches: list[dict[str, torch.Tensor]],
                  names: list[str] | None = None) -> torch.Tensor:
    """``torch.autograd.functional.hessian`` of the mean token loss w.r.t. the named parameters."""
    named = {n: p.detach() for n, p in model.named_parameters()}
    names = list(named) if names is None else names
    shapes = [named[n].shape for n in names]
    sizes = [named[n].numel() for n in names]

    def f(flat: torch.Tensor) -> torch.Tensor:
        parts = dict(zip(names, (t.view(s) for t, s in zip(flat.split(sizes), shapes))))
        return token_loss(model, {**named, **parts}, batches)

    flat = torch.cat([named[n].reshape(-1) for n in names])
    return torch.autograd.functional.hessian(f, flat)
