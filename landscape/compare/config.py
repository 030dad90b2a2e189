"""The settings preset of the built-in measures of a minimum (:class:`MeasureConfig`)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from landscape.errors import ConfigError


@dataclass(frozen=True)
class MeasureConfig:
    """Settings of every measurement of :func:`measure_minimum`.

    The defaults are sized for the digits MLP of ``landscape demo`` (64-64-64-10, 8970 weights,
    1348 training samples): about 6 s per minimum on one CPU thread, two thirds of it SGLD.
    :meth:`quick` is a CI-sized preset (well under a second per minimum, on 400 samples); its
    estimates are rough.

    Attributes:
        sigmas: noise scales σ of the local-energy curve (multiplicative noise, Pittorino et al.
            2021: ``w ← w ⊙ (1 + σ z)``). Default 0 … 0.5 in 8 steps.
        num_draws: noise draws per σ of the local-energy curve (the same draws at every σ).
            Default 64.
        reference_sigma: the σ at which the curve is summarised into one number (must be one
            of ``sigmas``). Default 0.3, where the training error of the demo minima rises by a
            few per cent.
        width_threshold: increase of the training error that defines the edge of the minimum
            for the flat-minimum width. Default 0.05 (five percentage points).
        width_bounds: ``(lo, hi)`` σ range searched for the width. Default ``(0.01, 3.0)``.
        width_draws: noise draws per σ of the width search. Default 32.
        width_rtol: relative precision of the width's bisection. Default 0.01.
        confidence: level of the width's confidence interval. Default 0.95.
        rho: radius ρ of the L2 ball of the worst-case sharpness. Default 0.2 (about 1 % of the
            demo MLP's weight norm).
        sharpness_steps: projected gradient-ascent steps of the sharpness. Default 20.
        gammas: couplings γ of the local entropy, from the widest scale of interest up to
            ``γ_max ≫ β λ_max`` (β = number of samples, λ_max ≈ 1–10 on the demo MLPs). Default
            ``(1e4, 3e4, 1e5)``.
        entropy_chains, entropy_burn_in, entropy_steps: SGLD chains, and discarded and recorded
            steps per γ. Defaults 4, 50, 50. The burn-in must cover the relaxation of the chains,
            about ``β/(η γ_min)`` steps per e-fold in the flat directions (7 here): ΔΦ integrates
            ``γ m(γ) − P`` over P ≈ 9000 weights, so an unrelaxed chain biases it by many nats
            (watch ``sq_dist_drift``).
        entropy_step_size: the SGLD step η; its bias is about ``η λ/2`` relative in a direction
            of curvature λ. Default 0.02.
        topk: number of top Hessian eigenvalues (thick-restart Lanczos). Default 5.
        eigen_tol: relative residual tolerance of the eigenpairs. Default 1e-3.
        trace_matvecs: Hessian-vector products of the Hutch++ trace. Default 60.
        density_probes, density_steps: SLQ probes and Lanczos steps per probe of the spectral
            density. Defaults 8 and 60.
        num_samples: measure on a fixed stratified subset of this many training samples
            (seeded by ``seed``; its indices are stored), ``None`` for all. Default ``None``.
        seed: seeds every random draw (noise, chains, probes, start vectors). Default 0.
    """

    sigmas: tuple[float, ...] = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5)
    num_draws: int = 64
    reference_sigma: float = 0.3
    width_threshold: float = 0.05
    width_bounds: tuple[float, float] = (0.01, 3.0)
    width_draws: int = 32
    width_rtol: float = 0.01
    confidence: float = 0.95
    rho: float = 0.2
    sharpness_steps: int = 20
    gammas: tuple[float, ...] = (1e4, 3e4, 1e5)
    entropy_chains: int = 4
    entropy_burn_in: int = 50
    entropy_steps: int = 50
    entropy_step_size: float = 0.02
    topk: int = 5
    eigen_tol: float = 1e-3
    trace_matvecs: int = 60
    density_probes: int = 8
    density_steps: int = 60
    num_samples: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.reference_sigma not in self.sigmas:
            raise ConfigError(f"reference_sigma={self.reference_sigma} must be one of the "
                              f"sigmas {list(self.sigmas)}")
        if not self.gammas or min(self.gammas) <= 0:
            raise ConfigError(f"gammas must be non-empty and > 0, got {list(self.gammas)}")
        counts = {"num_draws": self.num_draws, "width_draws": self.width_draws,
                  "sharpness_steps": self.sharpness_steps, "entropy_chains": self.entropy_chains,
                  "entropy_steps": self.entropy_steps, "topk": self.topk,
                  "trace_matvecs": self.trace_matvecs, "density_probes": self.density_probes,
                  "density_steps": self.density_steps}
        if self.num_samples is not None:
            counts["num_samples"] = self.num_samples
        bad = {k: v for k, v in counts.items() if int(v) != v or v < 1}
        if bad:
            raise ConfigError(f"these settings must be positive integers: {bad}")

    @classmethod
    def quick(cls) -> MeasureConfig:
        """A CI-sized preset: 400 samples, few σ, draws, chains, steps and probes (rough
        estimates, well under a second per digits MLP)."""
        return cls(sigmas=(0.0, 0.05, 0.1, 0.2, 0.3, 0.5), num_draws=16, width_draws=8,
                   width_rtol=0.05, sharpness_steps=5, gammas=(1e4, 1e5), entropy_chains=2,
                   entropy_burn_in=20, entropy_steps=20, topk=2, eigen_tol=1e-2,
                   trace_matvecs=12, density_probes=2, density_steps=20, num_samples=400)

    def to_dict(self) -> dict[str, Any]:
        """All settings as plain JSON-able values."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def settings(self) -> dict[str, dict[str, Any]]:
        """The settings of each built-in measure these fields describe (the registry's measure
        names as keys; :func:`~landscape.compare.measure_minimum` passes them on)."""
        seed = self.seed
        return {
            "local_energy": {"sigmas": [float(s) for s in self.sigmas],
                             "num_draws": self.num_draws, "noise": "multiplicative",
                             "seed": seed, "per_batch_noise": False, "bn": "stored",
                             "reference_sigma": self.reference_sigma},
            "width": {"threshold": self.width_threshold, "quantity": "error",
                      "num_draws": self.width_draws, "sigma_bounds": list(self.width_bounds),
                      "rtol": self.width_rtol, "confidence": self.confidence,
                      "noise": "multiplicative", "seed": seed, "bn": "stored"},
            "sharpness": {"rho": self.rho, "norm": "l2", "steps": self.sharpness_steps},
            "local_entropy": {"gammas": [float(g) for g in self.gammas],
                              "num_chains": self.entropy_chains,
                              "num_steps": self.entropy_steps,
                              "burn_in": self.entropy_burn_in,
                              "step_size": self.entropy_step_size, "seed": seed},
            "hessian_top": {"k": self.topk, "tol": self.eigen_tol, "curvature": "hessian",
                            "params": None, "seed": seed},
            "hessian_trace": {"num_matvecs": self.trace_matvecs, "method": "hutch++",
                              "curvature": "hessian", "params": None, "seed": seed},
            "hessian_density": {"num_probes": self.density_probes,
                                "num_steps": self.density_steps, "curvature": "hessian",
                                "params": None, "seed": seed},
        }
