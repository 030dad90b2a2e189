"""The built-in Hessian measures: top (and bottom) eigenvalues, trace, spectral density.

Each runs an estimator of :mod:`landscape.hessian` on the curvature (Hessian or GGN) of the
run's training loss over the measured samples, optionally restricted to a block of parameters
(``params``: a glob over parameter names). Defaults as :class:`~landscape.compare.MeasureConfig`.
"""

from __future__ import annotations

from typing import Any

from landscape.compare import figures
from landscape.compare.protocol import Context, Measure, Scalar
from landscape.compare.registry import add
from landscape.hessian import (
    EigenResult,
    GGNOperator,
    HessianOperator,
    SpectralDensityResult,
    TraceResult,
    eigenvalues,
    spectral_density,
    trace,
)

#: Settings every Hessian measure has: the curvature, the parameter block and the seed.
COMMON = {"curvature": "hessian", "params": None, "seed": 0}


def operator(ctx: Context, s: dict[str, Any]) -> HessianOperator | GGNOperator:
    """The curvature operator of the context's loss and data named by the settings."""
    from landscape.errors import ConfigError

    if s["curvature"] not in ("hessian", "ggn"):
        raise ConfigError(f"curvature must be 'hessian' or 'ggn', got {s['curvature']!r}")
    cls = HessianOperator if s["curvature"] == "hessian" else GGNOperator
    return cls(ctx.model, ctx.loss_fn, ctx.data, params=s["params"], forward=ctx.forward)


def _top(ctx: Context, s: dict[str, Any]) -> EigenResult:
    return eigenvalues(operator(ctx, s), k=s["k"], which="largest", tol=s["tol"], seed=s["seed"])


def _bottom(ctx: Context, s: dict[str, Any]) -> EigenResult:
    return eigenvalues(operator(ctx, s), k=s["k"], which="smallest", tol=s["tol"],
                       seed=s["seed"])


def _trace(ctx: Context, s: dict[str, Any]) -> TraceResult:
    return trace(operator(ctx, s), num_matvecs=s["num_matvecs"], method=s["method"],
                 seed=s["seed"])


def _density(ctx: Context, s: dict[str, Any]) -> SpectralDensityResult:
    return spectral_density(operator(ctx, s), num_probes=s["num_probes"],
                            num_steps=s["num_steps"], seed=s["seed"])


add(Measure(
    name="hessian_top", compute=_top, defaults={"k": 5, "tol": 1e-3, **COMMON},
    summarise=lambda r, s: {"lambda_max": float(r.eigenvalues[0])}, result_type=EigenResult,
    scalars=(Scalar("lambda_max", "λ_max", "largest Hessian eigenvalue (objective units)",
                    log=True, axis="largest Hessian eigenvalue λ_max (objective units)",
                    own_units=True),),
    description="top-k eigenpairs by thick-restart Lanczos",
    caption=lambda s: f"Lanczos, relative residual ≤ {s['tol']:g}"))

add(Measure(
    name="hessian_bottom", compute=_bottom, defaults={"k": 5, "tol": 1e-3, **COMMON},
    summarise=lambda r, s: {"lambda_min": float(r.eigenvalues[0])}, result_type=EigenResult,
    scalars=(Scalar("lambda_min", "λ_min", "smallest Hessian eigenvalue (objective units)",
                    None, axis="λ_min (objective units)"),),
    description="bottom-k eigenpairs by thick-restart Lanczos"))

add(Measure(
    name="hessian_trace", compute=_trace,
    defaults={"num_matvecs": 60, "method": "hutch++", **COMMON},
    summarise=lambda r, s: {"trace": float(r.estimate)}, result_type=TraceResult,
    intervals=lambda r, s: {"trace": (float(r.estimate - 1.96 * r.stderr),
                                      float(r.estimate + 1.96 * r.stderr))},
    scalars=(Scalar("trace", "tr H", "Hessian trace, Hutch++ (objective units)", log=True,
                    axis="Hessian trace (objective units)", own_units=True),),
    description="the trace by Hutchinson-type estimators",
    caption=lambda s: f"{s['method']}, {s['num_matvecs']} products, ±1.96 s.e."))

add(Measure(
    name="hessian_density", compute=_density,
    defaults={"num_probes": 8, "num_steps": 60, **COMMON},
    summarise=lambda r, s: {}, result_type=SpectralDensityResult,
    description="the spectral density by stochastic Lanczos quadrature",
    figure=figures.spectra, figure_name="spectra"))
