"""``landscape shallow``: perceptrons / committee machines: solve, local entropy, local energy.

Examples::

    landscape shallow solve --N 201 --alpha 0.5 --learner fbp --seed 1 --out s.h5 --run fbp_1
    landscape shallow solve --N 321 --K 5 --alpha 0.125 --learner rsgd --out s.h5
    landscape shallow local-entropy s.h5 --run fbp_1 --plot S.png
    landscape shallow local-energy s.h5 --run fbp_1 --plot E.png
"""

from __future__ import annotations

import argparse

from landscape.errors import ConfigError

LEARNERS = ("fbp", "gamma_ce", "sa", "clipped", "rsgd", "replicated_gd", "entropic_gd", "lal",
            "elal")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("shallow", help="binary perceptron / committee machine: solve an instance, "
                                       "measure local entropy and local energy",
                       description="Random-pattern storage problems for binary perceptrons and "
                                   "committee machines (Baldassi et al.): one run per instance "
                                   "and learner in a study file.")
    ssub = p.add_subparsers(dest="shallow_command", metavar="ACTION")
    ssub.required = True

    s = ssub.add_parser("solve", help="draw a random instance, run a learner, store both")
    s.add_argument("--N", type=int, default=201, help="inputs (odd; default 201)")
    s.add_argument("--alpha", type=float, default=0.5, help="patterns per synapse P/(N K)")
    s.add_argument("--K", type=int, default=1, help="hidden units (1 or odd >= 3)")
    s.add_argument("--learner", choices=LEARNERS, default="fbp",
                   help="the learning algorithm (default fbp: focusing belief propagation)")
    s.add_argument("--seed", type=int, default=0, help="seed of the instance and the learner")
    s.add_argument("--kind", choices=("binary", "gaussian"), default="binary",
                   help="pattern entries (gaussian: use --learner gamma_ce --spherical)")
    s.add_argument("--out", required=True, help="study file")
    s.add_argument("--run", default=None, help="run name (default <learner>_N<N>_a<alpha>_s<seed>)")
    s.add_argument("--overwrite", action="store_true", help="replace a run of that name")
    g = s.add_argument_group("learner settings")
    g.add_argument("--protocol", default="pseudo_reinforcement",
                   help="fbp: pseudo_reinforcement, scoping or reinforcement")
    g.add_argument("--device", default=None,
                   help="fbp: torch device of the BP messages (default cpu; e.g. cuda)")
    g.add_argument("--gamma-schedule", choices=("anneal", "jump"), default="anneal",
                   help="gamma_ce: slow geometric annealing or jump to --gamma-max")
    g.add_argument("--gamma-min", type=float, default=0.5,
                   help="gamma_ce: first inverse temperature of the annealing (default 0.5)")
    g.add_argument("--gamma-max", type=float, default=20.0,
                   help="gamma_ce: last inverse temperature (default 20)")
    g.add_argument("--lr", type=float, default=None,
                   help="gamma_ce / replicated_gd / entropic_gd: step size (default 0.5 binary, "
                        "0.05 spherical)")
    g.add_argument("--epochs", type=int, default=300,
                   help="gamma_ce / replicated_gd / entropic_gd epochs; clipped max epochs")
    g.add_argument("--spherical", action="store_true",
                   help="gamma_ce, replicated_gd, entropic_gd: keep continuous spherical weights")
    g.add_argument("--sweeps", type=int, default=1000, help="sa: sweeps")
    g.add_argument("--T0", type=float, default=2.0,
                   help="sa: initial temperature, in errors (default 2)")
    g.add_argument("--T1", type=float, default=0.05,
                   help="sa: final temperature, in errors (default 0.05)")
    g.add_argument("--reinforce", type=float, default=0.0, metavar="PROB",
                   help="clipped: reinforcement probability (CP+R)")
    g.add_argument("--margin", type=float, default=0.0, help="clipped: reinforcement margin")
    g.add_argument("--replicas", type=int, default=None,
                   help="rsgd / replicated_gd: replicas y (default 7 / 3)")
    g.add_argument("--formula", choices=("simple", "corrected", "hard", "continuous"),
                   default="simple", help="rsgd: kick with the centre traced out")
    g.add_argument("--batch", type=int, default=None,
                   help="minibatch size: rsgd (default 80), lal / elal (default 1), "
                        "replicated_gd / entropic_gd (default 10)")
    g.add_argument("--max-epochs", type=int, default=1000, help="rsgd / lal / elal: max epochs")
    g.add_argument("--gamma", type=float, default=None,
                   help="rsgd: initial coupling (default 0.05); replicated_gd / entropic_gd: CE "
                        "inverse temperature (default 5)")
    s.set_defaults(func=main_solve)

    e = ssub.add_parser("local-entropy", help="BP local entropy S(d) around a stored solution")
    e.add_argument("file", help="study file")
    e.add_argument("--run", required=True, help="run name in the study file")
    e.add_argument("--points", type=int, default=20, help="couplings (d from 1e-3 to 0.3 at "
                                                          "alpha = 0)")
    e.add_argument("--name", default="local_entropy", help="measurement name")
    e.add_argument("--device", default=None, help="torch device of the BP messages (default cpu)")
    e.add_argument("--plot", default=None, metavar="PNG", help="also draw S(d) with H2(d)")
    e.add_argument("--quiet", action="store_true",
                   help="no progress (a bar on a terminal, a line per coupling in a log)")
    e.set_defaults(func=main_local_entropy)

    n = ssub.add_parser("local-energy", help="training error after random weight flips")
    n.add_argument("file", help="study file")
    n.add_argument("--run", required=True, help="run name in the study file")
    n.add_argument("--fractions", type=float, nargs="+",
                   default=[0.0, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5],
                   help="fractions of weights flipped (default 0 to 0.5)")
    n.add_argument("--samples", type=int, default=100, help="draws per fraction")
    n.add_argument("--seed", type=int, default=0, help="seed of the flips (default 0)")
    n.add_argument("--name", default="local_energy", help="measurement name")
    n.add_argument("--plot", default=None, metavar="PNG", help="also draw the curve (95%% CI)")
    n.set_defaults(func=main_local_energy)


