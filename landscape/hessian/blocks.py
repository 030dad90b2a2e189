"""Per-block Hessian spectra: which parameters form a block, each block's density, how different.

Zhang et al. (2024, "Why Transformers Need Adam: A Hessian Perspective", NeurIPS) measure the
spectral density of each diagonal block of the Hessian (the block of one layer, or of one kind
of layer: query, key, value, attention output, MLP, embedding, norm) and find them *heterogeneous*
in transformers and *homogeneous* in CNNs; they quantify it by the Jensen–Shannon distance
between the densities of every pair of blocks. This module gives:

- :func:`parameter_blocks`: the blocks of a model, ``by="layer"`` (each module that owns
  parameters) or ``by="type"`` (transformer block types, by module class and name);
- :func:`block_spectra`: the SLQ density of every block's Hessian (the operator with
  ``params=`` that block, the other parameters held fixed);
- :func:`js_distances`: the pairwise JS distances of the block densities on a common grid.

Example:
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.Linear(4, 2))
    >>> parameter_blocks(model, by="layer")
    {'0': ['0.weight', '0.bias'], '1': ['1.weight', '1.bias'], '2': ['2.weight', '2.bias']}
    >>> parameter_blocks(model, by="type")
    {'linear': ['0.weight', '0.bias', '2.weight', '2.bias'], 'norm': ['1.weight', '1.bias']}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from torch import nn

from landscape.errors import ConfigError
from landscape.forward import Forward
from landscape.hessian._checks import check_choice
from landscape.hessian.density import SpectralDensityResult, spectral_density
from landscape.hessian.hessian_operator import HessianOperator

BlockBy = Literal["auto", "layer", "type"]

_NORMS = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm,
          nn.modules.instancenorm._InstanceNorm)
#: Name patterns of transformer block types, tried in this order on the owning module's name.
_TYPE_PATTERNS = (
    ("query", r"(^|[._])(query|q_proj|q|wq)$"),
    ("key", r"(^|[._])(key|k_proj|k|wk)$"),
    ("value", r"(^|[._])(value|v_proj|v|wv)$"),
    ("output", r"(attn|attention|self_attn)[._](out|o_proj|out_proj|proj|wo|dense)$"),
    ("mlp", r"(mlp|ffn|feed_forward|fc1|fc2|intermediate)"),
    ("embedding", r"(embed|embedding|pos|cls|wte|wpe|patch)"),
    ("head", r"(^|[._])(head|classifier|lm_head|fc|out)$"),
)


def block_type(module_name: str, module: nn.Module) -> str:
    """The type of the block a module's parameters belong to (see :func:`parameter_blocks`)."""
    if isinstance(module, _NORMS):
        return "norm"
    if isinstance(module, nn.Embedding):
        return "embedding"
    for label, pattern in _TYPE_PATTERNS:
        if re.search(pattern, module_name.lower()):
            return label
    if isinstance(module, nn.MultiheadAttention):
        return "attention"
    if isinstance(module, nn.modules.conv._ConvNd):
        return "conv"
    return "linear" if isinstance(module, nn.Linear) else type(module).__name__.lower()


def _is_transformer(model: nn.Module) -> bool:
    names = [n.lower() for n, _ in model.named_modules()]
    return any(re.search(r"(^|[._])(query|q_proj|key|k_proj)$", n) for n in names) \
        or any(isinstance(m, nn.MultiheadAttention) for m in model.modules())


def parameter_blocks(model: nn.Module, by: BlockBy = "auto") -> dict[str, list[str]]:
    """The trainable parameters of ``model`` grouped into blocks, ``{label: [names]}``.

    Args:
        model: the network.
        by: ``"layer"``: one block per module that owns parameters directly (label: the module's
            name, ``"(root)"`` for the model itself); ``"type"``: one block per block type —
            ``query``, ``key``, ``value``, ``output`` (attention output projection), ``mlp``,
            ``embedding`` (token/patch/position embeddings, class token), ``norm``, ``head`` —
            by module class and name patterns, other modules by kind (``conv``, ``linear``);
            ``"auto"``: ``"type"`` for a transformer (it has query/key modules or
            ``nn.MultiheadAttention``), ``"layer"`` otherwise.

    Returns:
        Blocks in model order of their first parameter; names in model order.
    """
    check_choice("by", by, ("auto", "layer", "type"))
    if by == "auto":
        by = "type" if _is_transformer(model) else "layer"
    blocks: dict[str, list[str]] = {}
    for mod_name, module in model.named_modules():
        own = [(n, p) for n, p in module.named_parameters(recurse=False) if p.requires_grad]
        for n, _ in own:
            full = f"{mod_name}.{n}" if mod_name else n
            if by == "layer":
                label = mod_name or "(root)"
            else:
                label = block_type(mod_name, module) if mod_name else \
                    block_type(n, module) if not re.search(r"(embed|pos|cls)", n) else "embedding"
            blocks.setdefault(label, []).append(full)
    if not blocks:
        raise ConfigError("the model has no trainable parameters")
    return blocks


