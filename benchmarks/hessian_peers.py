"""The peers of ``benchmarks/hessian.py``, each behind a guard so a missing package or an API
drift skips it: PyHessian's and curvlinops's Hessian-vector products, their top-k eigenvalues
with the products counted, and PyHessian's spectral density (with ``torch.eig`` shimmed).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import scipy.sparse.linalg as sla
import torch
from torch import nn


def peer_hvps(model: nn.Module, lf: nn.Module, X: torch.Tensor, y: torch.Tensor,
               v: torch.Tensor) -> dict[str, Callable[[], object]]:
    out: dict[str, Callable[[], object]] = {}
    params = list(model.parameters())
    vs = [t.reshape(p.shape) for t, p in zip(torch.split(v, [p.numel() for p in params]),
                                             params)]
    try:
        from pyhessian import hessian as pyh_hessian  # type: ignore[import-not-found]
        from pyhessian.utils import hessian_vector_product  # type: ignore[import-not-found]

        for p in params:
            p.grad = None
        hc = pyh_hessian(model, lf, data=(X, y), cuda=False)
        out["PyHessian internal HVP"] = lambda: hessian_vector_product(hc.gradsH, hc.params, vs)
    except ImportError:
        print("  (PyHessian not importable: skipped; pip install pyhessian==0.1)")
    try:
        from curvlinops import HessianLinearOperator  # type: ignore[import-not-found]

        cl = HessianLinearOperator(model, lf, list(model.parameters()), [(X, y)])
        out["curvlinops H @ v"] = lambda: cl @ v
    except ImportError:
        print("  (curvlinops not importable: skipped; pip install curvlinops-for-pytorch)")
    except Exception as exc:  # a peer's API drift must not kill the benchmark
        print(f"  (curvlinops failed: {exc!r})")
    return out


def peer_topk(model: nn.Module, lf: nn.Module, X: torch.Tensor, y: torch.Tensor, k: int,
               report: Callable[[str, np.ndarray, int, float], None]) -> None:
    """Top-k of the peers, products counted by wrapping their own HVP entry points."""
    P = sum(p.numel() for p in model.parameters())
    try:
        import importlib

        # the package re-exports a class under the module's name: fetch the module itself
        pyh = importlib.import_module("pyhessian.hessian")

        count = [0]
        original = pyh.hessian_vector_product

        def counted(*a: object) -> object:
            count[0] += 1
            return original(*a)

        pyh.hessian_vector_product = counted
        try:
            for p in model.parameters():
                p.grad = None
            hc = pyh.hessian(model, lf, data=(X, y), cuda=False)
            t = time.perf_counter()
            vals, _ = hc.eigenvalues(top_n=k)  # PyHessian defaults: maxIter=100, tol=1e-3
            report("PyHessian eigenvalues (defaults)", np.asarray(vals, dtype=np.float64),
                   count[0], time.perf_counter() - t)
        finally:
            pyh.hessian_vector_product = original
    except ImportError:
        print("  (PyHessian not importable: skipped)")
    try:
        from curvlinops import HessianLinearOperator  # type: ignore[import-not-found]

        cl = HessianLinearOperator(model, lf, list(model.parameters()), [(X, y)])
        nmv = [0]

        def mv(x: np.ndarray) -> np.ndarray:
            nmv[0] += 1
            out = cl @ torch.as_tensor(np.asarray(x).reshape(-1), dtype=X.dtype)
            return out.detach().numpy() if isinstance(out, torch.Tensor) else np.asarray(out)

        op = sla.LinearOperator((P, P), matvec=mv, dtype=np.float64)
        t = time.perf_counter()
        vals = sla.eigsh(op, k=k, which="LA", return_eigenvectors=False,
                         v0=np.random.default_rng(0).standard_normal(P))
        report("curvlinops + scipy eigsh (docs' recipe)", np.sort(vals)[::-1], nmv[0],
               time.perf_counter() - t)
    except ImportError:
        print("  (curvlinops not importable: skipped)")
    except Exception as exc:  # a peer's API drift must not kill the benchmark
        print(f"  (curvlinops failed: {exc!r})")


def _eig_shim(T: torch.Tensor, eigenvectors: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """``torch.eig`` (removed in torch 1.13) for the symmetric tridiagonal PyHessian passes:
    eigenvalues as ``[n, 2]`` (real, imaginary) and eigenvectors as columns."""
    evals, evecs = torch.linalg.eigh(T)
    return torch.stack([evals, torch.zeros_like(evals)], 1), evecs


def section_pyhessian_density(model: nn.Module, lf: nn.Module, X: torch.Tensor,
                              y: torch.Tensor, ours_per_probe: float | None, probes: int = 3,
                              steps: int = 80) -> None:
    """PyHessian's ``density`` (patched: ``torch.eig`` → ``eigh``) per probe, and ours."""
    if X.device.type != "cpu":
        return
    try:
        import importlib

        pyh = importlib.import_module("pyhessian.hessian")
    except ImportError:
        print("   (PyHessian not importable: its density skipped)")
        return
    for p in model.parameters():
        p.grad = None
    hc = pyh.hessian(model, lf, data=(X, y), cuda=False)
    had = hasattr(torch, "eig")
    old = getattr(torch, "eig", None)
    torch.eig = _eig_shim  # type: ignore[attr-defined]
    try:
        t = time.perf_counter()
        nodes, weights = hc.density(iter=steps, n_v=probes)
        per = (time.perf_counter() - t) / probes
    finally:
        if had:
            torch.eig = old  # type: ignore[attr-defined]
        else:
            del torch.eig  # type: ignore[attr-defined]
    m1 = [float(np.dot(w, n)) for n, w in zip(nodes, weights)]
    ratio = f"; ours lock-step per probe / PyHessian per probe = {ours_per_probe / per:.2f}" \
        if ours_per_probe is not None else ""
    print(f"   PyHessian density (patched torch.eig -> eigh), {probes} probes × {steps} steps: "
          f"{per:.2f} s per probe{ratio}; its tr(H)/P per probe {np.round(m1, 5).tolist()}")
