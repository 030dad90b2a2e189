"""Stochastic diagonal estimation: Hutchinson (Bekas, Kokiopoulou & Saad 2007) and XDiag
(Epperly, Tropp & Webber, SIAM J. Matrix Anal. Appl. 2024), with per-block traces.

One set of products gives the whole diagonal, so the trace of every parameter block (every
named parameter of a network, or every layer) comes from the same products, with its error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from landscape._seeding import torch_generator
from landscape.errors import ConfigError
from landscape.hessian._checks import check_choice, check_positive
from landscape.hessian._operator import LinearOperator, as_operator
from landscape.hessian._results import ArraysMixin
from landscape.hessian._sketch import apply, exact_diagonal, leave_one_out, probes

DiagonalMethod = Literal["hutchinson", "xdiag"]
BlockLevel = Literal["parameter", "layer"]


@dataclass(frozen=True, eq=False)
class BlockTraces:
    """Traces of the diagonal blocks of an operator (e.g. per parameter or per layer).

    Attributes:
        names: the blocks' names, in the operator's order.
        estimate: float64 ``[B]``, the trace of each block (the sum of its diagonal estimate).
        stderr: float64 ``[B]``, ``std(b_i)/√m`` over the per-sample block sums ``b_i`` (so the
            correlation between a block's entries is accounted for); ``0`` when exact.
        sizes: int64 ``[B]``, entries per block.
    """

    names: tuple[str, ...]
    estimate: np.ndarray
    stderr: np.ndarray
    sizes: np.ndarray

    def as_dict(self) -> dict[str, tuple[float, float]]:
        """``{name: (trace, stderr)}``."""
        return {n: (float(e), float(s)) for n, e, s in zip(self.names, self.estimate,
                                                           self.stderr)}


@dataclass(frozen=True, eq=False)
class DiagonalResult(ArraysMixin):
    """A diagonal estimate with its standard errors and per-block sample sums.

    Attributes:
        estimate: float64 ``[P]``, ``mean_i d_i`` of the per-sample diagonals ``d_i``.
        stderr: float64 ``[P]``, ``std(d_i)/√m`` entry by entry (NaN for one sample, ``0`` when
            exact). For XDiag the ``d_i`` are exchangeable, not independent: as for XTrace it is
            an estimate of the error's size.
        block_samples: float64 ``[m, B]``, the sum of ``d_i`` over each block, per sample.
        block_sizes: int64 ``[B]``, entries per block (they tile ``[0, P)`` in order).
        block_names: the blocks' names, newline-separated (see :attr:`names`).
        method: ``"hutchinson"`` or ``"xdiag"``.
        distribution: ``"rademacher"`` or ``"gaussian"``.
        num_matvecs: operator products used.
        seed: seed of the probes.
        exact: ``True`` when XDiag had ``num_matvecs ≥ P`` and read the diagonal off the unit
            vectors.
    """

    estimate: np.ndarray
    stderr: np.ndarray
    block_samples: np.ndarray
    block_sizes: np.ndarray
    block_names: str
    method: str
    distribution: str
    num_matvecs: int
    seed: int
    exact: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        """The blocks' names."""
        return tuple(self.block_names.split("\n"))

    def per_block(self, by: BlockLevel | Mapping[str, Sequence[str]] = "parameter"
                  ) -> BlockTraces:
        """The trace of every block, from the same products as the diagonal.

        Args:
            by: ``"parameter"`` (default): one block per named parameter (as the estimate was
                made); ``"layer"``: the parameters of each module summed (``"0.weight"`` and
                ``"0.bias"`` → ``"0"``; the model's own parameters → ``"(root)"``, as
                :func:`~landscape.hessian.blocks.parameter_blocks`); or a mapping
                ``{label: [parameter names]}``, e.g. ``parameter_blocks(model, by="type")``.

        Example:
            >>> A = torch.diag(torch.arange(1.0, 7.0, dtype=torch.float64))
            >>> r = diagonal(A, 6, method="xdiag", blocks={"a.weight": 2, "a.bias": 1, "b": 3})
            >>> r.per_block("layer").as_dict()
            {'a': (6.0, 0.0), '(root)': (15.0, 0.0)}
        """
        names, sums, sizes = list(self.names), self.block_samples, self.block_sizes
        if by != "parameter":
            groups = _groups(names, by)
            names = list(groups)
            sums = np.stack([sums[:, idx].sum(1) for idx in groups.values()], axis=1)
            sizes = np.array([sizes[idx].sum() for idx in groups.values()], dtype=np.int64)
        m = sums.shape[0]
        if self.exact:
            err = np.zeros(len(names))
        elif m > 1:
            err = sums.std(axis=0, ddof=1) / math.sqrt(m)
        else:
            err = np.full(len(names), np.nan)
        return BlockTraces(names=tuple(names), estimate=sums.mean(0), stderr=err, sizes=sizes)


def _groups(names: list[str], by: str | Mapping[str, Sequence[str]]) -> dict[str, list[int]]:
    """``{label: [block indices]}`` for :meth:`DiagonalResult.per_block`."""
    if isinstance(by, str):
        check_choice("by", by, ("parameter", "layer"))
        groups: dict[str, list[int]] = {}
        for j, n in enumerate(names):
            groups.setdefault(n.rpartition(".")[0] or "(root)", []).append(j)
        return groups
    if not isinstance(by, Mapping) or not by:
        raise ConfigError("by must be 'parameter', 'layer' or a non-empty mapping "
                          "{label: [parameter names]}")
    index = {n: j for j, n in enumerate(names)}
    out, seen = {}, set()
    for label, members in by.items():
        members = [members] if isinstance(members, str) else list(members)
        unknown = [n for n in members if n not in index]
        if unknown or not members:
            raise ConfigError(f"block {label!r}: {unknown or 'no names'} not among the "
                              f"estimate's blocks {names}")
        if seen & set(members):
            raise ConfigError(f"block {label!r} repeats {sorted(seen & set(members))}")
        seen |= set(members)
        out[str(label)] = [index[n] for n in members]
    return out


def _blocks(H: LinearOperator, blocks: Mapping[str, int] | None) -> tuple[list[str], list[int]]:
    """Block names and sizes: given, the operator's parameters, or one block ``"all"``."""
    P = H.shape[0]
    if blocks is None:
        names = getattr(H, "param_names", None)
        unflatten = getattr(H, "unflatten", None)
        if names is None or unflatten is None:
            return ["all"], [P]
        parts = unflatten(torch.zeros(P))
        return list(names), [int(parts[n].numel()) for n in names]
    if not isinstance(blocks, Mapping) or not blocks:
        raise ConfigError("blocks must be a non-empty mapping {name: number of entries}")
    names = [str(n) for n in blocks]
    sizes = [check_positive(f"blocks[{n!r}]", v) for n, v in blocks.items()]
    if any("\n" in n for n in names):
        raise ConfigError("block names cannot contain a newline")
    if sum(sizes) != P:
        raise ConfigError(f"the block sizes sum to {sum(sizes)}, the operator has {P} rows")
    return names, sizes


def _hutchinson(H: LinearOperator, m: int, distribution: str, gen: torch.Generator,
                block_size: int, ids: torch.Tensor, B: int
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mean and sum of squared deviations of ``d_i = ω_i ⊙ Hω_i`` (merged block by block,
    Chan et al. 1979) and the per-sample block sums ``[m, B]``."""
    P = H.shape[0]
    mean = torch.zeros(P, dtype=torch.float64, device=H.device)
    m2 = torch.zeros_like(mean)
    sums, n = [], 0
    for s in range(0, m, block_size):
        k = min(block_size, m - s)
        # one probe at a time, so the draw does not depend on block_size
        G = torch.cat([probes(P, 1, distribution, gen) for _ in range(k)], 1).to(H.device)
        D = G * apply(H, G, block_size)
        bmean = D.mean(1)
        bm2 = ((D - bmean[:, None]) ** 2).sum(1)
        delta = bmean - mean
        mean = mean + delta * (k / (n + k))
        m2 = m2 + bm2 + delta ** 2 * (n * k / (n + k))
        n += k
        sums.append(torch.zeros(B, k, dtype=torch.float64, device=H.device).index_add_(0, ids, D))
    return mean, m2, torch.cat(sums, dim=1).t()


def _xdiag(H: LinearOperator, m: int, distribution: str, gen: torch.Generator,
           block_size: int) -> torch.Tensor:
    """XDiag's per-sample diagonals ``[P, m]`` from ``2m`` products.

    ``d_i = diag(Π_i H) + ω_i ⊙ (I−Π_i)Hω_i`` with ``Π_i = Q(I − s_i s_iᵀ)Qᵀ`` (see
    :mod:`landscape.hessian._sketch`): ``diag(Π_i H) = diag(QZᵀ) − (Qs_i) ⊙ (Zs_i)`` and, as
    ``Hω_i = Q r_i``, ``(I−Π_i)Hω_i = (s_iᵀr_i) Q s_i``.
    """
    sk = leave_one_out(H, probes(H.shape[0], m, distribution, gen), block_size)
    QS, ZS = sk.Q @ sk.S, sk.Z @ sk.S
    c = (sk.S * sk.R).sum(0)
    return (sk.Q * sk.Z).sum(1, keepdim=True) - QS * ZS + sk.omega * QS * c


def diagonal(H: LinearOperator | torch.Tensor, num_matvecs: int = 100, *,
             method: DiagonalMethod = "xdiag", distribution: Literal["rademacher",
                                                                     "gaussian"] = "rademacher",
             seed: int = 0, block_size: int = 10,
             blocks: Mapping[str, int] | None = None) -> DiagonalResult:
    """Estimate ``diag(H)`` from ``num_matvecs`` products, with per-entry and per-block errors.

    Hutchinson (Bekas et al. 2007): ``diag(H) ≈ (1/m) Σ ω_i ⊙ Hω_i`` with ``E[ωωᵀ] = I``;
    unbiased, entry ``k`` has variance ``Σ_{j≠k} H_kj²`` for Rademacher probes (exact for a
    diagonal ``H``).

    XDiag (Epperly, Tropp & Webber 2024, Section 5): the exchangeable version of Diag++
    (Baston & Nakatsukasa 2022). ``k = ⌊m/2⌋`` probes serve both as sketch and as test vectors:
    ``d_i = diag(Π_i H) + ω_i ⊙ (I−Π_i)Hω_i`` with ``Π_i`` the projector onto
    ``range(H Ω_{−i})``, averaged over ``i`` (``2k`` products). Unbiased, and exact when
    ``rank H < k``; far more accurate than Hutchinson when the spectrum decays. Rademacher
    probes by default, as in the paper. With ``num_matvecs ≥ P`` it reads the diagonal off the
    ``P`` unit vectors instead (``P`` products, exact, ``stderr = 0``).

    Args:
        H: a symmetric operator or a square tensor.
        num_matvecs: product budget. Default ``100`` (as :func:`~landscape.hessian.trace`).
            XDiag needs at least 2 (an odd budget leaves one product unused).
        method: ``"xdiag"`` (default) or ``"hutchinson"``.
        distribution: ``"rademacher"`` (default) or ``"gaussian"`` probes.
        seed: seed of the probes (drawn on the CPU, so the same on every device).
        block_size: probes per product (one data pass each). Default ``10``.
        blocks: ``{name: number of entries}`` tiling ``[0, P)`` in order, for
            :meth:`DiagonalResult.per_block`. Default: the operator's parameters
            (``param_names`` of :class:`~landscape.hessian.HessianOperator` and
            :class:`~landscape.hessian.GGNOperator`), else one block ``"all"``.

    Returns:
        :class:`DiagonalResult`; ``.per_block()`` gives the trace of every parameter block.

    Example:
        >>> A = torch.diag(torch.arange(1.0, 11.0, dtype=torch.float64))
        >>> r = diagonal(A, 20, method="hutchinson")
        >>> r.estimate[:3].tolist(), r.num_matvecs
        ([1.0, 2.0, 3.0], 20)
    """
    H = as_operator(H)
    P = H.shape[0]
    m = check_positive("num_matvecs", num_matvecs)
    check_choice("method", method, ("hutchinson", "xdiag"))
    check_choice("distribution", distribution, ("rademacher", "gaussian"))
    block_size = check_positive("block_size", block_size)
    names, sizes = _blocks(H, blocks)
    ids = torch.repeat_interleave(torch.arange(len(sizes), device=H.device),
                                  torch.tensor(sizes, device=H.device))
    gen = torch_generator(seed, "hessian.diagonal", method)
    exact = method == "xdiag" and m >= P
    if method == "hutchinson":
        mean, m2, sums = _hutchinson(H, m, distribution, gen, block_size, ids, len(sizes))
        used, n = m, m
        err = (m2 / (n - 1)).sqrt() / math.sqrt(n) if n > 1 else torch.full_like(mean, math.nan)
    else:
        if exact:
            mean, used, n = exact_diagonal(H, block_size), P, 1
            D = mean[:, None]
        elif m < 2:
            raise ConfigError(f"xdiag needs num_matvecs >= 2, got {m}")
        else:
            D = _xdiag(H, m // 2, distribution, gen, block_size)
            mean, used, n = D.mean(1), 2 * (m // 2), m // 2
        err = (torch.zeros_like(mean) if exact else
               D.std(1) / math.sqrt(n) if n > 1 else torch.full_like(mean, math.nan))
        sums = torch.zeros(len(sizes), n, dtype=torch.float64, device=H.device) \
            .index_add_(0, ids, D).t()
    return DiagonalResult(estimate=mean.cpu().numpy(), stderr=err.cpu().numpy(),
                          block_samples=sums.cpu().numpy(),
                          block_sizes=np.array(sizes, dtype=np.int64),
                          block_names="\n".join(names), method=method,
                          distribution=distribution, num_matvecs=used, seed=int(seed),
                          exact=exact)