@dataclass(frozen=True)
class BlockSpectra:
    """The spectral densities of the Hessian blocks of one model.

    Attributes:
        blocks: ``{label: [parameter names]}``.
        densities: ``{label: SpectralDensityResult}`` of each diagonal block.
        num_params: ``{label: P_block}``.
    """

    blocks: dict[str, list[str]]
    densities: dict[str, SpectralDensityResult]
    num_params: dict[str, int]

    def top(self) -> dict[str, float]:
        """Each block's largest Ritz value (Lanczos converges to ``λ_max`` first)."""
        return {k: float(np.nanmax(d.nodes)) for k, d in self.densities.items()}

    def heterogeneity(self, **kwargs: Any) -> float:
        """Mean pairwise JS distance of the block densities (:func:`js_distances`)."""
        _, dist = js_distances(self.densities, **kwargs)
        n = dist.shape[0]
        return float(dist[~np.eye(n, dtype=bool)].mean()) if n > 1 else 0.0


def block_spectra(model: nn.Module, loss_fn: Any, data: object, *,
                  blocks: Mapping[str, list[str]] | None = None, by: BlockBy = "auto",
                  num_probes: int = 4, num_steps: int = 40, seed: int = 0,
                  forward: Forward | str | None = None, method: str = "auto"
                  ) -> BlockSpectra:
    """SLQ density of every diagonal Hessian block ``H_bb`` (other parameters held fixed).

    Args:
        model, loss_fn, data, forward, method: as for :class:`HessianOperator`.
        blocks: ``{label: [names]}``; default :func:`parameter_blocks` ``(model, by)``.
        by: see :func:`parameter_blocks`.
        num_probes, num_steps, seed: of :func:`~landscape.hessian.spectral_density` per block
            (the Lanczos steps are capped at the block's size).

    Returns:
        :class:`BlockSpectra`.
    """
    chosen = dict(blocks) if blocks is not None else parameter_blocks(model, by)
    densities, sizes = {}, {}
    for label, names in chosen.items():
        H = HessianOperator(model, loss_fn, data, params=list(names), forward=forward,
                            method=method)  # type: ignore[arg-type]
        densities[label] = spectral_density(H, num_probes=num_probes,
                                            num_steps=min(num_steps, H.num_params), seed=seed)
        sizes[label] = H.num_params
    return BlockSpectra({k: list(v) for k, v in chosen.items()}, densities, sizes)


def _axis(values: np.ndarray, axis: str, linthresh: float) -> np.ndarray:
    if axis == "linear":
        return values
    return np.sign(values) * np.log10(1.0 + np.abs(values) / linthresh)


def js_distances(densities: Mapping[str, SpectralDensityResult], *,
                 axis: Literal["symlog", "linear"] = "symlog", linthresh: float | None = None,
                 num_points: int = 2000, bandwidth: float = 0.01
                 ) -> tuple[list[str], np.ndarray]:
    """Pairwise Jensen–Shannon distances (base 2, in ``[0, 1]``) of block spectral densities.

    Each block's quadrature (Ritz values ``θ_pj`` with weights ``τ_pj²``, averaged over probes)
    is placed on a common axis, smoothed there with a Gaussian of standard deviation
    ``bandwidth`` times the axis range onto ``num_points`` points (range of all blocks, padded
    by 5 %), normalised to a probability vector and compared with
    ``scipy.spatial.distance.jensenshannon`` (Zhang et al. 2024 compare every pair of blocks).

    Args:
        densities: ``{label: SpectralDensityResult}``.
        axis: ``"symlog"`` (default): ``t = sign(λ) log10(1 + |λ|/linthresh)``, so blocks
            whose spectra differ by decades are compared by scale and shape alike (on a linear
            axis the block with the largest eigenvalues squeezes all others into one bin);
            ``"linear"``: ``t = λ``.
        linthresh: the linear range of ``"symlog"``; default ``1e-3`` times the largest
            ``|λ|`` of all blocks.
        num_points, bandwidth: the grid and the kernel width (fraction of the axis range).

    Returns:
        The labels and the symmetric ``[B, B]`` distance matrix.
    """
    from scipy.spatial.distance import jensenshannon

    check_choice("axis", axis, ("symlog", "linear"))
    if not densities:
        raise ConfigError("no densities to compare")
    labels = list(densities)
    top = max(float(np.nanmax(np.abs(d.nodes))) for d in densities.values())
    thresh = float(linthresh) if linthresh is not None else 1e-3 * max(top, 1e-300)
    nodes = [_axis(d.nodes, axis, thresh) for d in densities.values()]
    lo = min(float(np.nanmin(t)) for t in nodes)
    hi = max(float(np.nanmax(t)) for t in nodes)
    width = max(hi - lo, 1e-12)
    grid = np.linspace(lo - 0.05 * width, hi + 0.05 * width, int(num_points))
    sigma = bandwidth * width
    probs = []
    for t, d in zip(nodes, densities.values()):
        ok = np.isfinite(t) & np.isfinite(d.weights)
        z = (grid[:, None] - t[ok][None, :]) / sigma
        y = (np.exp(-0.5 * z * z) * d.weights[ok][None, :]).sum(1)
        y = np.where(y > 1e-12 * y.max(), y, 0.0)  # no denormals: JS would divide by them
        probs.append(y / y.sum())
    out = np.zeros((len(labels), len(labels)))
    for i in range(len(labels)):
        for j in range(i + 1, len(labels)):
            out[i, j] = out[j, i] = float(jensenshannon(probs[i], probs[j], base=2))
    return labels, out
