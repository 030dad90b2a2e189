"""Progressive sharpening and the edge of stability on a digits MLP (Cohen et al., ICLR 2021).

Cohen, Kaur, Li, Kolter and Talwalkar ("Gradient descent on neural networks typically occurs at the
edge of stability", ICLR 2021, Fig. 1) train networks by full-batch gradient descent with step η
and track the sharpness λ_max (the largest eigenvalue of the training loss's Hessian): it rises
during training (progressive sharpening) until it reaches 2/η, the largest sharpness at which
gradient descent on a quadratic is stable, and then hovers just above 2/η while the loss keeps
decreasing, non-monotonically (the edge of stability). This script reproduces that figure on a
small problem with ``TrainConfig(track_curvature=..., track_unit="step")``: λ_max by block
Lanczos warm-started from the previous measurement's top two Ritz vectors, on the whole training
set, in float64.

Problem: a stratified subset of 400 scikit-learn digits (8×8, standardised), an MLP 64-64-64-10
with tanh, float64, seed 0. Runs (momentum 0, constant step):

- full-batch GD with MSE at η ∈ {0.5, 0.8, 1.2} (2/η = 4, 2.5, 1.67) and with cross-entropy at
  η ∈ {0.5, 0.6, 0.7} (2/η = 4, 3.33, 2.86): the sharpness of this network starts at 1.49 (MSE)
  and 0.76 (CE), below every 2/η. Under CE it peaks near 4.6 and then falls as the loss goes to
  zero (at η = 0.2 it never reaches 2/η = 10), so only η > 0.45 meets the edge; η = 0.9
  catapults (the loss rises above 10 and stays there for the 150 steps we ran);
- at the middle η of each loss: SGD with batch 256 and 32, and full-batch GD with SAM
  (ρ = 0.05, :class:`landscape.objectives.SAM` with that base loss).

Each curve's legend says how many Hessian-vector products its tracking cost. Full mode: MSE runs
2000 steps with λ_max every 10, CE runs 400 steps with λ_max every 2 (CE fits the 400 samples
within ~100 steps and its sharpness then falls with the loss, as in Cohen et al.'s CE panels).
``--quick``: 300 MSE steps (every 10), 150 CE steps (every 5). Measured on 2 shared CPU cores
(one torch thread): full mode 419 s for the 12 runs (16-74 s per MSE run, 10-19 s per CE run;
tracking 99 s of it, the optimiser steps 50 s, the per-step evaluation and study writes the
rest), quick mode about 60 s; a rerun that only redraws takes 7 s.

What it shows (full mode, ``figures/edge_of_stability.md``): under MSE the sharpness rises from
1.49 until it reaches 2/η, overshoots (to 4.77 at η = 0.5, with a loss spike), and then hovers
just above 2/η: over steps 1000-2000 its median is 1.04, 1.05 and 1.06 × 2/η for η = 0.5, 0.8,
1.2, while the loss keeps falling non-monotonically. SGD with batch 256 sits at 1.00 × 2/η,
batch 32 at 0.90 ×, and SAM (ρ = 0.05) at 0.45 ×: flatter, as expected. Under CE the sharpness
shoots past 2/η within 10-16 steps (a catapult), then sits at 0.80-0.94 × 2/η over steps 50-150
and falls as the loss goes to zero (Cohen et al.'s CE runs also lose sharpness late in
training).

Outputs (``--figures``, PNG and PDF): ``edge_of_stability_gd`` (columns MSE and CE; top λ_max
against the iteration with 2/η dashed, bottom the training loss) and ``edge_of_stability_sgd_sam``
(the same at the middle η: GD, SGD with batch 256 and 32, GD with SAM); the table goes to
``edge_of_stability.md``.

    python analyses/edge_of_stability.py [--quick] [--out results/edge_of_stability.h5]
        [--figures figures]
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from _deep_common import add_common_args, save_figure, set_threads, study_path

from landscape.data import LabelledDataset, load_splits, subset
from landscape.errors import NonFiniteError
from landscape.models import build
from landscape.objectives import get
from landscape.plot._style import plt
from landscape.train import TrainConfig, TrainResult, train

NUM_SAMPLES = 400
LRS = {"mse": (0.5, 0.8, 1.2), "ce": (0.5, 0.6, 0.7)}
LOSS_LABELS = {"mse": "MSE", "ce": "cross-entropy"}
SAM_RHO = 0.05
BATCHES = (256, 32)


@dataclass(frozen=True)
class Spec:
    """One training run of the analysis."""

    loss: str
    lr: float
    method: str  # "gd", "sgd" or "sam"
    batch_size: int
    steps: int
    every: int

    @property
    def name(self) -> str:
        return f"{self.loss}-{self.method}-bs{self.batch_size}-lr{self.lr:g}-steps{self.steps}"

    @property
    def label(self) -> str:
        if self.method == "gd":
            return f"GD, η = {self.lr:g}"
        if self.method == "sam":
            return f"GD + SAM (ρ = {SAM_RHO:g}), η = {self.lr:g}"
        return f"SGD, batch {self.batch_size}, η = {self.lr:g}"


def specs(quick: bool) -> list[Spec]:
    """The runs: GD at three step sizes per loss, SGD and SAM at the middle one."""
    out = []
    for loss, lrs in LRS.items():
        steps = (300 if loss == "mse" else 150) if quick else (2000 if loss == "mse" else 400)
        every = (10 if loss == "mse" else 5) if quick else (10 if loss == "mse" else 2)
        out += [Spec(loss, lr, "gd", NUM_SAMPLES, steps, every) for lr in lrs]
        mid = lrs[1]
        out += [Spec(loss, mid, "sgd", b, steps, every) for b in BATCHES]
        out.append(Spec(loss, mid, "sam", NUM_SAMPLES, steps, every))
    return out


def run(spec: Spec, data: LabelledDataset, path: str) -> TrainResult | None:
    """Train (or load) one run with λ_max tracked every ``spec.every`` steps."""
    steps_per_epoch = math.ceil(len(data) / spec.batch_size)
    config = TrainConfig(epochs=math.ceil(spec.steps / steps_per_epoch),
                         batch_size=spec.batch_size, lr=spec.lr, momentum=0.0,
                         schedule="constant", seed=0, track_curvature=spec.every,
                         track_unit="step", track_samples=0, track_trace_matvecs=0,
                         track_tol=1e-3, track_top_k=2)
    model = build("mlp", data.input_shape, data.num_classes, seed=0, depth=2, width=64,
                  activation="tanh").double()
    objective = get("sam", rho=SAM_RHO, base=spec.loss) if spec.method == "sam" \
        else get(spec.loss)
    try:
        return train(model, objective, data, None, config, study=path, run=spec.name,
                     progress=False)
    except NonFiniteError as err:
        print(f"  {spec.name}: diverged ({err})")
        return None


def summary(spec: Spec, result: TrainResult) -> dict[str, float]:
    """Sharpness and cost figures of one run."""
    t = result.tracking
    ok = np.isfinite(t["lambda_max"])
    step, lam = t["step"][ok], t["lambda_max"][ok]
    threshold = 2.0 / spec.lr
    late = step >= step[-1] / 2
    reach = np.flatnonzero(lam >= 0.9 * threshold)
    h = result.history
    return {"lambda0": lam[0], "max": lam.max(), "late_median": float(np.median(lam[late])),
            "ratio": float(np.median(lam[late])) / threshold,
            "reach": float(step[reach[0]]) if reach.size else math.nan,
            "loss": float(h["train_loss"][-1]), "hvps": float(np.nansum(t["hvp_count"])),
            "track_s": float(np.nansum(t["track_seconds"])),
            "train_s": float(np.nansum(h["epoch_seconds"]) - np.nansum(t["track_seconds"])),
            "measurements": int(ok.sum())}


def _loss_steps(spec: Spec, result: TrainResult) -> tuple[np.ndarray, np.ndarray]:
    spe = math.ceil(NUM_SAMPLES / spec.batch_size)
    return result.epochs * spe, result.history["train_loss"]


def figure(runs: list[tuple[Spec, TrainResult]], title: str, folder: str, stem: str,
           color_by_lr: bool) -> Path:
    """Columns MSE and CE; top λ_max with 2/η dashed, bottom the training loss."""
    fig, axes = plt.subplots(2, 2, figsize=(12, 7.5), sharex="col",
                             gridspec_kw={"height_ratios": [1.4, 1]})
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for col, loss in enumerate(LRS):
        ax_l, ax_loss = axes[0, col], axes[1, col]
        mine = [(s, r) for s, r in runs if s.loss == loss]
        for k, (spec, result) in enumerate(mine):
            c = colors[(LRS[loss].index(spec.lr) if color_by_lr else k) % len(colors)]
            t = result.tracking
            ok = np.isfinite(t["lambda_max"])
            hvps = int(np.nansum(t["hvp_count"]))
            ax_l.plot(t["step"][ok], t["lambda_max"][ok], color=c, lw=1.2)
            if color_by_lr or k == 0:
                ax_l.axhline(2.0 / spec.lr, color=c if color_by_lr else "k", ls="--", lw=1)
            ax_loss.plot(*_loss_steps(spec, result), color=c, lw=1.2,
                         label=f"{spec.label}: λ_max cost {hvps} HVPs")
        for spec, _ in mine[: len(LRS[loss]) if color_by_lr else 1]:
            ax_l.annotate(f"2/η = {2 / spec.lr:.3g}", (1.0, 2.0 / spec.lr),
                          xycoords=("axes fraction", "data"), xytext=(4, 0),
                          textcoords="offset points", va="center", fontsize=8)
        ax_l.set(title=f"{LOSS_LABELS[loss]}", ylabel="sharpness λ_max (training loss)")
        ax_l.set_ylim(0, 1.35 * max(2.0 / s.lr for s, _ in mine))
        ax_loss.legend(fontsize=7.5, loc="upper right")
        ax_loss.set(xlabel="iteration (optimiser step)", ylabel="training loss, log scale",
                    yscale="log")
        for ax in (ax_l, ax_loss):
            ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return save_figure(fig, folder, stem)


def table(rows: list[tuple[Spec, dict[str, float]]], path: Path) -> None:
    """The markdown table of the runs."""
    train_s = sum(s["train_s"] for _, s in rows)
    track_s = sum(s["track_s"] for _, s in rows)
    lines = [
        "# Edge of stability on a digits MLP", "",
        f"{NUM_SAMPLES} digits, MLP 64-64-64-10 tanh, float64; λ_max of the full training loss "
        "by block Lanczos warm-started from the last top-2 Ritz vectors (tol 1e-3) every few "
        "steps. `late median`: median λ_max over "
        "the second half of training; `ratio`: that over 2/η; `reaches 0.9·2/η`: first "
        "measured step with λ_max ≥ 0.9·2/η. Seconds on 2 shared CPU cores, one thread, as "
        f"stored with the runs (optimiser steps {train_s:.0f} s, tracking {track_s:.0f} s in "
        "all; evaluation and writing the study come on top).", "",
        "| run | 2/η | λ_max(0) | max λ_max | late median | ratio | reaches 0.9·2/η | "
        "final loss | HVPs (measurements) | tracking s | training s |",
        "|---|---|---|---|---|---|---|---|---|---|---|"]
    for spec, s in rows:
        reach = "never" if math.isnan(s["reach"]) else f"step {s['reach']:.0f}"
        lines.append(
            f"| {LOSS_LABELS[spec.loss]}, {spec.label} | {2 / spec.lr:.3g} | {s['lambda0']:.3g} "
            f"| {s['max']:.3g} | {s['late_median']:.3g} | {s['ratio']:.2f} | {reach} | "
            f"{s['loss']:.3g} | {s['hvps']:.0f} ({s['measurements']}) | {s['track_s']:.1f} | "
            f"{s['train_s']:.1f} |")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser, "edge_of_stability")
    args = parser.parse_args()
    set_threads(args.threads)
    start = time.perf_counter()
    path = study_path(args, "edge_of_stability")
    train_split, _ = load_splits("digits", seed=0)
    data = subset(train_split, NUM_SAMPLES, seed=0)
    done: list[tuple[Spec, TrainResult]] = []
    rows = []
    for spec in specs(args.quick):
        t0 = time.perf_counter()
        result = run(spec, data, path)
        if result is None:
            continue
        done.append((spec, result))
        s = summary(spec, result)
        rows.append((spec, s))
        print(f"  {spec.name:34s} 2/η {2 / spec.lr:5.3g}  λ_max(0) {s['lambda0']:.3g}  max "
              f"{s['max']:.3g}  late median {s['late_median']:.3g} ({s['ratio']:.2f}·2/η)  "
              f"loss {s['loss']:.3g}  {s['hvps']:.0f} HVPs  [{time.perf_counter() - t0:.1f} s]")
    mode = "quick: " if args.quick else ""
    gd = [(s, r) for s, r in done if s.method == "gd"]
    print(figure(gd, f"{mode}full-batch gradient descent, {NUM_SAMPLES} digits, tanh MLP: "
                     "sharpness λ_max against 2/η (dashed)", args.figures,
                 "edge_of_stability_gd", True))
    other = [(s, r) for s, r in done if s.method != "gd"]
    mids = [(s, r) for s, r in gd if s.lr == LRS[s.loss][1]]
    print(figure(mids + other, f"{mode}at the middle step size: GD, SGD (batch 256, 32) and "
                               f"GD + SAM (ρ = {SAM_RHO:g})", args.figures,
                 "edge_of_stability_sgd_sam", False))
    table(rows, Path(args.figures) / "edge_of_stability.md")
    print(f"done in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