def _learn(args: argparse.Namespace, xi, labels):
    from landscape import shallow as sh

    if args.learner == "fbp":
        return sh.focusing_bp(xi, labels, K=args.K, protocol=args.protocol, seed=args.seed,
                              device=args.device)
    if args.learner == "gamma_ce":
        return sh.gamma_ce_sgd(xi, labels, K=args.K, gamma_schedule=args.gamma_schedule,
                               gamma_min=args.gamma_min, gamma_max=args.gamma_max, lr=args.lr,
                               epochs=args.epochs, batch_size=args.batch or 10, seed=args.seed,
                               binary=not args.spherical)
    if args.learner == "sa":
        return sh.simulated_annealing(xi, labels, K=args.K, sweeps=args.sweeps, T0=args.T0,
                                      T1=args.T1, seed=args.seed)
    if args.learner == "rsgd":
        kw = {} if args.gamma is None else {"gamma": args.gamma}
        return sh.replicated_sgd(xi, labels, K=args.K, y=args.replicas or 7,
                                 batch=args.batch or 80, formula=args.formula,
                                 max_epochs=args.max_epochs, seed=args.seed, **kw)
    if args.learner in ("replicated_gd", "entropic_gd"):
        kw = {"gamma": args.gamma} if args.gamma is not None else {}
        if args.learner == "replicated_gd":
            kw["y"] = args.replicas or 3
        fn = sh.replicated_gd if args.learner == "replicated_gd" else sh.entropic_gd
        return fn(xi, labels, K=args.K, lr=args.lr, epochs=args.epochs,
                  batch_size=args.batch or 10, binary=not args.spherical, seed=args.seed, **kw)
    if args.learner in ("lal", "elal"):
        fn = sh.least_action if args.learner == "lal" else sh.entropic_least_action
        return fn(xi, labels, K=args.K, batch=args.batch or 1, max_epochs=args.max_epochs,
                  seed=args.seed)
    if args.K != 1:
        raise ConfigError("the clipped perceptron is for K = 1 only")
    return sh.clipped_perceptron(xi, labels, max_epochs=args.epochs,
                                 reinforce_prob=args.reinforce, margin=args.margin,
                                 seed=args.seed)


