"""Benchmark of landscape.hessian, measured side by side in one run and printed as ratios.

Problem (as in ``../shared/research/peer-benchmarks.md``): sklearn digits (1797 × 64, standardised),
tanh MLP 64→128→128→10 (26 122 parameters), float64, briefly trained (Adam 3e-3, 300 full-batch
steps), mean cross-entropy over all samples, 2 CPU threads.

Sections:
  a) one Hessian-vector product over one gradient, interleaved rounds: ours (cached graph, one
     in-memory batch), ours streamed (batches of 256), plain double backprop, torch.func
     forward-over-reverse, ours per column of a 10-column block; PyHessian / curvlinops if
     importable.
  b) top-10 eigenvalues: ours vs scipy ``eigsh`` on our operator (defaults and tol=1e-3), products,
     time and max relative error against a tight reference (thick-restart Lanczos, tol 1e-12).
  c) SLQ, 10 probes × 80 steps: lock-step block vs 10 sequential single-probe runs.
  d) trace: Hutch++ and Hutchinson with 99/100 products (error vs the SLQ-free exact trace is not
     available at this size; the spread over seeds is printed).
  f) trace and diagonal estimators against the number of products (``--only f``): the digits
     data, a smaller tanh MLP 64→32→32→10 (3 466 parameters, same training) whose Hessian is
     formed exactly (3 466 products with the unit vectors); median over seeds of the relative
     trace error ``|t̂ − tr H| / |tr H|`` for Hutchinson, Hutch++ and XTrace, and of the
     relative diagonal error ``‖d̂ − diag H‖ / ‖diag H‖`` for Hutchinson and XDiag, side by side
     with curvlinops' ``hutchinson_trace``, ``hutchpp_trace``, ``xtrace``, ``hutchinson_diag``
     and ``xdiag`` where importable. The estimators run on the explicit matrix (a
     ``MatrixOperator``: the same products as through the HVP, far cheaper), checked once
     against the HVP operator.
  e) optional larger case (``--fashion``): Fashion-MNIST 5000 samples, MLP 784→256→256→10, float32,
     streamed in batches of 500: HVP/gradient and top-1 cost.

Run: ``python benchmarks/hessian.py [--rounds 7] [--fashion] [--device cuda] [--only f]``. On a
GPU the same problems run on the device (timings synchronised), the peers (CPU-only here) are left
out, and scipy's ``eigsh`` copies every vector to the host and back. Timings on a shared machine
drift; only ratios measured within a round are reported. No thresholds are checked here.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.sparse.linalg as sla
import torch
from hessian_estimators import section_estimators
from hessian_peers import peer_hvps, peer_topk, section_pyhessian_density
from torch import nn
from torch.func import functional_call, grad, jvp

from landscape.hessian import (
    HessianOperator,
    eigenvalues,
    spectral_density,
    trace,
)


def digits_problem(steps: int = 300, widths: tuple[int, ...] = (64, 128, 128, 10)
                   ) -> tuple[nn.Module, nn.Module, torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    d = load_digits()
    X = torch.tensor(d.data, dtype=torch.float64)
    X = (X - X.mean(0)) / X.std(0).clamp_min(1e-8)
    y = torch.tensor(d.target)
    return _trained_mlp(widths, X, y, steps, torch.float64)


def fashion_problem(n: int = 5000, steps: int = 100
                    ) -> tuple[nn.Module, nn.Module, torch.Tensor, torch.Tensor] | None:
    root = Path(os.environ.get("LANDSCAPE_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))
    img, lab = root / "train-images-idx3-ubyte.gz", root / "train-labels-idx1-ubyte.gz"
    if not img.exists():
        print(f"  (skipped: {img} not found; apt-get install dataset-fashion-mnist)")
        return None
    with gzip.open(img) as fi, gzip.open(lab) as fl:
        X = np.frombuffer(fi.read(), np.uint8, offset=16).reshape(-1, 784)
        Y = np.frombuffer(fl.read(), np.uint8, offset=8)
    idx = np.random.default_rng(0).choice(len(Y), n, replace=False)
    x = torch.tensor(X[idx], dtype=torch.float64)
    x = (x - x.mean(0)) / x.std(0).clamp_min(1e-3)
    model, lf, x, y = _trained_mlp((784, 256, 256, 10), x, torch.tensor(Y[idx].astype(np.int64)),
                                   steps, torch.float64)
    return model.float(), lf, x.float(), y


def _trained_mlp(widths: tuple[int, ...], X: torch.Tensor, y: torch.Tensor, steps: int,
                 dtype: torch.dtype) -> tuple[nn.Module, nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(widths):
        layers += [nn.Linear(a, b), nn.Tanh()]
    model = nn.Sequential(*layers[:-1]).to(dtype)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    lf = nn.CrossEntropyLoss()
    for _ in range(steps):
        opt.zero_grad()
        lf(model(X), y).backward()
        opt.step()
    return model.eval(), lf, X, y


DEVICE = torch.device("cpu")


def _sync() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def median_time(f: Callable[[], object], n: int = 3) -> float:
    ts = []
    for _ in range(n):
        _sync()
        t = time.perf_counter()
        f()
        _sync()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def interleaved(fns: dict[str, Callable[[], object]], rounds: int, per: int = 3
                ) -> dict[str, list[float]]:
    """Per round, time every function (rotating order); return ratios to "gradient"."""
    names = list(fns)
    for f in fns.values():  # warm-up
        f()
        f()
    ratios: dict[str, list[float]] = {n: [] for n in names if n != "gradient"}
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        t = {n: median_time(fns[n], per) for n in order}
        for n in names:
            times[n].append(t[n])
            if n != "gradient":
                ratios[n].append(t[n] / t["gradient"])
    for n in names:
        med = statistics.median(times[n]) * 1e3
        if n == "gradient":
            print(f"  {n:<34} {med:8.2f} ms")
        else:
            q = np.quantile(ratios[n], [0.25, 0.5, 0.75])
            print(f"  {n:<34} {med:8.2f} ms   ×{q[1]:.2f} gradient [{q[0]:.2f}, {q[2]:.2f}]")
    return ratios


def section_hvp(model: nn.Module, lf: nn.Module, X: torch.Tensor, y: torch.Tensor,
                rounds: int) -> None:
    params = list(model.parameters())
    P = sum(p.numel() for p in params)
    gen = torch.Generator().manual_seed(0)
    v = torch.randn(P, generator=gen, dtype=X.dtype).to(X.device)
    V = torch.randn(P, 10, generator=gen, dtype=X.dtype).to(X.device)
    H = HessianOperator(model, lf, (X, y))
    H.block_strategy = "measure"  # time vmap against loop, keep the faster (not reproducible)
    batches = [(X[i: i + 256], y[i: i + 256]) for i in range(0, len(y), 256)]
    Hs = HessianOperator(model, lf, batches)
    Hf = HessianOperator(model, lf, (X, y), method="forward_over_reverse")
    vs = [t.reshape(p.shape) for t, p in zip(torch.split(v, [p.numel() for p in params]),
                                             params)]

    def gradient() -> object:
        return torch.autograd.grad(lf(model(X), y), params)

    def gradient_streamed() -> object:
        out = [torch.zeros_like(p) for p in params]
        for xb, yb in batches:
            for o, g in zip(out, torch.autograd.grad(lf(model(xb), yb), params)):
                o.add_(g, alpha=len(yb))
        return out

    def double_backprop() -> object:
        g = torch.autograd.grad(lf(model(X), y), params, create_graph=True)
        return torch.autograd.grad(g, params, vs)

    names = [n for n, _ in model.named_parameters()]
    prim = {n: p.detach() for n, p in model.named_parameters()}
    tang = dict(zip(names, vs))

    def func_fwd_over_rev() -> object:
        with torch.no_grad():
            return jvp(grad(lambda p: lf(functional_call(model, p, (X,)), y)), (prim,),
                       (tang,))[1]

    fns: dict[str, Callable[[], object]] = {
        "gradient": gradient,
        "ours H@v (auto: cached graph)": lambda: H @ v,
        "ours H@V, 10 columns (whole block)": lambda: None,  # replaced below
        "plain double backprop": double_backprop,
        "torch.func fwd-over-rev": func_fwd_over_rev,
        "ours forward_over_reverse H@v": lambda: Hf @ v,
    }
    block_t = {}

    def block() -> object:
        t = time.perf_counter()
        out = H @ V
        block_t["last"] = time.perf_counter() - t
        return out

    fns["ours H@V, 10 columns (whole block)"] = block
    if X.device.type == "cpu":
        fns.update(peer_hvps(model, lf, X, y, v))
    print(f"\na) one HVP / one gradient (full batch N={len(y)}, P={P}, {X.dtype}; median over "
          f"{rounds} interleaved rounds [q25, q75]); the 10-column block row is the time of the "
          "whole block, divide by 10 for per column:")
    r = interleaved(fns, rounds)
    per_col = np.median(r["ours H@V, 10 columns (whole block)"]) / 10
    print(f"     → per column of the block: ×{per_col:.2f} gradient "
          f"(block strategy chosen: {H.block_strategy})")
    print(f"   streamed (batches of 256, {len(batches)} batches):")
    interleaved({"gradient": gradient_streamed, "ours H@v (auto: double_backprop)":
                 lambda: Hs @ v}, rounds)


def section_topk(H: HessianOperator, k: int = 10,
                 peers: tuple[nn.Module, nn.Module, torch.Tensor, torch.Tensor] | None = None
                 ) -> None:
    P = H.num_params
    t = time.perf_counter()
    ref = eigenvalues(H, k=k + 2, tol=1e-12, ncv=60, seed=123)
    t_ref = time.perf_counter() - t
    refv = ref.eigenvalues[:k]
    print(f"\nb) top-{k} eigenvalues (reference: thick-restart Lanczos tol 1e-12, "
          f"{ref.num_matvecs} products, {t_ref:.2f} s; λ1={refv[0]:.6g}, λ{k}={refv[-1]:.6g})")

    def report(name: str, vals: np.ndarray, nmv: int, secs: float) -> None:
        vals = np.asarray(vals)
        err = np.max(np.abs(vals - refv) / np.abs(refv))
        ordered = bool(np.all(np.diff(vals) <= 0))
        print(f"  {name:<36} {nmv:4d} products {secs:7.2f} s   max rel err {err:.1e}   "
              f"{'in order' if ordered else 'OUT OF ORDER'}")

    for seed in range(3):
        n0 = H.num_matvecs
        t = time.perf_counter()
        r = eigenvalues(H, k=k, seed=seed)
        report(f"ours eigenvalues(k={k}) seed {seed}", r.eigenvalues, H.num_matvecs - n0,
               time.perf_counter() - t)
    dt = np.float64 if H.dtype == torch.float64 else np.float32
    for tol in (0.0, 1e-3):
        for seed in range(2):
            n0 = H.num_matvecs

            def mv(x: np.ndarray) -> np.ndarray:
                x = torch.as_tensor(np.asarray(x).reshape(-1), dtype=H.dtype).to(H.device)
                return (H @ x).cpu().numpy()

            op = sla.LinearOperator((P, P), matvec=mv, dtype=dt)
            v0 = np.random.default_rng(seed).standard_normal(P)
            t = time.perf_counter()
            vals = sla.eigsh(op, k=k, which="LA", tol=tol, v0=v0, return_eigenvectors=False)
            report(f"scipy eigsh tol={tol:g} seed {seed}", np.sort(vals)[::-1],
                   H.num_matvecs - n0, time.perf_counter() - t)
    if peers is not None and H.device.type == "cpu":
        peer_topk(*peers, k, report)


def section_slq(H: HessianOperator, probes: int = 10, steps: int = 80, rounds: int = 3,
                label: str = "") -> float:
    """Lock-step SLQ vs sequential single-probe runs, alternated within each round."""
    ratios, tb, ts = [], [], []
    block = None
    for r in range(rounds):
        order = ("block", "seq") if r % 2 == 0 else ("seq", "block")
        t: dict[str, float] = {}
        for which in order:
            t0 = time.perf_counter()
            if which == "block":
                block = spectral_density(H, num_probes=probes, num_steps=steps, seed=0)
            else:
                for s in range(probes):
                    spectral_density(H, num_probes=1, num_steps=steps, seed=s)
            t[which] = time.perf_counter() - t0
        ratios.append(t["block"] / t["seq"])
        tb.append(t["block"])
        ts.append(t["seq"])
    assert block is not None
    print(f"\nc) SLQ {probes} probes × {steps} steps, full re-orthogonalisation{label}: lock-step "
          f"{statistics.median(tb):.2f} s vs {probes} sequential single probes "
          f"{statistics.median(ts):.2f} s ({block.num_matvecs} products each; block strategy "
          f"{H.block_strategy}); ratio per round {[round(x, 2) for x in ratios]}, median "
          f"{statistics.median(ratios):.2f}")
    m1 = block.moments(1)
    print(f"   tr(H)/P from the quadrature: {m1.mean():.4e} ± {m1.std(ddof=1)/np.sqrt(probes):.1e}")
    return statistics.median(tb) / probes


def section_trace(H: HessianOperator) -> None:
    print("\nd) trace (5 seeds each):")
    for method, m in (("hutch++", 99), ("hutchinson", 100)):
        t = time.perf_counter()
        est = [trace(H, m, method=method, seed=s) for s in range(5)]  # type: ignore[arg-type]
        secs = (time.perf_counter() - t) / 5
        vals = np.array([e.estimate for e in est])
        print(f"  {method:<11} {m} products {secs:6.2f} s/run  estimates {vals.mean():.5g} "
              f"± {vals.std(ddof=1):.1e} (spread); reported stderr {est[0].stderr:.1e}")


def section_fashion(rounds: int) -> None:
    print("\ne) larger case: Fashion-MNIST 5000 samples, MLP 784→256→256→10, float32, batches of "
          "500")
    prob = fashion_problem()
    if prob is None:
        return
    model, lf, X, y = prob
    model, X, y = model.to(DEVICE), X.to(DEVICE), y.to(DEVICE)
    batches = [(X[i: i + 500], y[i: i + 500]) for i in range(0, len(y), 500)]
    params = list(model.parameters())
    H = HessianOperator(model, lf, batches)
    v = torch.randn(H.num_params, generator=torch.Generator().manual_seed(0)).to(DEVICE)
    V = torch.randn(H.num_params, 10, generator=torch.Generator().manual_seed(1)).to(DEVICE)

    def gradient() -> object:
        return [torch.autograd.grad(lf(model(xb), yb), params) for xb, yb in batches]

    interleaved({"gradient": gradient, "ours H@v (double_backprop)": lambda: H @ v,
                 "ours H@V 10 columns (whole block)": lambda: H @ V}, max(2, rounds // 2), 1)
    n0, t = H.num_matvecs, time.perf_counter()
    r = eigenvalues(H, k=1)
    print(f"  top-1: λ1={r.eigenvalues[0]:.6g} in {H.num_matvecs - n0} products, "
          f"{time.perf_counter() - t:.1f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--fashion", action="store_true", help="also run the larger streamed case")
    ap.add_argument("--only", default="abcdf", help="sections to run, e.g. 'ab'")
    ap.add_argument("--seeds", type=int, default=10, help="seeds per budget in section f")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    args = ap.parse_args()
    global DEVICE
    DEVICE = torch.device(args.device)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {DEVICE}"
          + (f" ({torch.cuda.get_device_name(DEVICE)})" if DEVICE.type == "cuda" else ""))
    if "f" in args.only:
        section_estimators(*digits_problem(widths=(64, 32, 32, 10)), seeds=args.seeds,
                           device=DEVICE)
    if not set(args.only) & set("abcd"):
        return
    model, lf, X, y = digits_problem()
    model, X, y = model.to(DEVICE), X.to(DEVICE), y.to(DEVICE)
    if "a" in args.only:
        section_hvp(model, lf, X, y, args.rounds)
    H = HessianOperator(model, lf, (X, y))
    H.block_strategy = "measure"  # the faster of vmap and loop, as timed on the first blocks
    if "b" in args.only:
        section_topk(H, peers=(model, lf, X, y))
    if "c" in args.only:
        per_probe = section_slq(H)
        section_pyhessian_density(model, lf, X, y, per_probe)
        streamed = HessianOperator(model, lf, [(X[i: i + 256], y[i: i + 256])
                                               for i in range(0, len(y), 256)])
        section_slq(streamed, steps=20, label=" (streamed, 8 batches of 256; 20 steps)")
    if "d" in args.only:
        section_trace(H)
    if args.fashion:
        section_fashion(args.rounds)


if __name__ == "__main__":
    main()
