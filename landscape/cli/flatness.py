"""``landscape flatness``: local-energy curve of a stored run, with its width and sharpness."""

from __future__ import annotations

import argparse

import numpy as np

from landscape.cli._common import DTYPES
from landscape.errors import ConfigError


def _draw_width(ax: object, w: object, threshold: float) -> None:
    """The flat-minimum width on the error panel: the threshold (dashed), the width σ* and its
    interval (vertical line and band; "not bracketed" when σ* is outside the σ range), and the
    points its search evaluated, so a width beyond the curve's σ range is drawn on its evidence."""
    ax.axhline(threshold, color="C3", ls="--", lw=1, label=f"threshold δ error = {threshold:g}")
    if len(w.sigmas):
        ax.errorbar(w.sigmas, w.delta, yerr=1.96 * np.asarray(w.stderr), fmt="x", ms=4,
                    color="C3", elinewidth=0.8, capsize=2, label="width search (95% interval)")
    if np.isfinite(w.width):
        ax.axvline(w.width, color="C3", lw=1.2,
                   label=f"width σ* = {w.width:.3g} [{w.ci_low:.3g}, {w.ci_high:.3g}]")
        if np.isfinite(w.ci_low) and np.isfinite(w.ci_high):
            ax.axvspan(w.ci_low, w.ci_high, color="C3", alpha=0.12, lw=0)
    else:
        ax.plot([], [], color="C3", label="width: not bracketed in the σ range")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"expected comma-separated numbers, got {text!r}") from None


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("flatness", help="local energy (flatness) of a stored run, stored+plotted",
                       description="Local energy δE(σ) of a trained run on its training data: "
                                   "loss and error increase under random weight perturbations, "
                                   "with confidence intervals; resumable per σ.")
    p.add_argument("file", help="study file")
    p.add_argument("--run", required=True, help="run name in the study file")
    p.add_argument("--sigmas", default="0,0.01,0.02,0.05,0.1,0.2,0.3,0.5",
                   help="comma-separated σ values (default %(default)s)")
    p.add_argument("--draws", type=int, default=32, help="noise draws per σ (default 32)")
    p.add_argument("--noise", default="multiplicative",
                   choices=["multiplicative", "additive", "filter", "layer"],
                   help="how the weights are perturbed (default multiplicative)")
    p.add_argument("--per-batch-noise", action="store_true",
                   help="redraw the noise per batch (cheaper, a different estimator)")
    p.add_argument("--bn", default="stored", choices=["stored", "recalibrate"],
                   help="BatchNorm statistics: as stored, or recalibrated per perturbed copy")
    p.add_argument("--samples", type=int, default=None, metavar="N",
                   help="measure on a fixed stratified subset of N training samples")
    p.add_argument("--batch-size", type=int, default=1024,
                   help="evaluation batch size (default 1024)")
    p.add_argument("--width", type=float, default=None, metavar="THRESHOLD",
                   help="also find the flat-minimum width: σ where δ(train error) = THRESHOLD")
    p.add_argument("--sharpness", type=float, default=None, metavar="RHO",
                   help="also measure worst-case sharpness in an L2 ball of radius RHO")
    p.add_argument("--local-entropy", default=None, metavar="GAMMAS",
                   help="also estimate the local entropy by SGLD at these comma-separated "
                        "couplings γ (e.g. 1e4,1e3,1e2)")
    p.add_argument("--chains", type=int, default=8, help="SGLD chains (default 8)")
    p.add_argument("--sgld-steps", type=int, default=200, help="SGLD steps per γ after burn-in")
    p.add_argument("--sgld-step-size", type=float, default=0.01, help="SGLD step size η")
    p.add_argument("--dtype", default="float32", choices=sorted(DTYPES),
                   help="precision of the measurement (default float32)")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise draws (default 0)")
    p.add_argument("--data-dir", default=None, help="where the run's dataset files are now")
    p.add_argument("--overwrite", action="store_true",
                   help="recompute the asked results and replace them (results of other "
                        "settings are kept either way)")
    p.add_argument("--plot", default=None, metavar="PNG",
                   help="figure path (default: beside the study, <study>-<run>-flatness.png)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from landscape.cli._common import figure_path
    from landscape.compare import MeasureConfig, measure_minimum
    from landscape.flatness.plots import plot_local_energy
    from landscape.plot import save
    from landscape.plot._style import plt

    noise = {"noise": args.noise, "seed": args.seed, "bn": args.bn}
    asked: dict[str, dict[str, object]] = {"local_energy": {
        "sigmas": _floats(args.sigmas), "num_draws": args.draws,
        "per_batch_noise": args.per_batch_noise, "reference_sigma": _floats(args.sigmas)[-1],
        **noise}}
    if args.width is not None:
        asked["width"] = {"threshold": args.width, "quantity": "error", **noise}
    if args.sharpness is not None:
        asked["sharpness"] = {"rho": args.sharpness, "steps": 10}
    if args.local_entropy is not None:
        asked["local_entropy"] = {"gammas": _floats(args.local_entropy),
                                  "num_chains": args.chains, "num_steps": args.sgld_steps,
                                  "burn_in": args.sgld_steps, "step_size": args.sgld_step_size,
                                  "seed": args.seed}
    m = measure_minimum(args.file, args.run, measures=list(asked), settings=asked,
                        config=MeasureConfig(num_samples=args.samples, seed=args.seed),
                        overwrite=args.overwrite, progress=not args.quiet,
                        data_dir=args.data_dir, dtype=args.dtype, batch_size=args.batch_size)
    result = m.local_energy
    print(f"{args.run}: local energy on {result.num_data} samples, {args.draws} draws per σ, "
          f"base loss {result.base:.5g}, base error {result.base_error:.4f}; computed "
          f"{', '.join(m.recomputed) or 'nothing (all stored)'}")
    for s, d, e, de in zip(result.sigmas, result.delta, result.stderr, result.error_delta):
        print(f"  σ={s:<8.4g} δloss {d:+.5g} ± {1.96 * e:.2g}   δerror {de:+.4f}")
    if m.width is not None:
        w = m.width
        print(f"  width (δerror = {args.width:g}): σ = {w.width:.4g} "
              f"[{w.ci_low:.4g}, {w.ci_high:.4g}] ({w.confidence:.0%} interval)"
              + ("" if w.bracketed else "  (not bracketed in the σ range)"))
    if m.sharpness is not None:
        sh = m.sharpness
        print(f"  sharpness (L2, ρ={args.sharpness:g}, 10 ascent steps): Δloss "
              f"{sh.loss - sh.base:+.5g}, Δerror {sh.error - sh.base_error:+.4f}")
    if m.local_entropy is not None:
        le = m.local_entropy
        print(f"  local entropy (SGLD, β={le.beta:g}, {le.num_chains} chains): excess log-volume"
              " over a flat region ΔΦ(γ), and ⟨‖w′−w‖²⟩")
        for g, phi, se, d2 in zip(le.gammas, le.phi_excess, le.phi_excess_stderr,
                                  le.sq_dist_mean):
            print(f"    γ={g:<10.4g} ΔΦ {phi:+.5g} ± {1.96 * se:.2g}   ⟨‖w′−w‖²⟩ {d2:.4g}")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8 if m.width is None else 4.8))
    plot_local_energy(result, axes[0], quantity="loss")
    plot_local_energy(result, axes[1], quantity="error")
    axes[0].set_title("training loss", fontsize=9)
    axes[1].set_title("training error", fontsize=9)
    if m.width is not None:
        _draw_width(axes[1], m.width, args.width)
    fig.suptitle(f"{args.run}: local energy, {args.noise} noise, {args.draws} draws per σ, "
                 f"n={result.num_data}")
    fig.tight_layout()
    out = args.plot or figure_path(args.file, args.run, "flatness")
    print(f"  figure: {save(fig, out)}")
    return 0 if np.isfinite(result.mean).all() else 1
