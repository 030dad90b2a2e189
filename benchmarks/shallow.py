"""Benchmark of focusing BP (landscape.shallow.focusing_bp) on the binary perceptron.

Sections:
  a) success rate and median / max wall time per instance at N = 1001 for
     alpha in {0.5, 0.6, 0.7, 0.75} (random ±1 patterns and labels, instance seeds 0..n-1, default
     protocol ``pseudo_reinforcement``, learner seed = instance seed);
  b) time per BP sweep (all P x N messages, damped parallel update) for N from 201 to 4001 at
     alpha = 0.6, median over a few sweeps.

Run: ``python benchmarks/shallow.py [--instances 10] [--quick] [--alphas 0.5,0.6]
[--only table|sweeps]`` (BLAS threads: set ``OMP_NUM_THREADS``).
``--quick`` uses N = 501, 3 instances and alpha in {0.5, 0.6}, and sweeps up to N = 1001.
Timings on a shared machine drift; no thresholds are checked here.

Measured 2026-11-25 (one thread, another job on the second core): N = 1001, 10 instances each,
alpha 0.5: 10/10 solved, median 5.8 s (max 8.9); 0.6: 10/10, 10.9 s (23.1); 0.7: 10/10, 44.5 s
(98.7); 0.75: 2/10 (the two solved in 53-54 s; unsolved runs stop after 112-509 s with 2-155
errors; median 408 s over all ten). One sweep at alpha 0.6: 6.9 / 23.8 / 119 / 469 / 1862 ms for
N = 201 / 501 / 1001 / 2001 / 4001, i.e. ~195 ns per message from N = 1001 on (O(N P)).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from landscape.shallow import focusing_bp, num_errors, num_patterns, random_patterns
from landscape.shallow._bp_core import PerceptronGraph


def success_table(N: int, alphas: list[float], instances: int, protocol: str,
                  max_iters: int = 100) -> None:
    print(f"a) fBP ({protocol}) on the binary perceptron, N = {N}, {instances} instances "
          "per alpha")
    print(f"   {'alpha':>6} {'P':>6} {'solved':>8} {'median s':>9} {'max s':>8} "
          f"{'med sweeps':>10} {'min errors if unsolved':>22}")
    for alpha in alphas:
        P = num_patterns(alpha, N)
        times, sweeps, solved, unsolved_errors = [], [], 0, []
        for seed in range(instances):
            xi, labels = random_patterns(N, P, seed=seed)
            res = focusing_bp(xi, labels, seed=seed, protocol=protocol,  # type: ignore[arg-type]
                             max_iters=max_iters)
            assert res.errors == num_errors(res.weights, xi, labels)
            times.append(res.seconds)
            sweeps.append(res.iterations)
            if res.solved:
                solved += 1
            else:
                unsolved_errors.append(res.errors)
        extra = str(min(unsolved_errors)) if unsolved_errors else "-"
        print(f"   {alpha:6.2f} {P:6d} {solved:>3d}/{instances:<4d} "
              f"{statistics.median(times):9.2f} {max(times):8.2f} "
              f"{statistics.median(sweeps):10.0f} {extra:>22}", flush=True)


def sweep_table(sizes: list[int], alpha: float = 0.6, repeats: int = 5) -> None:
    print(f"b) time per BP sweep (parallel, damping 0.5), alpha = {alpha}")
    print(f"   {'N':>6} {'P':>6} {'ms/sweep':>9} {'ns/message':>11}")
    for N in sizes:
        P = num_patterns(alpha, N)
        xi, labels = random_patterns(N, P, seed=0)
        rng = np.random.default_rng(0)
        graph = PerceptronGraph.create(xi, labels, init=np.arctanh(rng.uniform(-0.1, 0.1, (P, N))))
        field = np.zeros(N)
        graph.sweep(field, 0.5)  # warm-up
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            graph.sweep(field, 0.5)
            times.append(time.perf_counter() - t0)
        med = statistics.median(times)
        print(f"   {N:6d} {P:6d} {1e3 * med:9.2f} {1e9 * med / (P * N):11.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="small sizes, a few instances")
    parser.add_argument("--protocol", default="pseudo_reinforcement")
    parser.add_argument("--max-iters", type=int, default=100,
                        help="BP sweeps per protocol step (an unsolved instance at N = 1001 can "
                             "take up to 104 x this many sweeps of ~80 ms)")
    parser.add_argument("--alphas", default="0.5,0.6,0.7,0.75",
                        help="comma-separated loads of the success table (full mode)")
    parser.add_argument("--only", choices=("table", "sweeps"), default=None,
                        help="run only the success table or only the sweep timings")
    args = parser.parse_args()
    print(f"landscape.shallow fBP benchmark{' (quick)' if args.quick else ''}")
    if args.quick:
        success_table(501, [0.5, 0.6], min(args.instances, 3), args.protocol, args.max_iters)
        sweep_table([201, 501, 1001], repeats=3)
    else:
        if args.only != "sweeps":
            success_table(1001, [float(a) for a in args.alphas.split(",")], args.instances,
                          args.protocol, args.max_iters)
        if args.only != "table":
            sweep_table([201, 501, 1001, 2001, 4001])


if __name__ == "__main__":
    main()
