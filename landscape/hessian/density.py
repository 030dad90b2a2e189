"""Spectral density by stochastic Lanczos quadrature (SLQ), with the probes run in lock-step.

The spectral density of a symmetric ``P × P`` matrix is ``φ(t) = (1/P) Σ_i δ(t − λ_i)``. For a
probe ``v`` with ``E[v vᵀ] = I``, ``E[v̂ᵀ g(H) v̂] = (1/P) tr g(H) = ∫ g dφ`` (``v̂ = v/‖v‖``), and
``m`` Lanczos steps from ``v̂`` give the Gauss quadrature ``v̂ᵀ g(H) v̂ ≈ Σ_j τ_j² g(θ_j)``
(nodes ``θ_j``: eigenvalues of the tridiagonal ``T_m``; weights ``τ_j²``: squared first
components of its eigenvectors; exact for polynomials of degree ``< 2m``). Averaging over probes
gives a discrete measure approximating ``φ``; smoothing it with a kernel gives a curve
(Lin, Saad & Yang 2016; Ghorbani, Krishnan & Xiao 2019; Papyan 2020).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from landscape._seeding import torch_generator
from landscape.errors import ConfigError
from landscape.hessian._checks import check_choice, check_positive
from landscape.hessian._operator import LinearOperator, as_operator
from landscape.hessian._results import ArraysMixin
from landscape.hessian.lanczos import Reorth, gauss_quadrature, lanczos_lockstep
from landscape.hessian.trace import _probes

#: Probe distributions of SLQ (a Lanczos start is normalised: ``"gaussian"`` is the sphere).
ProbeDistribution = Literal["rademacher", "gaussian"]
Preset = Literal["ghorbani", "papyan"]
Kernel = Literal["gaussian", "lorentzian"]


@dataclass(frozen=True, eq=False)
class SmoothedDensity(ArraysMixin):
    """A spectral density smoothed onto a grid (a derived quantity: recompute it freely).

    Attributes:
        grid: float64 ``[num_points]`` eigenvalue axis.
        density: float64 ``[num_points]`` density values.
        kernel: ``"gaussian"`` or ``"lorentzian"``.
        sigma: kernel width: the Gaussian's standard deviation or the Lorentzian's half width at
            half maximum, in eigenvalue units.
        preset: the preset used, or ``"custom"``.
        normalized: whether the density was rescaled to integrate to 1 on the grid.
    """

    grid: np.ndarray
    density: np.ndarray
    kernel: str
    sigma: float
    preset: str
    normalized: bool


@dataclass(frozen=True, eq=False)
class SpectralDensityResult(ArraysMixin):
    """Raw SLQ output: every probe's Lanczos coefficients and Gauss quadrature.

    Arrays are ``[num_probes, num_steps]`` float64, NaN-padded after a probe that stopped early
    (its Krylov space became invariant, so its quadrature is already exact).

    Attributes:
        alphas: diagonals of the tridiagonal matrices.
        betas: off-diagonals; ``betas[p, j]`` couples steps ``j`` and ``j + 1``, the last valid
            entry of a probe is its final residual norm.
        nodes: quadrature nodes (Ritz values), ascending per probe.
        weights: quadrature weights (sum to 1 per probe).
        num_params: ``P``, the size of the operator.
        num_matvecs: operator products used.
        reorth: ``"full"`` or ``"none"``.
        distribution: probe distribution.
        seed: seed of the probes.
    """

    alphas: np.ndarray
    betas: np.ndarray
    nodes: np.ndarray
    weights: np.ndarray
    num_params: int
    num_matvecs: int
    reorth: str
    distribution: str
    seed: int

    @property
    def num_probes(self) -> int:
        """Number of probes."""
        return int(self.nodes.shape[0])

    @property
    def num_steps(self) -> int:
        """Number of Lanczos steps per probe (the array width)."""
        return int(self.nodes.shape[1])

    def moments(self, order: int) -> np.ndarray:
        """Per-probe quadrature moment ``Σ_j τ_j² θ_j^order`` (estimates ``tr(H^order)/P``)."""
        return np.nansum(self.weights * self.nodes ** order, axis=1)

    def density(self, grid: np.ndarray | None = None, *, preset: Preset | None = "ghorbani",
                kernel: Kernel = "gaussian", sigma: float | None = None,
                num_points: int | None = None, padding: float | None = None,
                normalize: bool | None = None) -> SmoothedDensity:
        """Smooth the quadrature onto a grid: ``φ_σ(t) = (1/n_v) Σ_p Σ_j τ_pj² K_σ(t − θ_pj)``.

        Presets (explicit arguments override a preset's values):

        ``"ghorbani"`` — PyHessian's ``density_plot.density_generate``, itself Ghorbani et al.'s
        ``jax/density.py::eigv_to_density`` (google/spectral-density): ``num_points=10000``; the
        grid runs from the probe-averaged smallest node minus ``padding=0.01`` to the
        probe-averaged largest node plus 0.01 (absolute padding); a Gaussian whose **variance**
        is ``1e-5 · max(1, t_max − t_min)`` (their ``sigma_squared``, which is a variance
        despite being passed as "sigma"), i.e. ``sigma = √(1e-5 · max(1, t_max − t_min))``;
        finally rescaled to integrate to 1 on the grid (Riemann sum).

        ``"papyan"`` — Papyan (2020), Algorithm 2, as implemented in curvlinops'
        ``lanczos_approximate_spectrum``: the spectrum ``[λ_min, λ_max]`` is padded by
        ``margin = 0.05`` of its width on each side and mapped onto ``[−1, 1]``; a Gaussian of
        standard deviation ``2 / (m − 1) / √(8 ln κ)`` there, ``κ = 3`` (Papyan §D.2), ``m`` the
        number of Lanczos steps, i.e. ``sigma`` is that times half the padded width in
        eigenvalue units; ``num_points=1024``; no renormalisation. Difference: curvlinops
        estimates ``λ_min, λ_max`` with ARPACK (70–150 extra products); here the extreme
        quadrature nodes over all probes are used, which Lanczos converges first (no extra
        products).

        Args:
            grid: evaluate on this grid instead of the preset's.
            preset: ``"ghorbani"`` (default), ``"papyan"`` or ``None`` (then ``sigma`` is
                required; grid: ``num_points=1000`` over the node range padded by 5 %).
            kernel: ``"gaussian"`` or ``"lorentzian"`` (Cauchy; heavier tails).
            sigma: kernel width in eigenvalue units (Gaussian standard deviation, Lorentzian
                half width).
            num_points: grid size.
            padding: absolute padding added on each side of the node range.
            normalize: rescale to integrate to 1 on the grid.

        Returns:
            :class:`SmoothedDensity`.
        """
        if preset is not None:
            check_choice("preset", preset, ("ghorbani", "papyan"))
        check_choice("kernel", kernel, ("gaussian", "lorentzian"))
        nodes, weights = self.nodes, self.weights
        lo_all, hi_all = float(np.nanmin(nodes)), float(np.nanmax(nodes))
        if preset == "ghorbani":
            pad = 0.01 if padding is None else float(padding)
            t_min = float(np.mean(np.nanmin(nodes, axis=1))) - pad
            t_max = float(np.mean(np.nanmax(nodes, axis=1))) + pad
            npts = 10000 if num_points is None else check_positive("num_points", num_points)
            if sigma is None:
                sigma = math.sqrt(1e-5 * max(1.0, t_max - t_min))
            norm = True if normalize is None else bool(normalize)
        elif preset == "papyan":
            # A spectrum of zero width (a zero Hessian: piecewise-linear model and loss) is
            # given the width 1e-3 · max(1, |λ|), so that its point mass is drawn, not refused.
            width = hi_all - lo_all or 1e-3 * max(1.0, abs(hi_all))
            pad = 0.05 * width if padding is None else float(padding)
            t_min, t_max = lo_all - pad, hi_all + pad
            npts = 1024 if num_points is None else check_positive("num_points", num_points)
            if sigma is None:
                m = max(2, self.num_steps)
                sigma = 2.0 / (m - 1) / math.sqrt(8.0 * math.log(3.0)) * (t_max - t_min) / 2.0
            norm = False if normalize is None else bool(normalize)
        else:
            if sigma is None:
                raise ConfigError("sigma is required when preset=None")
            pad = 0.05 * (hi_all - lo_all) if padding is None else float(padding)
            t_min, t_max = lo_all - pad, hi_all + pad
            npts = 1000 if num_points is None else check_positive("num_points", num_points)
            norm = False if normalize is None else bool(normalize)
        if not sigma or sigma <= 0:
            raise ConfigError(f"sigma must be positive, got {sigma}")
        if grid is None:
            if t_max <= t_min:
                t_min, t_max = t_min - sigma, t_max + sigma
            grid = np.linspace(t_min, t_max, npts)
        grid = np.asarray(grid, dtype=np.float64)
        dens = np.zeros_like(grid)
        for p in range(nodes.shape[0]):
            ok = ~np.isnan(nodes[p])
            diff = grid[:, None] - nodes[p, ok][None, :]
            if kernel == "gaussian":
                k = np.exp(-0.5 * (diff / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
            else:
                k = sigma / (math.pi * (diff ** 2 + sigma ** 2))
            dens += k @ weights[p, ok]
        dens /= nodes.shape[0]
        if norm and grid.size > 1:
            dens /= np.sum(dens) * (grid[1] - grid[0])
        return SmoothedDensity(grid=grid, density=dens, kernel=kernel, sigma=float(sigma),
                               preset=preset or "custom", normalized=norm)


def spectral_density(H: LinearOperator | torch.Tensor, num_probes: int = 10,
                     num_steps: int = 80, *, seed: int = 0, reorth: Reorth = "full",
                     distribution: ProbeDistribution = "rademacher",
                     basis_device: torch.device | str | None = None) -> SpectralDensityResult:
    """Stochastic Lanczos quadrature of ``H`` with all probes in one block.

    The ``num_probes`` Lanczos recurrences advance in lock-step: each step multiplies the block
    ``[P, num_probes]`` of current vectors by ``H`` at once, i.e. one pass over the data per
    step for all probes (vmapped backward over the columns), instead of one pass per probe.

    Args:
        H: a symmetric operator or a square tensor.
        num_probes: number of independent probes ``n_v``. Default ``10`` (hessian-eigenthings
            v1; Ghorbani et al. average several draws, PyHessian uses 1).
        num_steps: Lanczos steps per probe ``m``. Default ``80`` (hessian-eigenthings v1;
            Ghorbani et al. use ≈90, PyHessian 100).
        seed: seed of the probes (drawn on the CPU, so the same on every device).
        reorth: ``"full"`` (default, as Ghorbani, PyHessian and eigenthings: no spurious copies
            of outliers) or ``"none"`` (Papyan 2020: ``O(P)`` memory per probe).
        distribution: ``"rademacher"`` (default, PyHessian) or ``"gaussian"`` (Ghorbani). Each
            probe starts Lanczos normalised, so Gaussian probes are already uniform on the
            sphere: the trace estimators' ``"sphere"`` would add nothing and is not accepted.
        basis_device: where to keep the ``num_probes × num_steps`` Krylov vectors with full
            re-orthogonalisation (e.g. ``"cpu"``).

    Returns:
        :class:`SpectralDensityResult` (raw coefficients, nodes and weights; smooth with
        :meth:`SpectralDensityResult.density`).

    Example:
        >>> A = torch.diag(torch.linspace(0.0, 1.0, 50, dtype=torch.float64))
        >>> r = spectral_density(A, num_probes=4, num_steps=20)
        >>> r.nodes.shape, bool(abs(r.moments(1).mean() - 0.5) < 0.1)
        ((4, 20), True)
    """
    H = as_operator(H)
    P = H.shape[0]
    num_probes = check_positive("num_probes", num_probes)
    num_steps = min(check_positive("num_steps", num_steps), P)
    check_choice("distribution", distribution, ("rademacher", "gaussian"))
    gen = torch_generator(seed, "hessian.spectral_density")
    V = _probes(P, num_probes, distribution, gen)
    runs = lanczos_lockstep(H, V, num_steps, reorth=reorth, basis_device=basis_device)
    nodes = np.full((num_probes, num_steps), np.nan)
    weights = np.full((num_probes, num_steps), np.nan)
    for p in range(num_probes):
        th, w = gauss_quadrature(runs.alphas[p], runs.betas[p])
        nodes[p, : th.size], weights[p, : w.size] = th, w
    return SpectralDensityResult(alphas=runs.alphas, betas=runs.betas, nodes=nodes,
                                 weights=weights, num_params=P, num_matvecs=runs.num_matvecs,
                                 reorth=reorth, distribution=distribution, seed=int(seed))
