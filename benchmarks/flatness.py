"""Benchmark of landscape.flatness: batched local energy against the naive loop; a 51×51 surface.

Problem: sklearn digits training split via ``landscape.data.load_splits("digits")`` (1348 × 64),
ReLU MLP 64→128→128→10 (26 122 parameters, ``landscape.models.MLP``), float32, briefly trained
(Adam 3e-3, 200 full-batch steps), mean cross-entropy over the split in batches of 256,
multiplicative noise, 2 CPU threads.

Measured side by side, interleaved over rounds, for the same σ values and noise draws, for a
3-point and a 10-point σ curve:
  - batched: ``local_energy`` (perturbed copies stacked; chains of Linear layers and elementwise
    activations, such as this MLP, go through the fused path of large batched GEMMs in
    ``landscape/flatness/_fused.py``, other models through ``torch.func.functional_call`` under
    ``torch.vmap``; chunked to a memory budget); the first layer's products with each draw are
    computed once per call and reused across σ, so longer curves amortise them;
  - naive: for every σ and draw, draw the noise from the draw's seeded stream, ``copy.deepcopy``
    the model, add ``σ·d`` in place, evaluate batch by batch (the loop of
    ``tomgoldstein/loss-landscape`` and of the SvG scripts).
Printed: seconds per perturbed model (one σ, one draw, one full data pass) for both, their ratio
(naive / batched, median over rounds), and the largest difference between the two sets of losses.

Measured 2026-11-25 (quiet shared 2-core AMD EPYC, torch 2.13, 5 rounds × 32 draws, two runs):
3-point curve 0.77-1.18 ms vs 2.46-3.40 ms per model, ratio 3.09x and 3.13x median (rounds
2.83-3.88); 10-point curve 0.68-0.86 ms vs 2.86-3.52 ms, ratio 4.15x and 4.32x (rounds
3.57-5.05). Losses agree to 9e-9. The 51×51 surface took 1.7-1.9 s (0.64-0.74 ms per point).
What got there from 1.5-1.7x: reused work buffers (fresh multi-MiB outputs page-fault on this
VM), a ``W hᵀ`` classifier head, the first layer from products shared across σ, the traced plan
kept per model; the rest is the GEMM floor (the 128×128 layer at ~135 GFLOP/s is 0.31 ms per
model). Before these changes (same machine): 1.31 ms vs 2.25 ms, 1.52-1.74x. GPU throughput
(one H200, torch 2.11, 2026-11-25): 0.171 ms (3 σ) and 0.106 ms (10 σ) per perturbed model,
5840 and 9460 models/s, against 1.86-1.88 ms for the naive loop (10.8x and 17.5x); the surface
in 0.1 s.

Second part: a 51×51 filter-normalised random-plane surface of the same model on the same data,
end to end (directions, 2601 grid points, loss and error), with its time per grid point.

Run: ``python benchmarks/flatness.py [--rounds 5] [--samples 32] [--threads 2] [--grid 51]
[--device cuda]`` (on a GPU the models per second of the batched path are its throughput).
Timings on a shared machine drift; only ratios measured within a round are reported. No
thresholds are checked.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import numpy as np
import torch
from torch import nn

from landscape.data import load_splits
from landscape.flatness import local_energy, surface_2d
from landscape.flatness.perturbations import directions_from_normal, standard_normal
from landscape.models import MLP

SIGMAS = [0.01, 0.05, 0.1]
#: A curve as plotted in papers (Pittorino et al. 2021 use ~10-20 points).
SIGMAS_LONG = np.geomspace(0.005, 0.2, 10).tolist()


def problem(steps: int = 200) -> tuple[nn.Module, list[tuple[torch.Tensor, torch.Tensor]]]:
    train, _ = load_splits("digits")
    x, y = train.x.float(), train.y
    torch.manual_seed(0)
    model = MLP((1, 8, 8), 10, depth=2, width=128)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
    model.eval()
    batches = [(x[i: i + 256], y[i: i + 256]) for i in range(0, x.shape[0], 256)]
    return model, batches


def naive(model: nn.Module, loss_fn: nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]],
          sigmas: list[float], samples: int, seed: int = 0) -> np.ndarray:
    """Deepcopy, perturb, evaluate: one model copy at a time.

    Draw ``j`` is made for every ``(σ, j)`` from its own seeded stream (the same streams and the
    same multiplicative directions ``z ⊙ w`` as ``local_energy``, so the losses can be compared),
    as a script that perturbs a deep copy would: drawing the noise is part of perturbing.
    """
    weights = {n: p.detach() for n, p in model.named_parameters()}
    n_total = sum(b[0].shape[0] for b in batches)
    out = np.empty((len(sigmas), samples))
    for i, s in enumerate(sigmas):
        for j in range(samples):
            d = directions_from_normal(weights, standard_normal(weights, seed, [j]))
            m = copy.deepcopy(model)
            params = dict(m.named_parameters())
            with torch.no_grad():
                for n, dn in d.items():
                    params[n].add_(s * dn[0])
                total = 0.0
                for xb, yb in batches:
                    total += float(loss_fn(m(xb), yb)) * xb.shape[0]
            out[i, j] = total / n_total
    return out


def compare(model: nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]],
            sigmas: list[float], samples: int, rounds: int) -> None:
    """Batched against naive for one σ curve, interleaved over rounds; prints one block."""
    loss_fn = nn.CrossEntropyLoss()
    per_model = len(sigmas) * samples
    t_b, t_n, ratios, diff = [], [], [], 0.0
    sync = torch.cuda.synchronize if batches[0][0].is_cuda else (lambda: None)
    for _ in range(rounds):
        sync()
        t0 = time.perf_counter()
        r = local_energy(model, loss_fn, batches, sigmas, samples)
        sync()
        t1 = time.perf_counter()
        ref = naive(model, loss_fn, batches, sigmas, samples)
        sync()
        t2 = time.perf_counter()
        t_b.append((t1 - t0) / per_model)
        t_n.append((t2 - t1) / per_model)
        ratios.append((t2 - t1) / (t1 - t0))
        diff = max(diff, float(np.abs(r.samples - ref).max()))
    print(f"curve of {len(sigmas)} sigmas x {samples} draws per round:")
    print(f"  batched:        {1e3 * statistics.median(t_b):8.3f} ms per perturbed model "
          f"({1 / statistics.median(t_b):7.1f} models/s)")
    print(f"  naive loop:     {1e3 * statistics.median(t_n):8.3f} ms per perturbed model "
          f"({1 / statistics.median(t_n):7.1f} models/s)")
    print(f"  ratio naive / batched: median {statistics.median(ratios):.2f}x "
          f"(rounds: {', '.join(f'{x:.2f}' for x in ratios)})")
    print(f"  max |batched - naive| loss difference: {diff:.2e} (float32)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--grid", type=int, default=51, help="points per axis of the surface")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (GPU throughput)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, batches = problem()
    if args.device != "cpu":
        model = model.to(args.device)
        batches = [(x.to(args.device), y.to(args.device)) for x, y in batches]
    loss_fn = nn.CrossEntropyLoss()
    n_params = sum(p.numel() for p in model.parameters())
    print(f"digits MLP 64-128-128-10, {n_params} parameters, float32, "
          f"{sum(b[0].shape[0] for b in batches)} samples in {len(batches)} batches, "
          f"{args.device}, {args.threads} threads")
    local_energy(model, loss_fn, batches, SIGMAS[:1], 2)  # warm-up
    for sigmas in (SIGMAS, SIGMAS_LONG):
        compare(model, batches, sigmas, args.samples, args.rounds)
    coords = np.linspace(-1.0, 1.0, args.grid)
    t0 = time.perf_counter()
    grid = surface_2d(model, loss_fn, batches, xs=coords, ys=coords, seed=0)
    secs = time.perf_counter() - t0
    print(f"surface {args.grid}x{args.grid} (filter-normalised random plane, loss and error): "
          f"{secs:.1f} s end to end, {1e3 * secs / args.grid**2:.2f} ms per grid point; "
          f"loss {np.nanmin(grid.loss):.3g}..{np.nanmax(grid.loss):.3g}")


if __name__ == "__main__":
    main()
