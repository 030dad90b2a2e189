"""Wide flat minima of shallow models (Baldassi, Pittorino & Zecchina, PNAS 2020).

For the binary perceptron and a fully connected committee machine (K = 3) at several loads α,
solves teacher–student instances with every learner of ``landscape.shallow`` — focusing BP, the
replicated SGD of Baldassi et al. (2016), entropic least-action learning, SGD on the γ-annealed
cross-entropy (and with γ jumped at once), simulated annealing on the error loss, the clipped
perceptron rule — and measures around each solution

- the local entropy S(d): BP on the factor graph with an external field λ·w̃ that couples to the
  solution w̃, read out against the normalised Hamming distance d (``landscape.shallow.
  local_entropy``), with the α = 0 bound H₂(d);
- the local energy δE(p): training error after flipping a random fraction p of the weights,
  mean over draws (``landscape.shallow.local_energy``).

The reference is the teacher: by the Nishimori symmetry of the planted ensemble it is distributed
exactly as a uniformly drawn solution of its instance, i.e. a *typical (equilibrium) solution*.
The paper's claim, measured here: the solutions of the entropy-driven learners (fBP, rSGD, eLAL,
slowly annealed γ-CE) have higher local entropy and lower local energy than typical solutions and
than those of fast error-loss learners. Curves are means over instances with 95 % intervals; the
table counts in how many instances each learner's local energy at p = 0.02 lies below simulated
annealing's and the teacher's. Unsolved runs are stored but left out of the curves.

    python analyses/shallow_flat_minima.py [--quick] [--out results/shallow_flat_minima.h5]
        [--figure figures/shallow_flat_minima.png]

Sizes: ``--quick`` N = 201 (perceptron) and N = 45 (committee), α = 0.4, 2 instances (~40 s);
the full mode N = 401 and N = 135, α ∈ {0.4, 0.6}, 10 instances. N stays moderate because
simulated annealing on the error loss (and the clipped perceptron) stop solving these instances
as N grows: at N = 1001, α = 0.4, SA with 4000 sweeps still ended with 26 errors and CP with
reinforcement with 2; the entropy-driven learners solve N = 1001 at α = 0.6 in seconds
(``benchmarks/shallow.py``).

Rerunning skips every stored solution and measurement.
"""

from __future__ import annotations

import time
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
    entropic_least_action,
    focusing_bp,
    gamma_ce_sgd,
    replicated_sgd,
    simulated_annealing,
)

#: The learners, by name: ``f(xi, labels, K, seed)``. Settings are each learner's documented
#: defaults except where a comment says otherwise.
LEARNERS = {
    "focusing_bp": lambda xi, y, K, s: focusing_bp(xi, y, K=K, seed=s),
    "replicated_sgd": lambda xi, y, K, s: replicated_sgd(xi, y, K=K, seed=s),
    "entropic_least_action": lambda xi, y, K, s: entropic_least_action(xi, y, K=K, seed=s),
    # slow γ annealing 0.5 → 20 over the epochs vs γ = 20 from the start (the paper's contrast)
    "gamma_ce_anneal": lambda xi, y, K, s: gamma_ce_sgd(xi, y, K=K, seed=s,
                                                        gamma_schedule="anneal"),
    "gamma_ce_jump": lambda xi, y, K, s: gamma_ce_sgd(xi, y, K=K, seed=s, gamma_schedule="jump"),
    "simulated_annealing": lambda xi, y, K, s: simulated_annealing(xi, y, K=K, seed=s),
    "clipped_perceptron": lambda xi, y, K, s: clipped_perceptron(xi, y, seed=s),
}
#: Learners that exist for the perceptron only.
PERCEPTRON_ONLY = {"clipped_perceptron"}


