"""Cross-entropy minimisers sit in the wide flat minima of the error loss (PNAS 2020).

Two measurements on teacher–student instances of the binary perceptron:

1. **CE minimisers vs error-loss minimisers.** Solutions reached by SGD on the γ-cross-entropy
   ``f_γ(x) = −x/2 + log(2 cosh γx)/(2γ)`` of the stabilities (binary weights through
   straight-through hidden states, ``landscape.shallow.gamma_ce_sgd``, γ annealed 0.5 → 20) against
   solutions of the error (0/1) loss found by simulated annealing and by the clipped perceptron
   rule, and the teacher (a typical solution): local energy δE(p) and local entropy S(d) of the
   **error** loss around each.
2. **Slowly reducing the weight norm.** For continuous weights, raising γ at fixed ‖w‖ is the same
   as lowering the norm of the weights that enter the plain CE: the schedule of γ *is* the
   schedule of the norm. The same learner and the same number of epochs, with γ raised
   geometrically from 0.5 to 20 over the first ``T`` epochs and then held (``T = 0``: γ = 20 from
   the start, the "jump"). Reported: δE(p = 0.02) and S(d) at a fixed coupling against ``T``.

Curves are means over the solved instances with 95 % intervals; the table gives the numbers.

    python analyses/shallow_ce_minimisers.py [--quick] [--out results/shallow_ce_minimisers.h5]
        [--figure figures/shallow_ce_minimisers.png]

Sizes: ``--quick`` N = 201, 2 instances, 100 epochs (~20 s); full N = 401, 10 instances,
300 epochs, ramps T ∈ {0, 3, 10, 30, 100, 300}. α = 0.3 and moderate N keep the error-loss
learners (simulated annealing, clipped perceptron) able to solve the instances.

Rerunning skips every stored solution and measurement.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
from _shallow_common import (
    COLOURS,
    COUPLINGS,
    FLIPS,
    J_FIXED,
    instance,
    mean_curve,
    measure,
    parse_args,
    save_tables,
    solve,
)

from landscape.plot import save
from landscape.plot._style import plt
from landscape.shallow import (
    binary_entropy,
    clipped_perceptron,
    gamma_ce_sgd,
    simulated_annealing,
)

GAMMA_MIN, GAMMA_MAX = 0.5, 20.0


def ramp(T: int, epochs: int) -> np.ndarray:
    """γ per epoch: geometric ``GAMMA_MIN → GAMMA_MAX`` over the first ``T`` epochs, then held
    (``T = 0``: ``GAMMA_MAX`` throughout)."""
    g = np.full(epochs, GAMMA_MAX)
    if T > 0:
        g[:T] = np.geomspace(GAMMA_MIN, GAMMA_MAX, T)
    return g


def _ce(xi, y, K, seed, *, T, epochs):  # type: ignore[no-untyped-def]
    return gamma_ce_sgd(xi, y, K=K, seed=seed, epochs=epochs, gamma_schedule=ramp(T, epochs))


def main() -> None:
    args, out = parse_args(__doc__, "shallow_ce_minimisers", "small N, 2 instances")
    if args.quick:
        N, alpha, n_inst, draws, epochs, ramps = 201, 0.3, 2, 50, 100, [0, 10, 100]
    else:
        N, alpha, n_inst, draws, epochs, ramps = 401, 0.3, 10, 100, 300, [0, 3, 10, 30, 100,
                                                                           300]
    n_inst = args.instances or n_inst
    learners = {
        "gamma_ce_anneal": partial(_ce, T=epochs, epochs=epochs),
        "simulated_annealing": lambda xi, y, K, s: simulated_annealing(xi, y, K=K, seed=s),
        "clipped_perceptron": lambda xi, y, K, s: clipped_perceptron(xi, y, seed=s),
    }
    part1: dict[str, dict[int, tuple[object, object]]] = {}
    part2: dict[int, dict[int, tuple[object, object]]] = {}
    for seed in range(n_inst):
        inst = instance(N, 1, alpha, seed)
        print(f"instance {seed}: N={N}, P={inst.xi.shape[0]} (alpha={alpha})")
        for name, learner in [("teacher (typical)", None), *learners.items()]:
            run, res = solve(out, inst, name, learner)
            if res.solved:
                part1.setdefault(name, {})[seed] = measure(out, run, inst, res.weights,
                                                           couplings=COUPLINGS, flips=FLIPS,
                                                           draws=draws)
        for T in ramps:
            name = f"gamma_ce_ramp{T}"
            if epochs == T:
                name = "gamma_ce_anneal"  # the same run as in part 1
                learner = learners[name]
            else:
                learner = partial(_ce, T=T, epochs=epochs)
            run, res = solve(out, inst, name, learner)
            if res.solved:
                part2.setdefault(T, {})[seed] = measure(out, run, inst, res.weights,
                                                        couplings=COUPLINGS, flips=FLIPS,
                                                        draws=draws)
    save_tables(Path(args.figure).with_suffix(".md"),
                lambda: _report(part1, part2, ramps, n_inst))
    _figure(part1, part2, ramps, N, alpha, epochs, Path(args.figure))


def _at(E: object, p: float) -> float:
    i = int(np.argmin(np.abs(E.flip_fractions - p)))  # type: ignore[attr-defined]
    return float(E.increase[i])  # type: ignore[attr-defined]


def _entropy_at(S: object, j: int) -> float:
    return float(S.entropy[j]) if S.converged[j] else np.nan  # type: ignore[attr-defined]


def _report(part1: dict, part2: dict, ramps: list[int], n_inst: int) -> None:
    print("\n1) local energy δE(0.02) and local entropy S at λ = "
          f"{COUPLINGS[J_FIXED]:.3f}, mean over solved instances")
    for name, got in part1.items():
        e = np.mean([_at(E, 0.02) for _, E in got.values()])
        s = np.nanmean([_entropy_at(S, J_FIXED) for S, _ in got.values()])
        print(f"   {name:>22}: solved {len(got)}/{n_inst}  δE(0.02) {e:.4f}  S {s:.4f}")
    anneal = part1.get("gamma_ce_anneal", {})
    for ref in ("simulated_annealing", "clipped_perceptron", "teacher (typical)"):
        other = part1.get(ref, {})
        both = sorted(set(anneal) & set(other))
        below = sum(_at(anneal[i][1], 0.02) < _at(other[i][1], 0.02) for i in both)
        above = sum(_entropy_at(anneal[i][0], J_FIXED) > _entropy_at(other[i][0], J_FIXED)
                    for i in both)
        print(f"   γ-CE annealed vs {ref}: lower δE(0.02) in {below}/{len(both)}, higher S in "
              f"{above}/{len(both)} instances solved by both")
    print("\n2) γ ramp length T (epochs) → δE(0.02), S at the same λ")
    for T in ramps:
        got = part2.get(T, {})
        if not got:
            print(f"   T={T:>4}: solved 0/{n_inst}")
            continue
        e = np.mean([_at(E, 0.02) for _, E in got.values()])
        s = np.nanmean([_entropy_at(S, J_FIXED) for S, _ in got.values()])
        print(f"   T={T:>4}: solved {len(got)}/{n_inst}  δE(0.02) {e:.4f}  S {s:.4f}")


def _figure(part1: dict, part2: dict, ramps: list[int], N: int, alpha: float, epochs: int,
            path: Path) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    ax_s, ax_e, ax_t = axes
    for name, got in part1.items():
        vals = list(got.values())
        colour = COLOURS[name]
        d, _ = mean_curve([S.distances for S, _ in vals])
        s, hs = mean_curve([np.where(S.converged, S.entropy, np.nan) for S, _ in vals])
        ok = np.isfinite(d) & np.isfinite(s)
        o = np.argsort(d[ok])
        ax_s.errorbar(d[ok][o], s[ok][o], yerr=hs[ok][o], color=colour, marker="o", ms=3,
                      capsize=2, label=f"{name} ({len(vals)})")
        fl = vals[0][1].flip_fractions
        e, he = mean_curve([E.increase for _, E in vals])
        ax_e.plot(fl, e, "o-", ms=3, color=colour, label=name)
        ax_e.fill_between(fl, e - he, e + he, color=colour, alpha=0.2, lw=0)
    d_top = 1.1 * max(float(np.nanmax(S.distances)) for got in part1.values()
                      for S, _ in got.values())
    grid = np.linspace(0, d_top, 200)
    ax_s.plot(grid, binary_entropy(grid), "k--", lw=0.8, label=r"$H_2(d)$ (α = 0)")
    ax_s.set(xlim=(0, d_top), xlabel="normalised Hamming distance d",
             ylabel="local entropy S(d) (nats per weight)",
             title="local entropy of the error loss")
    ax_s.set_ylim(bottom=0)
    ax_s.legend(fontsize="x-small")
    ax_e.set(xlabel="fraction of weights flipped p", ylabel="local energy δE(p) (training error)",
             title="local energy of the error loss")
    ax_e.legend(fontsize="x-small")
    xs = [max(T, 1) for T in ramps if part2.get(T)]
    e = [mean_curve([[_at(E, 0.02)] for _, E in part2[T].values()]) for T in ramps if part2.get(T)]
    ax_t.errorbar(xs, [m[0][0] for m in e], yerr=[m[1][0] for m in e], marker="o", capsize=3,
                  color=COLOURS["gamma_ce_anneal"])
    ax_t.set_xscale("log")
    ax_t.set(xlabel=f"epochs over which γ rises {GAMMA_MIN:g}→{GAMMA_MAX:g} (of {epochs}; "
                    "1 = jump)",
             ylabel="δE(p = 0.02)", title="speed of the γ (norm) schedule")
    fig.suptitle(f"binary perceptron, teacher–student, N={N}, α={alpha}: γ-CE minimisers vs "
                 "error-loss minimisers (mean, 95 % intervals)", fontsize="medium")
    fig.tight_layout()
    save(fig, path)
    save(fig, path.with_suffix(".pdf"))
    print(f"figure: {path} (and .pdf)")


if __name__ == "__main__":
    main()
