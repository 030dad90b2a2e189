"""Noise models for weight perturbations: multiplicative, additive, filter- and layer-normalised.

Every noise model is a *direction* ``d(z)`` built from a standard normal draw ``z ~ N(0, I)`` with
the shapes of the perturbed parameters, and the perturbed weights are ``w + σ·d(z)``. Because the
direction does not depend on ``σ``, one draw ``z_j`` serves every ``σ`` (common random numbers).

.. math::
    d_\\text{multiplicative}(z) = z \\odot w, \\qquad
    d_\\text{additive}(z) = z, \\qquad
    d_\\text{filter}(z)_f = \\frac{\\lVert w_f \\rVert}{\\lVert z_f \\rVert + \\epsilon}\\, z_f,
    \\qquad
    d_\\text{layer}(z)_\\ell = \\frac{\\lVert w_\\ell \\rVert}{\\lVert z_\\ell \\rVert + \\epsilon}
    \\, z_\\ell

- ``"multiplicative"`` (the default): Pittorino et al., "Entropic gradient descent algorithms and
  wide flat minima", ICLR 2021 (arXiv:2006.07897), δE(w, σ) = E_z[E(w + σ z ⊙ w)] − E(w). Scale
  free: a weight's noise is proportional to its magnitude.
- ``"additive"``: isotropic Gaussian noise ``σ z``, the perturbation of the PAC-Bayes bounds
  (Jiang et al. 2020, "Fantastic generalization measures and where to find them"); for small σ,
  E[δE] ≈ ½σ² tr(H).
- ``"filter"``: Li et al., "Visualizing the loss landscape of neural nets", NeurIPS 2018: every
  slice ``f`` along dim 0 of a parameter (a convolution filter, a neuron's incoming weights) is
  rescaled to the norm of the same slice of the weights; ε = 1e-10 as in their
  ``normalize_direction``.
- ``"layer"``: the same with one norm per parameter tensor (Li et al.'s ``norm='layer'``).

Biases and BatchNorm parameters (``biasbn``): the parameters with at most one dimension. With
``biasbn="ignore"`` they are not perturbed (Li et al.'s ``--xignore biasbn``); with ``"perturb"``
they are, under the same noise model (for ``"filter"`` a one-dimensional tensor counts as one
filter, i.e. it is layer-normalised; Li et al. instead copy the weights into the direction, which
their own notes call surprising). The default depends on the noise model and follows the source of
each: ``"perturb"`` for ``"multiplicative"`` and ``"additive"`` (Pittorino et al. and the PAC-Bayes
bounds perturb every weight), ``"ignore"`` for ``"filter"`` and ``"layer"`` (Li et al.'s plots).

Example:
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Linear(3, 2)
    >>> d = random_directions(model, 4, noise="filter", seed=0)
    >>> sorted(d), d["weight"].shape                       # the bias is ignored under "filter"
    (['weight'], torch.Size([4, 2, 3]))
    >>> torch.allclose(d["weight"][0].norm(dim=1), model.weight.detach().norm(dim=1))
    True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import torch
from torch import nn

from landscape._seeding import torch_generator
from landscape.errors import ConfigError
from landscape.hessian._checks import check_choice
from landscape.hessian._data import ParamSelection, select_parameters

#: How a noise draw ``z`` becomes a perturbation direction (see the module docstring).
NoiseModel = Literal["multiplicative", "additive", "filter", "layer"]

#: Whether biases and BatchNorm parameters (tensors with ``ndim <= 1``) are perturbed.
BiasBN = Literal["perturb", "ignore"]

NOISE_MODELS: tuple[str, ...] = ("multiplicative", "additive", "filter", "layer")

#: Li et al.'s ``normalize_direction`` epsilon.
_EPS = 1e-10


def default_biasbn(noise: NoiseModel) -> BiasBN:
    """The documented default bias/BatchNorm policy of ``noise`` (see the module docstring).

    Example:
        >>> default_biasbn("multiplicative"), default_biasbn("filter")
        ('perturb', 'ignore')
    """
    check_choice("noise", noise, NOISE_MODELS)
    return "perturb" if noise in ("multiplicative", "additive") else "ignore"


def perturbed_parameters(model: nn.Module, noise: NoiseModel = "multiplicative", *,
                         params: ParamSelection = None, biasbn: BiasBN | None = None
                         ) -> dict[str, torch.Tensor]:
    """The parameters a perturbation moves, by name, in model order (detached).

    Args:
        model: the network.
        noise: the noise model (decides the default of ``biasbn``).
        params: which parameters may be perturbed, as for the Hessian operator: ``None`` (all
            trainable ones), a glob pattern, a list of names or a predicate on the name.
        biasbn: ``"perturb"`` or ``"ignore"`` biases and BatchNorm parameters (``ndim <= 1``);
            ``None`` takes :func:`default_biasbn` of ``noise``.

    Raises:
        ConfigError: nothing is left to perturb, or an option is unknown.
    """
    policy = resolve_biasbn(noise, biasbn)
    names, tensors = select_parameters(model, params)
    chosen = {n: p.detach() for n, p in zip(names, tensors)
              if policy == "perturb" or p.ndim > 1}
    if not chosen:
        raise ConfigError(f"no parameter left to perturb: {names} are all biases or BatchNorm "
                          f"parameters (ndim <= 1) and biasbn={policy!r}; pass biasbn='perturb'")
    return chosen


def resolve_biasbn(noise: NoiseModel, biasbn: BiasBN | None) -> BiasBN:
    """``biasbn`` checked, or the default of ``noise`` when ``None``."""
    if biasbn is None:
        return default_biasbn(noise)
    check_choice("noise", noise, NOISE_MODELS)
    return check_choice("biasbn", biasbn, ("perturb", "ignore"))  # type: ignore[return-value]


def standard_normal(weights: Mapping[str, torch.Tensor], seed: int, indices: Sequence[int],
                    *keys: object, device: torch.device | str | None = None
                    ) -> dict[str, torch.Tensor]:
    """Stacked standard normal draws ``z_j``, ``[len(indices), *shape]`` per parameter.

    Draw ``j`` comes from its own stream ``torch_generator(seed, "flatness.noise", *keys, j)``,
    drawn on the CPU in the parameters' dtype, so draw ``j`` is the same whichever other draws
    are made, on every device, and for every σ (common random numbers).
    """
    out: dict[str, list[torch.Tensor]] = {n: [] for n in weights}
    for j in indices:
        gen = torch_generator(seed, "flatness.noise", *keys, int(j))
        for n, w in weights.items():
            out[n].append(torch.randn(w.shape, generator=gen, dtype=w.dtype))
    target = device
    return {n: torch.stack(v).to(device=target if target is not None else weights[n].device)
            for n, v in out.items()}


def directions_from_normal(weights: Mapping[str, torch.Tensor], z: Mapping[str, torch.Tensor],
                           noise: NoiseModel = "multiplicative") -> dict[str, torch.Tensor]:
    """Turn stacked normal draws ``z[name]: [K, *shape]`` into directions ``d(z)``, same shapes.

    Linear in ``z`` for ``"multiplicative"`` and ``"additive"``; ``"filter"`` and ``"layer"``
    rescale every slice (filter: each index of dim 0; layer: the whole tensor; a tensor with
    ``ndim <= 1`` is one slice under both) to the norm of the same slice of ``w``.

    Example:
        >>> w = {"a": torch.tensor([[3.0, 4.0]])}
        >>> directions_from_normal(w, {"a": torch.tensor([[[1.0, 0.0]]])}, "layer")["a"]
        tensor([[[5., 0.]]])
    """
    check_choice("noise", noise, NOISE_MODELS)
    out: dict[str, torch.Tensor] = {}
    for n, w in weights.items():
        zn = z[n]
        if zn.shape[1:] != w.shape:
            raise ConfigError(f"noise for {n!r} has shape {list(zn.shape)}, expected "
                              f"[K, {', '.join(map(str, w.shape))}]")
        w = w.to(device=zn.device, dtype=zn.dtype)
        if noise == "multiplicative":
            out[n] = zn * w
        elif noise == "additive":
            out[n] = zn
        else:
            per_filter = noise == "filter" and w.ndim > 1
            k = zn.shape[0]
            if per_filter:
                wn = w.reshape(w.shape[0], -1).norm(dim=1)                     # [F]
                zf = zn.reshape(k, w.shape[0], -1)
                scale = wn / (zf.norm(dim=2) + _EPS)                          # [K, F]
                out[n] = (zf * scale.unsqueeze(-1)).reshape(zn.shape)
            else:
                scale = w.norm() / (zn.reshape(k, -1).norm(dim=1) + _EPS)      # [K]
                out[n] = zn * scale.reshape((k,) + (1,) * w.ndim)
    return out


def random_directions(model: nn.Module, num: int, noise: NoiseModel = "multiplicative", *,
                      seed: int = 0, start: int = 0, params: ParamSelection = None,
                      biasbn: BiasBN | None = None) -> dict[str, torch.Tensor]:
    """Draws ``start, …, start+num−1`` of the perturbation directions :func:`local_energy` uses.

    Returns:
        ``{name: [num, *shape]}`` for the perturbed parameters; the perturbed weights of draw
        ``j`` at scale σ are ``w + σ·d[name][j]``.
    """
    if isinstance(num, bool) or int(num) != num or num < 1:
        raise ConfigError(f"num must be a positive integer, got {num!r}")
    weights = perturbed_parameters(model, noise, params=params, biasbn=biasbn)
    z = standard_normal(weights, seed, range(start, start + int(num)))
    return directions_from_normal(weights, z, noise)