def main() -> None:
    args, out = parse_args(__doc__, "shallow_flat_minima", "small N, one load, 2 instances")
    if args.quick:
        machines, alphas, n_inst, draws = [(1, 201), (3, 45)], [0.4], 2, 50
    else:
        machines, alphas, n_inst, draws = [(1, 401), (3, 135)], [0.4, 0.6], 10, 100
    n_inst = args.instances or n_inst
    curves: dict[tuple[int, float, str], dict[int, tuple[object, object]]] = {}
    t0 = time.perf_counter()
    for K, N in machines:
        for alpha in alphas:
            print(f"K={K} N={N} alpha={alpha}: {n_inst} instances")
            for seed in range(n_inst):
                inst = instance(N, K, alpha, seed)
                entries = [("teacher (typical)", None), *LEARNERS.items()]
                for name, learner in entries:
                    if K > 1 and name in PERCEPTRON_ONLY:
                        continue
                    run, res = solve(out, inst, name, learner)
                    if not res.solved:
                        continue
                    S, E = measure(out, run, inst, res.weights, couplings=COUPLINGS, flips=FLIPS,
                                   draws=draws)
                    curves.setdefault((K, alpha, name), {})[seed] = (S, E)
    print(f"solutions and measurements: {time.perf_counter() - t0:.0f} s")
    save_tables(Path(args.figure).with_suffix(".md"),
                lambda: _table(curves, machines, alphas, n_inst))
    _figure(curves, machines, alphas, Path(args.figure))


def _energy_at(E: object, p: float) -> float:
    i = int(np.argmin(np.abs(E.flip_fractions - p)))  # type: ignore[attr-defined]
    return float(E.increase[i])  # type: ignore[attr-defined]


def _table(curves: dict, machines: list, alphas: list, n_inst: int) -> None:
    lam = COUPLINGS[J_FIXED]
    print(f"\nlocal energy δE(p=0.02) and local entropy S(d) at the coupling λ = {lam:.3f} "
          "(mean over solved instances; BP points that did not converge left out)")
    print(f"{'K':>3} {'alpha':>5} {'learner':>22} {'solved':>7} {'δE(0.02)':>9} {'d':>7} "
          f"{'S(d)':>7} {'H2(d)':>7}")
    for K, _ in machines:
        for alpha in alphas:
            for name in ["teacher (typical)", *LEARNERS]:
                got = list(curves.get((K, alpha, name), {}).values())
                if not got:
                    print(f"{K:>3} {alpha:>5} {name:>22} {0:>3}/{n_inst:<3}")
                    continue
                e = np.mean([_energy_at(E, 0.02) for _, E in got])
                ok = [S for S, _ in got if S.converged[J_FIXED]]
                d = np.mean([S.distances[J_FIXED] for S in ok]) if ok else np.nan
                ent = np.mean([S.entropy[J_FIXED] for S in ok]) if ok else np.nan
                print(f"{K:>3} {alpha:>5} {name:>22} {len(got):>3}/{n_inst:<3} {e:9.4f} "
                      f"{d:7.4f} {ent:7.4f} {float(binary_entropy(d)):7.4f}")
    print("\nordering per instance solved by both: δE(0.02) below, and S(d = 0.01) above, "
          "simulated annealing's / the teacher's (S interpolated along the BP curve; a curve "
          "that never reaches d = 0.01, like an isolated solution's, counts as S = 0 there)")
    for K, _ in machines:
        for alpha in alphas:
            for name in LEARNERS:
                got = curves.get((K, alpha, name), {})
                counts = []
                for ref in ("simulated_annealing", "teacher (typical)"):
                    other = curves.get((K, alpha, ref), {})
                    both = sorted(set(got) & set(other))
                    below = sum(_energy_at(got[i][1], 0.02) < _energy_at(other[i][1], 0.02)
                                for i in both)
                    above = sum(_entropy_at(got[i][0], 0.01) > _entropy_at(other[i][0], 0.01)
                                for i in both)
                    counts.append(f"δE {below}/{len(both)}, S {above}/{len(both)}")
                print(f"  K={K} alpha={alpha} {name:>22}: vs SA {counts[0]}; vs teacher "
                      f"{counts[1]}")


