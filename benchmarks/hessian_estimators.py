"""Section f of ``benchmarks/hessian.py``: trace and diagonal estimators against the number of
Hessian-vector products (Hutchinson, Hutch++, XTrace; Hutchinson and XDiag diagonals), median
relative error over seeds against the exact Hessian of a small digits MLP, side by side with
curvlinops's estimators where importable. Run through ``python benchmarks/hessian.py --only f``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from landscape.hessian import HessianOperator, MatrixOperator, diagonal, trace

BUDGETS = (12, 24, 48, 96, 192, 384, 768)  # even and divisible by 3 (curvlinops' Hutch++)


def _dense(H: HessianOperator, block: int = 200) -> torch.Tensor:
    """The explicit Hessian from ``P`` products with the unit vectors (float64, CPU)."""
    P = H.num_params
    cols = []
    for s in range(0, P, block):
        E = torch.zeros(P, min(block, P - s), dtype=H.dtype, device=H.device)
        E[torch.arange(s, s + E.shape[1]), torch.arange(E.shape[1])] = 1
        cols.append((H @ E).double().cpu())
    A = torch.cat(cols, dim=1)
    return 0.5 * (A + A.t())


def _peer_estimators() -> dict[str, Callable[..., torch.Tensor]]:
    try:
        import curvlinops  # type: ignore[import-not-found]
    except ImportError:
        print("  (curvlinops not importable: its estimators skipped; "
              "pip install curvlinops-for-pytorch)")
        return {}
    names = ("hutchinson_trace", "hutchpp_trace", "xtrace", "hutchinson_diag", "xdiag")
    missing = [n for n in names if not hasattr(curvlinops, n)]
    if missing:
        print(f"  (curvlinops lacks {missing}: its estimators skipped)")
        return {}
    return {n: getattr(curvlinops, n) for n in names}


def _table(title: str, rows: dict[str, list[float]]) -> None:
    print(f"  {title}")
    print("  " + f"{'products':<28}" + "".join(f"{m:>9d}" for m in BUDGETS))
    for name, vals in rows.items():
        print("  " + f"{name:<28}" + "".join(f"{v:9.1e}" for v in vals))


def section_estimators(model: nn.Module, lf: nn.Module, X: torch.Tensor, y: torch.Tensor, *,
                       seeds: int = 10, device: torch.device | str = "cpu") -> None:
    """Error against the number of products, median over ``seeds`` (section f)."""
    H = HessianOperator(model.to(device), lf, (X.to(device), y.to(device)))
    t = time.perf_counter()
    A = _dense(H)
    exact_tr, exact_d = float(A.trace()), A.diagonal().clone()
    print(f"\nf) trace and diagonal estimators vs products: MLP 64→32→32→10 on digits, "
          f"P={H.num_params}; exact Hessian from {H.num_params} products in "
          f"{time.perf_counter() - t:.0f} s; tr H = {exact_tr:.6g}, ‖diag H‖ = "
          f"{float(exact_d.norm()):.4g}; median over {seeds} seeds")
    via_hvp = trace(H, 48, method="xtrace", seed=0).estimate
    via_mat = trace(A, 48, method="xtrace", seed=0).estimate
    print(f"  check: XTrace(48) through the HVP operator {via_hvp:.10g}, through the matrix "
          f"{via_mat:.10g}")
    M = MatrixOperator(A)
    peers = _peer_estimators()

    def ours_trace(method: str) -> tuple[list[float], list[float]]:
        err, se = [], []
        for m in BUDGETS:
            runs = [trace(M, m, method=method, seed=s) for s in range(seeds)]  # type: ignore
            err.append(float(np.median([abs(r.estimate - exact_tr) for r in runs])))
            se.append(float(np.median([r.stderr for r in runs])))
        return [e / abs(exact_tr) for e in err], [v / abs(exact_tr) for v in se]

    def peer(fn: Callable[..., torch.Tensor], diag: bool) -> list[float]:
        out = []
        for m in BUDGETS:
            errs = []
            for s in range(seeds):
                torch.manual_seed(s)
                est = fn(A, m)
                errs.append(float((est - exact_d).norm() / exact_d.norm()) if diag
                            else abs(float(est) - exact_tr) / abs(exact_tr))
            out.append(float(np.median(errs)))
        return out

    rows: dict[str, list[float]] = {}
    for method in ("hutchinson", "hutch++", "xtrace"):
        rows[f"ours {method}"], se = ours_trace(method)
        rows[f"  {method} reported stderr"] = se
    for name in ("hutchinson_trace", "hutchpp_trace", "xtrace"):
        if name in peers:
            rows[f"curvlinops {name}"] = peer(peers[name], diag=False)
    _table("relative trace error |t̂ − tr H| / |tr H|:", rows)
    rows = {}
    for method in ("hutchinson", "xdiag"):
        rows[f"ours {method}"] = [float(np.median([
            np.linalg.norm(diagonal(M, m, method=method, seed=s).estimate - exact_d.numpy())
            for s in range(seeds)])) / float(exact_d.norm()) for m in BUDGETS]
    for name in ("hutchinson_diag", "xdiag"):
        if name in peers:
            rows[f"curvlinops {name}"] = peer(peers[name], diag=True)
    _table("relative diagonal error ‖d̂ − diag H‖ / ‖diag H‖:", rows)
    r = diagonal(M, 192, method="xdiag", blocks=dict(zip(
        H.param_names, [int(p.numel()) for p in model.parameters()])))
    exact_blocks = [float(t.sum()) for t in torch.split(exact_d, list(r.block_sizes))]
    print("  per-layer traces from one XDiag(192): " + "; ".join(
        f"{n} {e:.4g} ± {se:.1g} (exact {x:.4g})" for (n, (e, se)), x in
        zip(r.per_block().as_dict().items(), exact_blocks)))
