"""Stacks of ``K`` weight sets affine in a few fixed directions (private): :class:`AffineStack`
and its lazy mapping view :class:`_Lazy`, evaluated by
:class:`landscape.flatness._evaluate.Evaluator`.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass, field

import torch


@dataclass(frozen=True)
class AffineStack:
    """``K`` weight sets affine in fixed directions (private to the flatness package).

    Copy ``k`` is ``center + sigma · directions[k]`` (``sigma`` given; ``K = m``, local energy)
    or ``center + Σ_j coeffs[k, j] · directions[j]`` (``coeffs`` ``[K, m]``; a line or plane).
    The fused path computes the first linear layer of such stacks from ``m`` products shared by
    all copies (:class:`landscape.flatness._fused.FirstLayer`); ``key`` names the directions
    (the caller guarantees that one key always means the same ``center`` and ``directions``),
    so those products are cached across calls (across σ) within the evaluator's cache budget.
    """

    center: Mapping[str, torch.Tensor]
    directions: Mapping[str, torch.Tensor]
    sigma: float | None = None
    coeffs: torch.Tensor | None = None
    key: Hashable | None = None
    _made: dict[str, torch.Tensor] = field(default_factory=dict, compare=False, repr=False)

    @property
    def k(self) -> int:
        if self.coeffs is not None:
            return int(self.coeffs.shape[0])
        return int(next(iter(self.directions.values())).shape[0])

    @property
    def m(self) -> int:
        return int(next(iter(self.directions.values())).shape[0])

    def tensor(self, name: str) -> torch.Tensor:
        """The stacked ``[K, *shape]`` weights of ``name`` (built once)."""
        t = self._made.get(name)
        if t is None:
            w, d = self.center[name], self.directions[name]
            if self.coeffs is None:
                t = torch.add(w.unsqueeze(0), d, alpha=self.sigma)
            else:
                c = self.coeffs.to(dtype=w.dtype, device=w.device)
                t = w.unsqueeze(0) + (c @ d.reshape(d.shape[0], -1)).view(-1, *w.shape)
            self._made[name] = t
        return t

    def materialise(self) -> dict[str, torch.Tensor]:
        return {n: self.tensor(n) for n in self.center}


class _Lazy(Mapping[str, torch.Tensor]):
    """A read-only mapping view of an :class:`AffineStack` that builds tensors on access."""

    def __init__(self, stack: AffineStack) -> None:
        self.stack = stack

    def __getitem__(self, name: str) -> torch.Tensor:
        if name not in self.stack.center:
            raise KeyError(name)
        return self.stack.tensor(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.stack.center)

    def __len__(self) -> int:
        return len(self.stack.center)
