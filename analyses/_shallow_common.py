"""Shared plumbing of the shallow-model analyses (``shallow_flat_minima.py``,
``shallow_ce_minimisers.py``): instances, learners by name, measurements stored per run, curve
averages over instances, colours.

Instances are teacher–student (``landscape.shallow.teacher_patterns``): by the Nishimori
symmetry of the planted ensemble the teacher is distributed exactly as a uniformly drawn solution
of its own instance, so it is the *typical (equilibrium) solution* the paper compares with, at no
sampling cost. Every solution goes into the study as a run (``save_solution``) and every curve
as a measurement of it, so a rerun skips whatever is stored.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from landscape.errors import StoreError
from landscape.shallow import (
    LearnerResult,
    local_energy,
    local_entropy,
    num_errors,
    num_patterns,
    teacher_patterns,
)
from landscape.store import Study
from landscape.store.shallow import (
    list_measurements,
    load_measurement,
    load_solution,
    save_measurement,
    save_solution,
)

Learner = Callable[[np.ndarray, np.ndarray, int, int], LearnerResult]

#: Flip fractions p of the local-energy curves.
FLIPS = [0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1]
#: λ grid of the local-entropy curves: d from ~0.002 to ~0.15 at α = 0 (tanh λ = 1 − 2d).
COUPLINGS = np.arctanh(1.0 - 2.0 * np.array([0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075,
                                               0.1, 0.15]))
#: The coupling at which tables compare local entropies (d ≈ 0.035 at α = 0).
J_FIXED = 4


def parse_args(doc: str, name: str, quick_help: str) -> tuple[argparse.Namespace, Path]:
    """The command line shared by the shallow analyses: ``--quick``, ``--out``, ``--figure``,
    ``--instances``; returns the arguments and the study path (its folder created, an existing
    file checked)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--out", default=f"results/{name}.h5")
    parser.add_argument("--figure", default=f"figures/{name}.png")
    parser.add_argument("--instances", type=int, default=None)
    args = parser.parse_args()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    check_store(out)
    return args, out

#: One colour per learner, the same in every shallow figure.
COLOURS = {
    "teacher (typical)": "#000000",
    "focusing_bp": "#1f77b4",
    "replicated_sgd": "#2ca02c",
    "entropic_least_action": "#17becf",
    "least_action": "#bcbd22",
    "gamma_ce_anneal": "#9467bd",
    "gamma_ce_jump": "#e377c2",
    "simulated_annealing": "#d62728",
    "clipped_perceptron": "#ff7f0e",
}


@dataclass(frozen=True)
class Instance:
    """A teacher–student instance and the teacher (a typical solution)."""

    N: int
    K: int
    alpha: float
    seed: int
    xi: np.ndarray
    labels: np.ndarray
    teacher: np.ndarray

    @property
    def tag(self) -> str:
        machine = "perceptron" if self.K == 1 else f"committee{self.K}"
        return f"{machine}-N{self.N}-a{self.alpha:.2f}-i{self.seed}"


def instance(N: int, K: int, alpha: float, seed: int) -> Instance:
    """Teacher–student instance with ``P = num_patterns(alpha, N, K)`` ±1 patterns (``seed``)."""
    P = num_patterns(alpha, N, K)
    xi, labels, teacher = teacher_patterns(N, P, K=K, seed=seed)
    return Instance(N, K, alpha, seed, xi, labels, teacher)


def teacher_result(inst: Instance) -> LearnerResult:
    """The teacher as a learner result (so it is stored and measured like the others)."""
    w = np.asarray(inst.teacher, dtype=np.float64)
    machine = "perceptron" if inst.K == 1 else "committee"
    errors = int(num_errors(w, inst.xi, inst.labels, machine=machine))
    return LearnerResult(weights=w, solved=errors == 0, errors=errors, iterations=0,
                         seconds=0.0, algorithm="teacher (typical)", protocol="", steps=0,
                         K=inst.K, N=inst.N, P=inst.xi.shape[0], seed=inst.seed)


def solve(path: Path, inst: Instance, name: str, learner: Learner | None,
          log: Callable[[str], None] = print) -> tuple[str, LearnerResult]:
    """Run ``learner`` on ``inst`` (or read its stored solution); ``learner=None`` stores the
    teacher. Returns ``(run name, result)``."""
    run = f"{inst.tag}-{name.replace(' ', '_').replace('(', '').replace(')', '')}"
    if path.exists():
        with Study(path, "r") as study:
            stored = run in study.runs()
        if stored:
            return run, load_solution(path, run).result
    result = teacher_result(inst) if learner is None else learner(inst.xi, inst.labels, inst.K,
                                                                  inst.seed)
    save_solution(path, run, result, inst.xi, inst.labels, instance_seed=inst.seed,
                  teacher=inst.teacher, attrs={"learner_name": name})
    log(f"  {run}: solved={result.solved} errors={result.errors} "
        f"({result.seconds:.1f} s, {result.iterations} iterations)")
    return run, result


def measure(path: Path, run: str, inst: Instance, weights: np.ndarray, *,
            couplings: np.ndarray, flips: Sequence[float], draws: int) -> tuple[Any, Any]:
    """Local entropy (BP, at ``couplings``) and local energy (``draws`` flips per fraction) of a
    binary solution, each stored once as a measurement of ``run``."""
    have = set(list_measurements(path, run))
    settings = json.dumps({"couplings": np.round(couplings, 12).tolist(),
                           "flips": list(map(float, flips)), "draws": draws})
    out = []
    for key in ("local_entropy", "local_energy"):
        if key in have:
            with Study(path, "r") as study:
                same = study.run(run)["measurements"][key].attrs.get("analysis_settings") \
                    == settings
            if same:
                out.append(load_measurement(path, run, key))
                continue
        if key == "local_entropy":
            r = local_entropy(weights, inst.xi, inst.labels, K=inst.K, couplings=couplings)
        else:
            r = local_energy(weights, inst.xi, inst.labels, list(flips), num_samples=draws,
                             seed=inst.seed)
        save_measurement(path, run, key, r, attrs={"analysis_settings": settings})
        out.append(r)
    return out[0], out[1]


def save_tables(path: Path, report: Callable[[], None]) -> None:
    """Run ``report`` (which prints the tables), echo its output and also write it to ``path``
    (a text file next to the figure), so the numbers travel with the figure."""
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        report()
    text = buffer.getvalue()
    print(text, end="")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("```\n" + text.strip("\n") + "\n```\n")
    print(f"tables: {path}")


def mean_curve(ys: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Mean over instances and its 95 % normal-approximation half width (NaN-aware)."""
    a = np.asarray(ys, dtype=np.float64)
    n = np.sum(np.isfinite(a), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nanmean(a, axis=0) if a.size else np.full(a.shape[1:], np.nan)
        sd = np.nanstd(a, axis=0, ddof=1) if a.shape[0] > 1 else np.zeros(a.shape[1:])
        half = 1.96 * sd / np.sqrt(np.maximum(n, 1))
    return mean, np.where(n > 1, half, 0.0)


def check_store(path: Path) -> None:
    """A clear error when ``path`` exists but is not a study file of this analysis."""
    if path.exists():
        try:
            with Study(path, "r"):
                pass
        except StoreError as err:
            raise SystemExit(f"{path}: {err}") from err