def main_solve(args: argparse.Namespace) -> int:
    from landscape.shallow import num_patterns, random_patterns
    from landscape.store.shallow import save_solution

    if args.kind == "binary" and args.N % 2 == 0:
        raise ConfigError(f"binary patterns need an odd --N (got {args.N})")
    if args.spherical and args.learner not in ("gamma_ce", "replicated_gd", "entropic_gd"):
        raise ConfigError("--spherical only applies to --learner gamma_ce, replicated_gd and "
                          "entropic_gd")
    P = num_patterns(args.alpha, args.N, args.K)
    xi, labels = random_patterns(args.N, P, seed=args.seed, kind=args.kind)
    res = _learn(args, xi, labels)
    run = args.run or f"{args.learner}_N{args.N}_a{args.alpha:g}_s{args.seed}"
    save_solution(args.out, run, res, xi, labels, instance_seed=args.seed,
                  overwrite=args.overwrite, attrs={"cli_learner": args.learner})
    print(f"{run}: N={args.N} P={P} alpha={P / (args.N * args.K):.4g} K={args.K} "
          f"learner={res.algorithm} ({res.protocol}): "
          f"{'solved' if res.solved else 'NOT solved'}, {res.errors} errors, "
          f"{res.iterations} iterations, {res.seconds:.2f} s -> {args.out}")
    return 0


def main_local_entropy(args: argparse.Namespace) -> int:
    from landscape.shallow import default_couplings, local_entropy
    from landscape.store.shallow import load_solution, save_measurement

    sol = load_solution(args.file, args.run)
    if not sol.result.solved:
        print(f"warning: {args.run} is not a solution ({sol.result.errors} errors); BP counts "
              "solutions near it")
    curve = local_entropy(sol.result.weights, sol.xi, sol.labels, K=sol.result.K,
                          couplings=default_couplings(args.points), device=args.device,
                          progress=not args.quiet)
    save_measurement(args.file, args.run, args.name, curve, attrs={"points": args.points})
    print(f"{args.run}/{args.name}: {int(curve.converged.sum())}/{curve.converged.size} "
          f"couplings converged, {curve.seconds:.2f} s")
    print(f"  {'lambda':>8} {'d':>9} {'S(d)':>9} {'H2(d)':>9} conv")
    for j in range(curve.couplings.size):
        print(f"  {curve.couplings[j]:8.3f} {curve.distances[j]:9.5f} {curve.entropy[j]:9.5f} "
              f"{curve.bound[j]:9.5f} {'yes' if curve.converged[j] else 'no'}")
    if args.plot:
        from landscape.plot import save
        from landscape.shallow.plots import plot_local_entropy

        ax = plot_local_entropy({args.run: curve})
        ax.set_title(f"{args.run}: N={sol.result.N}, alpha={sol.attrs.get('alpha', 0):.3g}")
        ax.figure.tight_layout()
        print(f"  figure: {save(ax.figure, args.plot)}")
    return 0


def main_local_energy(args: argparse.Namespace) -> int:
    from landscape.shallow import local_energy
    from landscape.store.shallow import load_solution, save_measurement

    sol = load_solution(args.file, args.run)
    le = local_energy(sol.result.weights, sol.xi, sol.labels, args.fractions,
                      num_samples=args.samples, seed=args.seed)
    save_measurement(args.file, args.run, args.name, le)
    print(f"{args.run}/{args.name}: base training error {le.base_error:.4g}, "
          f"{le.num_samples} draws per fraction")
    print(f"  {'p':>6} {'flipped':>7} {'dE(p)':>9} {'stderr':>8}")
    for j in range(le.flip_fractions.size):
        print(f"  {le.flip_fractions[j]:6.3f} {le.num_flipped[j]:7d} {le.increase[j]:9.5f} "
              f"{le.stderr[j]:8.5f}")
    if args.plot:
        from landscape.plot import save
        from landscape.shallow.plots import plot_local_energy

        ax = plot_local_energy({args.run: le})
        print(f"  figure: {save(ax.figure, args.plot)}")
    return 0
