"""The built-in flatness measures: local energy, width, PAC-Bayes σ, sharpness, local entropy,
the gap, and the literature measures (Fisher–Rao norm, relative flatness).

Each is a :class:`~landscape.compare.protocol.Measure` over an estimator of
:mod:`landscape.flatness`; the defaults are those of :class:`~landscape.compare.MeasureConfig`
(sized for the digits MLP of ``landscape demo``; see its docstring for where they come from).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from landscape.compare import figures
from landscape.compare.protocol import Context, Measure, Scalar
from landscape.compare.registry import add, register_measure
from landscape.flatness import (
    LocalEnergyResult,
    LocalEntropyResult,
    PacBayesSigmaResult,
    SharpnessResult,
    WidthResult,
    flat_minimum_width,
    local_energy,
    local_entropy,
    pac_bayes_sigma,
    sharpness,
)
from landscape.flatness.fisher_rao import fisher_rao_norm
from landscape.flatness.local_entropy import check_gammas
from landscape.flatness.relative_flatness import relative_flatness

#: The normal quantile of a two-sided 95 % interval.
Z95 = 1.959963984540054


def _reference_index(sigmas: np.ndarray, reference: float) -> int:
    hits = np.flatnonzero(np.isclose(sigmas, reference))
    if hits.size == 0:
        from landscape.errors import ConfigError

        raise ConfigError(f"reference_sigma={reference} must be one of the sigmas "
                          f"{sigmas.tolist()}")
    return int(hits[0])


def _local_energy(ctx: Context, s: dict[str, Any]) -> LocalEnergyResult:
    _reference_index(np.asarray(s["sigmas"], dtype=float), s["reference_sigma"])
    return local_energy(ctx.model, ctx.loss_fn, ctx.data, s["sigmas"], s["num_draws"],
                        noise=s["noise"], seed=s["seed"], per_batch_noise=s["per_batch_noise"],
                        bn=s["bn"], progress=ctx.progress, checkpoint=ctx.checkpoint,
                        forward=ctx.forward)


def _local_energy_scalars(r: LocalEnergyResult, s: dict[str, Any]) -> dict[str, float]:
    i = _reference_index(r.sigmas, s["reference_sigma"])
    return {"local_energy_error": float(r.error_delta[i]), "local_energy_loss": float(r.delta[i])}


def _local_energy_intervals(r: LocalEnergyResult, s: dict[str, Any]
                            ) -> dict[str, tuple[float, float]]:
    """±1.96 standard errors over the noise draws at σ*."""
    i = _reference_index(r.sigmas, s["reference_sigma"])
    out = {}
    for key, mean, se in (("local_energy_error", r.error_delta[i], r.error_stderr[i]),
                          ("local_energy_loss", r.delta[i], r.stderr[i])):
        out[key] = (float(mean - Z95 * se), float(mean + Z95 * se))
    return out


add(Measure(
    name="local_energy", compute=_local_energy,
    defaults={"sigmas": [0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5], "num_draws": 64,
              "noise": "multiplicative", "seed": 0, "per_batch_noise": False, "bn": "stored",
              "reference_sigma": 0.3},
    summarise=_local_energy_scalars, intervals=_local_energy_intervals,
    result_type=LocalEnergyResult, summary_only=("reference_sigma",),
    scalars=(Scalar("local_energy_error", "δerr(σ*)",
                    "local energy of the training error at σ = reference_sigma (fraction)",
                    axis="δ training error at σ* (fraction)", signed=True),
             Scalar("local_energy_loss", "δloss(σ*)",
                    "local energy of the training loss at σ = reference_sigma (objective units)",
                    log=True, axis="δ training loss at σ* (objective units)", own_units=True)),
    description="δE(σ) of the training loss and error under multiplicative weight noise",
    resumable=True, figure=figures.local_energy, figure_name="local_energy",
    caption=lambda s: f"σ = {s['reference_sigma']:g}, {s['num_draws']} draws"))


def _width(ctx: Context, s: dict[str, Any]) -> WidthResult:
    return flat_minimum_width(ctx.model, ctx.loss_fn, ctx.data, s["threshold"],
                              quantity=s["quantity"], num_samples=s["num_draws"],
                              sigma_bounds=tuple(s["sigma_bounds"]), rtol=s["rtol"],
                              confidence=s["confidence"], noise=s["noise"], seed=s["seed"],
                              bn=s["bn"], forward=ctx.forward)


add(Measure(
    name="width", compute=_width,
    defaults={"threshold": 0.05, "quantity": "error", "num_draws": 32,
              "sigma_bounds": [0.01, 3.0], "rtol": 0.01, "confidence": 0.95,
              "noise": "multiplicative", "seed": 0, "bn": "stored"},
    summarise=lambda r, s: {"width": float(r.width)}, result_type=WidthResult,
    intervals=lambda r, s: {"width": (float(r.ci_low), float(r.ci_high))},
    scalars=(Scalar("width", "width",
                    "flat-minimum width: σ where δ training error reaches the threshold",
                    "higher", axis="flat-minimum width: σ where δ training error = threshold "
                         "(relative weight noise)"),),
    description="the σ where δE of the training error reaches a threshold, with its CI",
    caption=lambda s: f"δ training error = {s['threshold']:g}, "
                      f"{100 * s['confidence']:.0f}% CI"))


def _pac_bayes(ctx: Context, s: dict[str, Any]) -> PacBayesSigmaResult:
    return pac_bayes_sigma(ctx.model, ctx.loss_fn, ctx.data, target=s["target"],
                           tolerance=s["tolerance"], sigma_bounds=tuple(s["sigma_bounds"]),
                           max_steps=s["max_steps"], num_samples=s["num_draws"],
                           noise=s["noise"], seed=s["seed"], forward=ctx.forward)


add(Measure(
    name="pac_bayes_sigma", compute=_pac_bayes,
    defaults={"target": 0.1, "tolerance": 0.01, "sigma_bounds": [0.0, 2.0], "max_steps": 15,
              "num_draws": 10, "noise": "additive", "seed": 0},
    summarise=lambda r, s: {"pac_bayes_sigma": float(r.sigma)}, result_type=PacBayesSigmaResult,
    scalars=(Scalar("pac_bayes_sigma", "σ′ (PAC-Bayes)",
                    "Jiang et al. 2020's σ′: additive noise raising the training error by the "
                    "target", "higher", axis="PAC-Bayes σ′"),),
    description="Jiang et al. (2020)'s PAC-Bayes σ′ search"))


def _sharpness(ctx: Context, s: dict[str, Any]) -> SharpnessResult:
    return sharpness(ctx.model, ctx.loss_fn, ctx.data, s["rho"], norm=s["norm"],
                     steps=s["steps"], forward=ctx.forward)


add(Measure(
    name="sharpness", compute=_sharpness, defaults={"rho": 0.2, "norm": "l2", "steps": 20},
    summarise=lambda r, s: {"sharpness": float(r.delta_loss)}, result_type=SharpnessResult,
    scalars=(Scalar("sharpness", "sharpness",
                    "worst-case loss increase in the L2 ball of radius ρ (objective units)",
                    log=True, axis="worst-case loss increase in the L2 ball (objective units)",
                    own_units=True),),
    description="largest loss increase in an L2 ball of radius ρ (projected gradient ascent)",
    caption=lambda s: f"{s['norm'].upper()} ball ρ = {s['rho']:g}, {s['steps']} ascent steps"))


def _local_entropy(ctx: Context, s: dict[str, Any]) -> LocalEntropyResult:
    return local_entropy(ctx.model, ctx.loss_fn, ctx.data, s["gammas"],
                         num_chains=s["num_chains"], num_steps=s["num_steps"],
                         burn_in=s["burn_in"], step_size=s["step_size"], seed=s["seed"],
                         progress=ctx.progress, checkpoint=ctx.checkpoint, forward=ctx.forward)


def _entropy_defaults() -> dict[str, Any]:
    return {"gammas": [1e4, 3e4, 1e5], "num_chains": 4, "num_steps": 50, "burn_in": 50,
            "step_size": 0.02, "seed": 0}


add(Measure(
    name="local_entropy", compute=_local_entropy, defaults=_entropy_defaults(),
    summarise=lambda r, s: {"local_entropy": float(r.phi_excess[0])},
    intervals=lambda r, s: {"local_entropy": tuple(float(v[0]) for v in r.phi_excess_ci(0.95))},
    result_type=LocalEntropyResult,
    scalars=(Scalar("local_entropy", "ΔΦ(γ_min)",
                    "local entropy excess over a flat region at the smallest γ (nats)",
                    "higher", log=True, axis="local entropy ΔΦ at the smallest γ (nats)",
                    signed=True),),
    description="ΔΦ(γ) by coupled SGLD chains, annealed from large to small γ",
    resumable=True, figure=figures.local_entropy, figure_name="local_entropy",
    caption=lambda s: f"γ = {min(s['gammas']):g}, {s['num_chains']} SGLD chains"))


def sorted_gammas(gammas: Any) -> list[float]:
    """The γ values as :func:`~landscape.flatness.local_entropy` sorts them."""
    return check_gammas(gammas)[0].tolist()


def _gap(ctx: Context, s: dict[str, Any]) -> Any:
    from landscape.compare.gap import gap_from_history

    return gap_from_history(ctx.history, ctx.attrs)


add(Measure(
    name="gap", compute=_gap, defaults={},
    summarise=lambda r, s: {"error_gap": r.error_gap, "loss_gap": r.loss_gap},
    scalars=(Scalar("error_gap", "error gap", "test error − training error (fraction)", None,
                    axis="error gap (test − train error)", signed=True),
             Scalar("loss_gap", "loss gap", "test loss − training loss (objective units)",
                    None, axis="loss gap (objective units)", signed=True)),
    description="the generalisation gap at the last epoch, from the stored history",
    stored=False, uses_model=False))


# The literature measures go through the public recipe, register_measure, like a user's would.
register_measure("fisher_rao", fisher_rao_norm, flatter="lower", label="‖θ‖²_fr", log=True,
                 description="Fisher–Rao norm θᵀF(θ)θ (Liang, Poggio, Rakhlin, Stokes 2019)")
register_measure("relative_flatness", relative_flatness, flatter="lower", label="κ_Tr",
                 log=True, description="relative flatness κ^φ_Tr of one layer (Petzka et al. "
                                       "2021)")
