"""Benchmark of the BP kernels and of focusing BP (landscape.shallow) on the binary perceptron.

Sections (each prints ratios measured side by side in the same run; absolute times drift on a
shared machine, no thresholds are checked here):
  a) kernel: ns per message per sweep (all P x N messages, damped parallel update, through
     ``PerceptronGraph.sweep``) at alpha = 0.6 for the code before the torch kernels ("before",
     loaded from git revision ``--baseline``), the NumPy/SciPy backend and the torch backend, next
     to one ``scipy.special.log_ndtr`` call on an array of the same shape (repeats interleaved);
     the committee machine (K = 3) likewise;
  b) special-function evaluations per message over whole solves (counted by wrapping
     ``torch.erfc`` and ``torch.special.log_ndtr`` while focusing BP runs);
  c) focusing BP solves at N = 1001 (random ±1 patterns and labels, instance seeds 0..n-1,
     learner seed = instance seed, default protocol): solved count, median / max seconds and
     median sweeps per alpha, for the current code and (``--before-alphas``) the code before;
  d) with CUDA: ns per message of a sweep at N = 10 001 on the GPU.

Run: ``OMP_NUM_THREADS=1 python benchmarks/shallow.py [--instances 10] [--alphas 0.6,0.74]
[--before-alphas 0.6] [--protocol-step 0.01] [--only kernel|counts|solves|gpu] [--quick]``.
``--quick``: N = 501, 3 instances, alpha 0.6.

Measured 2026-12-03 (one thread; a quiet machine first, then 2 cores shared by ~7 jobs, load
average 10-14, where absolute times are ~5-10x longer): one sweep at N = 1001, alpha = 0.6,
quiet: log_ndtr 23.1 ns per element, the NumPy backend 53.9 ns per message, torch 18.4 ns
(2.9x, 0.79 log_ndtr); under load the same run gave before/torch = 2.6 (N = 1001), 8.5
(N = 4001), 6.4 (committee K = 3) and torch/log_ndtr = 0.95-1.2. Over whole solves the torch
kernel evaluates 2.000 erfc and 0 log_ndtr per message (alpha 0.6 and 0.74, seed 0). fBP at
alpha 0.6, seeds 0-2, quiet: 1.86 / 2.35 / 1.90 s now against 5.04 / 6.86 / 5.09 s before (the
same 147 / 203 / 159 sweeps); ten instances under load: 10/10 both, median 15.4 s now against
65.5 s before (158 median sweeps both). alpha 0.74, ten instances: 4/10 with the reference
schedule, 5/10 with ``--protocol-step 0.005`` (the unsolved stop at 1, 1, 2, 12, 125 errors).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import numpy as np
import torch
from scipy.special import log_ndtr

from landscape.shallow import focusing_bp, num_errors, num_patterns, random_patterns
from landscape.shallow._bp_committee import CommitteeGraph
from landscape.shallow._bp_core import PerceptronGraph

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "5c232cb"  # main before the torch kernels


def load_before(rev: str) -> dict[str, ModuleType]:
    """The BP kernels and fBP of revision ``rev``, imported under private module names."""
    names = {"_bp_core": "_before_bp_core", "_bp_committee": "_before_bp_committee",
             "fbp": "_before_fbp"}
    tmp = Path(tempfile.mkdtemp(prefix="landscape_before_"))
    mods = {}
    for name, alias in names.items():
        src = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:landscape/shallow/{name}.py"],
                             check=True, capture_output=True, text=True).stdout
        for other, other_alias in names.items():
            src = src.replace(f"landscape.shallow.{other} ", f"{other_alias} ")
        (tmp / f"{alias}.py").write_text(src)
        spec = importlib.util.spec_from_file_location(alias, tmp / f"{alias}.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[alias] = mod
        spec.loader.exec_module(mod)
        mods[name] = mod
    return mods


def _time(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def kernel_table(before: dict[str, ModuleType], sizes: list[int], repeats: int = 9) -> None:
    print("a) ns per message per sweep (median of interleaved repeats), alpha = 0.6, damping 0.5;"
          "\n   in units of one log_ndtr per element (same shape, same run)")
    print(f"   {'model':>10} {'N':>6} {'P':>5} {'log_ndtr':>9} {'before':>8} {'numpy':>8} "
          f"{'torch':>8} {'before/torch':>12} {'torch/log_ndtr':>14}")
    for K, N in [(1, n) for n in sizes] + [(3, sizes[min(1, len(sizes) - 1)])]:
        P = num_patterns(0.6, N, K)
        xi, labels = random_patterns(N, P, seed=0)
        rng = np.random.default_rng(0)
        shape = (P, N) if K == 1 else (P, K, N)
        init = np.arctanh(rng.uniform(-0.1, 0.1, shape))
        field = np.zeros(N if K == 1 else (K, N))
        if K == 1:
            graphs = {"before": before["_bp_core"].PerceptronGraph.create(xi, labels, init=init)}
            graphs.update({be: PerceptronGraph.create(xi, labels, init=init, backend=be)
                           for be in ("numpy", "torch")})
        else:
            graphs = {"before": before["_bp_committee"].CommitteeGraph.create(xi, labels, K, init)}
            graphs.update({be: CommitteeGraph.create(xi, labels, K, init, backend=be)
                           for be in ("numpy", "torch")})
        arg = rng.normal(0.0, 2.0, shape)
        out = np.empty_like(arg)
        fns = {"log_ndtr": lambda arg=arg, out=out: log_ndtr(arg, out=out)}
        fns.update({k: (lambda g=g, b=field: g.sweep(b, 0.5)) for k, g in graphs.items()})
        times: dict[str, list[float]] = {k: [] for k in fns}
        for _ in range(repeats):
            for k, fn in fns.items():
                times[k] += _time(fn, 1)
        ns = {k: 1e9 * statistics.median(v) / arg.size for k, v in times.items()}
        name = "perceptron" if K == 1 else f"committee{K}"
        print(f"   {name:>10} {N:6d} {P:5d} {ns['log_ndtr']:9.1f} {ns['before']:8.1f} "
              f"{ns['numpy']:8.1f} {ns['torch']:8.1f} {ns['before'] / ns['torch']:12.2f} "
              f"{ns['torch'] / ns['log_ndtr']:14.2f}", flush=True)


class _Counter:
    """Wraps a torch function and counts the elements it evaluates."""

    def __init__(self, fn):
        self.fn, self.elements = fn, 0

    def __call__(self, x, *args, **kwargs):
        self.elements += x.numel()
        return self.fn(x, *args, **kwargs)


def count_table(N: int, alphas: list[float]) -> None:
    print(f"b) special-function evaluations per message over whole fBP solves (N = {N}, seed 0, "
          "torch backend on the CPU)")
    print(f"   {'alpha':>6} {'sweeps':>7} {'erfc/msg':>9} {'log_ndtr/msg':>13}")
    for alpha in alphas:
        P = num_patterns(alpha, N)
        xi, labels = random_patterns(N, P, seed=0)
        erfc, lndtr = _Counter(torch.erfc), _Counter(torch.special.log_ndtr)
        torch.erfc, torch.special.log_ndtr = erfc, lndtr
        try:
            res = focusing_bp(xi, labels, seed=0)
        finally:
            torch.erfc, torch.special.log_ndtr = erfc.fn, lndtr.fn
        messages = res.iterations * P * N
        print(f"   {alpha:6.2f} {res.iterations:7d} {erfc.elements / messages:9.3f} "
              f"{lndtr.elements / messages:13.2e}", flush=True)


def _solves(fbp, N: int, alpha: float, instances: int, **kwargs) -> tuple[int, list, list, list]:
    P = num_patterns(alpha, N)
    times, sweeps, left, solved = [], [], [], 0
    for seed in range(instances):
        xi, labels = random_patterns(N, P, seed=seed)
        res = fbp(xi, labels, seed=seed, **kwargs)
        assert res.errors == num_errors(res.weights, xi, labels)
        times.append(res.seconds)
        sweeps.append(res.iterations)
        solved += res.solved
        if not res.solved:
            left.append(res.errors)
    return solved, times, sweeps, left


def solve_table(before: dict[str, ModuleType] | None, N: int, alphas: list[float],
                before_alphas: list[float], instances: int, step: float) -> None:
    print(f"c) focusing BP (pseudo_reinforcement), binary perceptron, N = {N}, {instances} "
          f"instances per alpha; 'now' with protocol_step = {step} ('before': 0.01)")
    print(f"   {'alpha':>6} {'code':>7} {'solved':>8} {'median s':>9} {'max s':>8} "
          f"{'med sweeps':>10} {'errors left':>12}")
    for alpha in alphas:
        runs = [("now", focusing_bp, {"protocol_step": step})]
        if before is not None and alpha in before_alphas:
            runs.append(("before", before["fbp"].focusing_bp, {}))
        for code, fbp, kwargs in runs:
            solved, times, sweeps, left = _solves(fbp, N, alpha, instances, **kwargs)
            print(f"   {alpha:6.2f} {code:>7} {solved:>3d}/{instances:<4d} "
                  f"{statistics.median(times):9.2f} {max(times):8.2f} "
                  f"{statistics.median(sweeps):10.0f} {','.join(map(str, left)) or '-':>12}",
                  flush=True)


def gpu_table(N: int = 10001, alpha: float = 0.6, repeats: int = 20) -> None:
    if not torch.cuda.is_available():
        print("d) no CUDA device: GPU sweep skipped")
        return
    P = num_patterns(alpha, N)
    xi, labels = random_patterns(N, P, seed=0)
    init = np.arctanh(np.random.default_rng(0).uniform(-0.1, 0.1, (P, N)))
    graph = PerceptronGraph.create(xi, labels, init=init, device="cuda")
    field = np.zeros(N)
    graph.sweep(field, 0.5)
    torch.cuda.synchronize()
    med = statistics.median(_time(lambda: graph.sweep(field, 0.5), repeats))
    print(f"d) GPU ({torch.cuda.get_device_name()}): N = {N}, P = {P}: {1e3 * med:.2f} ms per "
          f"sweep, {1e9 * med / (P * N):.3f} ns per message", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=10)
    parser.add_argument("--alphas", default="0.6,0.74")
    parser.add_argument("--before-alphas", default="0.6",
                        help="alphas also solved by the code before (slow: ~3x the time)")
    parser.add_argument("--baseline", default=BASELINE, help="git revision of the 'before' code")
    parser.add_argument("--protocol-step", type=float, default=0.01,
                        help="protocol_step of focusing_bp in the solve table (0.01: reference)")
    parser.add_argument("--only", choices=("kernel", "counts", "solves", "gpu"), default=None)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(f"landscape.shallow BP benchmark; torch threads {torch.get_num_threads()}, "
          f"before = {args.baseline}{' (quick)' if args.quick else ''}")
    before = load_before(args.baseline)
    N = 501 if args.quick else 1001
    alphas = [0.6] if args.quick else [float(a) for a in args.alphas.split(",")]
    before_alphas = [float(a) for a in args.before_alphas.split(",") if a]
    instances = min(args.instances, 3) if args.quick else args.instances
    if args.only in (None, "kernel"):
        kernel_table(before, [201, 501, 1001] if args.quick else [201, 1001, 4001])
    if args.only in (None, "counts"):
        count_table(N, alphas)
    if args.only in (None, "solves"):
        solve_table(before, N, alphas, before_alphas, instances, args.protocol_step)
    if args.only in (None, "gpu"):
        gpu_table()


if __name__ == "__main__":
    main()