def _entropy_at(S: object, d: float) -> float:
    """S at distance ``d`` by linear interpolation along the converged BP points (0 when the
    curve does not reach ``d``)."""
    ok = S.converged & np.isfinite(S.entropy)  # type: ignore[attr-defined]
    ds, ss = S.distances[ok], S.entropy[ok]  # type: ignore[attr-defined]
    if ds.size == 0 or ds.max() < d:
        return 0.0
    o = np.argsort(ds)
    return float(np.interp(d, ds[o], ss[o]))


def _figure(curves: dict, machines: list, alphas: list, path: Path) -> None:
    rows = len(machines)
    fig, axes = plt.subplots(rows, 2 * len(alphas), figsize=(4.2 * 2 * len(alphas), 3.6 * rows),
                             squeeze=False)
    for r, (K, N) in enumerate(machines):
        for c, alpha in enumerate(alphas):
            ax_s, ax_e = axes[r, 2 * c], axes[r, 2 * c + 1]
            machine = "perceptron" if K == 1 else f"committee K={K}"
            for name in ["teacher (typical)", *LEARNERS]:
                got = list(curves.get((K, alpha, name), {}).values())
                if not got:
                    continue
                colour = COLOURS[name]
                d, _ = mean_curve([S.distances for S, _ in got])
                s, hs = mean_curve([np.where(S.converged, S.entropy, np.nan) for S, _ in got])
                ok = np.isfinite(d) & np.isfinite(s)
                order = np.argsort(d[ok])
                ax_s.errorbar(d[ok][order], s[ok][order], yerr=hs[ok][order], color=colour,
                              marker="o", ms=3, lw=1.2, capsize=2)
                fl = got[0][1].flip_fractions
                e, he = mean_curve([E.increase for _, E in got])
                ax_e.plot(fl, e, "o-", ms=3, color=colour, lw=1.2)
                ax_e.fill_between(fl, e - he, e + he, color=colour, alpha=0.2, lw=0)
            tops = [float(np.nanmax(S.distances)) for name in ["teacher (typical)", *LEARNERS]
                    for S, _ in curves.get((K, alpha, name), {}).values()]
            d_top = 1.1 * max(tops, default=0.15)
            grid = np.linspace(0, d_top, 200)
            ax_s.plot(grid, binary_entropy(grid), "k--", lw=0.8)
            ax_s.set_xlim(0, d_top)
            ax_s.set_ylim(bottom=0)
            ax_s.set_xlabel("normalised Hamming distance d")
            ax_s.set_ylabel("local entropy S(d) (nats per weight)")
            ax_s.set_title(f"{machine}, N={N}, α={alpha}: local entropy", fontsize="small")
            ax_e.set_xlabel("fraction of weights flipped p")
            ax_e.set_ylabel("local energy δE(p) (training error)")
            ax_e.set_title(f"{machine}, N={N}, α={alpha}: local energy", fontsize="small")
    from matplotlib.lines import Line2D

    shown = [n for n in ["teacher (typical)", *LEARNERS]
             if any(curves.get((K, a, n)) for K, _ in machines for a in alphas)]
    handles = [Line2D([], [], color=COLOURS[n], marker="o", ms=4, label=n) for n in shown]
    handles.append(Line2D([], [], color="k", ls="--", lw=0.8, label=r"$H_2(d)$ (α = 0 bound)"))
    fig.legend(handles=handles, loc="lower center", ncol=min(5, len(handles)), fontsize="small",
               frameon=False)
    fig.suptitle("Solutions of entropy-driven learners vs typical (teacher) and error-loss "
                 "solutions (teacher–student); mean over the solved instances, 95 % intervals; a "
                 "learner that solved none is absent", fontsize="medium")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    save(fig, path)
    save(fig, path.with_suffix(".pdf"))
    print(f"figure: {path} (and .pdf)")


if __name__ == "__main__":
    main()
