"""What measuring one minimum costs, stage by stage, on each device; vmap against the loop.

Problem: the setting of analysis 3 (``analyses/flatness_generalisation.py``, full mode): LeNet-5
(conv 6-16, fc 120-84; 44 426 parameters) or the MLP 784-256-256-10, trained with cross-entropy
(SGD, lr 0.05, batch 128) on a seeded 5000-sample subset of Fashion-MNIST for ``--epochs`` epochs,
then ``measure_minimum`` with the default ``MeasureConfig(num_samples=1000)``: local energy
(8 σ × 64 draws), width, sharpness, local entropy (SGLD), Hessian top-5, trace and SLQ density.

Part 1: one full ``measure_minimum`` per device in ``--devices`` (each on its own copy of the
trained study), seconds per stage, and the ratio of each device to the first.

Part 2: on each device, the two evaluation strategies of perturbed copies side by side, in
alternating order over ``--rounds`` rounds: ``vmap`` over the stacked copies (convolutions become
grouped convolutions) against one ``functional_call`` per copy, for a local-energy curve (3 σ × 16
draws) and for SGLD (4 chains, 20 steps). ``landscape.flatness._evaluate.vmap_is_slow`` picks the
loop for convolutional models on the CPU only; this part is what that rule rests on. (For the
MLP the local energy takes the fused GEMM path either way; only its SGLD row compares.)

Run: ``python benchmarks/measure.py [--model lenet] [--devices cpu,cuda] [--epochs 5]``. Needs
Fashion-MNIST (``apt-get install dataset-fashion-mnist`` or ``LANDSCAPE_FASHION_MNIST_DIR``).
Timings on a shared machine drift; no thresholds are checked.
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from landscape._measure import batches, prepare
from landscape.cli import main as cli
from landscape.compare import DEFAULT_MEASURES, MeasureConfig, measure_minimum
from landscape.flatness import local_energy, local_entropy

#: The measures that compute (the gap is read from the history).
STAGES = tuple(m for m in DEFAULT_MEASURES if m != "gap")

# the module, not the function of the same name that landscape.flatness exports
SG = importlib.import_module("landscape.flatness._sgld")
EV = importlib.import_module("landscape.flatness._evaluate")
ARCH = {"lenet": ["--model", "lenet"], "mlp": ["--model", "mlp", "--depth", "2", "--width", "256"]}


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def train_study(folder: Path, model: str, epochs: int, device: str) -> Path:
    path = folder / "study.h5"
    assert cli(["train", "--dataset", "fashion-mnist", "--subset", "5000", *ARCH[model],
                "--objective", "ce", "--epochs", str(epochs), "--batch-size", "128",
                "--lr", "0.05", "--seed", "0", "--device", device, "--out", str(path),
                "--run", "run", "--quiet"]) == 0
    return path


def measure_once(study: Path, folder: Path, device: str) -> dict[str, float]:
    copy = folder / f"measure-{device.replace(':', '')}.h5"
    shutil.copy(study, copy)
    times: dict[str, float] = {}
    last = [time.perf_counter()]

    def stage(name: str) -> None:
        now = time.perf_counter()
        times[name] = now - last[0]
        last[0] = now

    t0 = time.perf_counter()
    measure_minimum(copy, "run", config=MeasureConfig(num_samples=1000), on_stage=stage,
                    device=device)
    times["total"] = time.perf_counter() - t0
    return times


def timed(fn: Callable[[], object], device: str) -> float:
    sync(device)
    t = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t


def vmap_vs_loop(study: Path, device: str, rounds: int) -> None:
    setup = prepare(study, "run", num_samples=1000, device=device)
    model, loss_fn = setup.model, setup.loss_fn
    data = batches(setup.data, model, None)
    sig = [0.05, 0.1, 0.2]

    def forced(loop: bool, fn: Callable[[], object]) -> Callable[[], object]:
        """``fn`` with the choice of :func:`vmap_is_slow` overridden (both modules use it)."""
        def run() -> object:
            old = EV.vmap_is_slow
            EV.vmap_is_slow = SG.vmap_is_slow = lambda m, d: loop
            try:
                return fn()
            finally:
                EV.vmap_is_slow = SG.vmap_is_slow = old
        return run

    def energy() -> object:
        return local_energy(model, loss_fn, data, sig, 16, seed=0)

    def sgld() -> object:
        return local_entropy(model, loss_fn, data, [1e4], num_chains=4, num_steps=20, burn_in=0,
                             seed=0)

    for what, fn in (("local energy, 3 σ × 16 draws", energy),
                     ("SGLD, 4 chains × 20 steps", sgld)):
        fns = {"vmap": forced(False, fn), "loop": forced(True, fn)}
        for f in fns.values():  # warm-up
            f()
        t: dict[str, list[float]] = {k: [] for k in fns}
        for r in range(rounds):
            for k in (list(fns) if r % 2 == 0 else list(fns)[::-1]):
                t[k].append(timed(fns[k], device))
        ratios = [a / b for a, b in zip(t["loop"], t["vmap"])]
        print(f"  {what:<30} vmap {statistics.median(t['vmap']):7.3f} s   loop "
              f"{statistics.median(t['loop']):7.3f} s   loop / vmap: median "
              f"{statistics.median(ratios):.2f} (rounds {[round(x, 2) for x in ratios]})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=sorted(ARCH), default="lenet")
    ap.add_argument("--devices", default="cuda,cpu" if torch.cuda.is_available() else "cpu",
                    help="comma-separated; the first is the reference of the ratios")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", default="12", help="parts to run, e.g. '2'")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    devices = args.devices.split(",")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads"
          + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""))
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        study = train_study(Path(tmp), args.model, args.epochs, devices[0])
        print(f"{args.model}: trained {args.epochs} epochs on {devices[0]} in "
              f"{time.perf_counter() - t:.1f} s")
        if "1" in args.only:
            print("\n1) measure_minimum, default MeasureConfig on 1000 samples, seconds per stage:")
            rows = {}
            for d in devices:
                rows[d] = measure_once(study, Path(tmp), d)
                print(f"  {d:<8}" + "".join(f" {s} {rows[d][s]:7.1f}" for s in
                                            (*STAGES, "total")), flush=True)
            for d in devices[1:]:
                print(f"  {d} / {devices[0]}:" + "".join(
                    f" {s} ×{rows[d][s] / rows[devices[0]][s]:.1f}" for s in (*STAGES, "total")))
        if "2" in args.only:
            for d in devices:
                print(f"\n2) vmap against one call per copy on {d} (median over {args.rounds} "
                      "alternating rounds):")
                vmap_vs_loop(study, d, args.rounds)


if __name__ == "__main__":
    main()
