"""Benchmark of the model zoo: Hessian costs of resnet20 and vit_tiny beside PyHessian, curvlinops.

Problem: CIFAR-shaped data (``--samples`` seeded standard-normal images 3 × 32 × 32 with
uniform labels over 10 classes: costs do not depend on the pixels), float32, eval mode, mean
cross-entropy, one in-memory batch, 2 CPU threads:

- ``resnet20``: He et al. (2016)'s CIFAR ResNet-20, the published size (269,722 parameters);
- ``vit_tiny``: by default scaled to ``dim=64, depth=4, heads=4`` with 4 × 4 patches (65 tokens,
  210k parameters) so that a shared 2-core CPU runs it in minutes; ``--full-vit`` measures the
  DeiT-Ti sizes (5.36M parameters).

Sections per model, all measured side by side in the same run:

a) one Hessian-vector product over one gradient (interleaved rounds, median and quartiles of
   the per-round ratios): ours ``cached`` (auto for one batch), ``double_backprop``,
   ``finite_difference`` (two gradients), PyHessian's internal HVP, curvlinops ``H @ v``;
b) top-5 eigenvalues: ours (thick-restart Lanczos, tol 1e-3), PyHessian (power iteration with
   deflation, its defaults), curvlinops + scipy ``eigsh`` (its docs' recipe): products, seconds
   and the largest relative deviation from ours at tol 1e-8;
c) local energy (``local_energy``, multiplicative noise, 2 σ × 8 draws): perturbed models
   evaluated per second (the peers have no local energy).

A peer that is not installed, or fails on the model, is reported with the reason and skipped.
Timings on a shared machine drift; only ratios measured within a round are meaningful. No
thresholds are checked here.

Run: ``python benchmarks/models.py [--samples 128] [--rounds 3] [--full-vit]``
(``pip install -c /tmp/constraints.txt pyhessian curvlinops-for-pytorch`` for the peers).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hessian import interleaved
from hessian_peers import peer_hvps, peer_topk

from landscape.flatness import local_energy
from landscape.hessian import HessianOperator, eigenvalues
from landscape.models import build

VIT_SMALL = {"dim": 64, "depth": 4, "heads": 4, "patch": 4}


def problem(name: str, n: int, full_vit: bool) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, 32, 32, generator=gen)
    y = torch.randint(0, 10, (n,), generator=gen)
    options = VIT_SMALL if name == "vit_tiny" and not full_vit else {}
    return build(name, (3, 32, 32), 10, seed=0, **options).eval(), x, y


def section_hvp(model: nn.Module, x: torch.Tensor, y: torch.Tensor, rounds: int) -> None:
    lf = nn.CrossEntropyLoss()
    P = sum(p.numel() for p in model.parameters())
    v = torch.randn(P, generator=torch.Generator().manual_seed(1))
    params = list(model.parameters())

    def gradient() -> object:
        return torch.autograd.grad(lf(model(x), y), params)

    fns = {"gradient": gradient}
    for method in ("cached", "double_backprop", "finite_difference"):
        H = HessianOperator(model, lf, (x, y), method=method)
        fns[f"ours H@v ({method})"] = (lambda H=H: H @ v)
    fns.update(peer_hvps(model, lf, x, y, v))
    print("a) Hessian-vector product / gradient")
    interleaved(fns, rounds, per=1)


def section_topk(model: nn.Module, x: torch.Tensor, y: torch.Tensor, k: int = 5) -> None:
    lf = nn.CrossEntropyLoss()
    H = HessianOperator(model, lf, (x, y))
    t = time.perf_counter()
    ref = eigenvalues(H, k=k, tol=1e-8, seed=7)
    print(f"b) top-{k} eigenvalues (reference: ours tol 1e-8, {ref.num_matvecs} products, "
          f"{time.perf_counter() - t:.1f} s; λ1={ref.eigenvalues[0]:.5g}, "
          f"λ{k}={ref.eigenvalues[-1]:.5g})")
    refv = np.asarray(ref.eigenvalues, dtype=np.float64)

    def report(name: str, vals: np.ndarray, nmv: int, secs: float) -> None:
        vals = np.asarray(vals, dtype=np.float64)
        err = np.max(np.abs(vals - refv) / np.abs(refv))
        print(f"  {name:<40} {nmv:4d} products {secs:7.2f} s   max rel dev {err:.1e}")

    n0 = H.num_matvecs
    t = time.perf_counter()
    r = eigenvalues(H, k=k, tol=1e-3, seed=0)
    report("ours eigenvalues(tol=1e-3)", r.eigenvalues, H.num_matvecs - n0,
           time.perf_counter() - t)
    peer_topk(model, lf, x, y, k, report)


def section_local_energy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    t = time.perf_counter()
    r = local_energy(model, nn.CrossEntropyLoss(), (x, y), [0.01, 0.05], 8, seed=0)
    secs = time.perf_counter() - t
    evaluated = r.samples.size + 1
    print(f"c) local energy, 2 σ × 8 draws: {evaluated} models in {secs:.2f} s = "
          f"{evaluated / secs:.1f} models/s over {len(y)} samples "
          f"(δE(0.05) = {r.delta[-1]:.3g} ± {r.stderr[-1]:.2g})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--samples", type=int, default=128)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--models", default="resnet20,vit_tiny")
    p.add_argument("--full-vit", action="store_true", help="vit_tiny at DeiT-Ti sizes (5.36M)")
    args = p.parse_args()
    torch.set_num_threads(2)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32, "
          f"{args.samples} CIFAR-shaped samples")
    for name in args.models.split(","):
        model, x, y = problem(name, args.samples, args.full_vit)
        P = sum(q.numel() for q in model.parameters())
        print(f"\n=== {name}: {P:,} parameters")
        section_hvp(model, x, y, args.rounds)
        section_topk(model, x, y)
        section_local_energy(model, x, y)


if __name__ == "__main__":
    main()
