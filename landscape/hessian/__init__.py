"""Hessian spectra: exact curvature-vector products, Lanczos, top-k eigenpairs, trace, density.

Operators (matrix-free, ``H @ v`` / ``H @ V``):
    :class:`HessianOperator`, :class:`GGNOperator` (curvature of the mean loss over a data set),
    :class:`MatrixOperator` (an explicit matrix behind the same interface).
Estimators (work on any operator or square tensor):
    :func:`eigenvalues` → :class:`EigenResult`; :func:`trace` → :class:`TraceResult`
    (Hutchinson, Hutch++, XTrace); :func:`diagonal` → :class:`DiagonalResult` (Hutchinson,
    XDiag; ``.per_block()`` → :class:`BlockTraces`, the trace of every parameter or layer);
    :func:`spectral_density` → :class:`SpectralDensityResult` (→ :class:`SmoothedDensity`).
Kernels: :mod:`landscape.hessian.lanczos`.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from landscape.hessian import HessianOperator, eigenvalues, trace
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)).double().eval()
    >>> x, y = torch.randn(64, 4, dtype=torch.float64), torch.randint(0, 3, (64,))
    >>> H = HessianOperator(model, nn.CrossEntropyLoss(), (x, y))
    >>> top = eigenvalues(H, k=3)
    >>> top.eigenvalues.shape, top.all_converged
    ((3,), True)
"""

from __future__ import annotations

from landscape.hessian._operator import CurvatureOperator, LinearOperator, MatrixOperator
from landscape.hessian.density import (
    Kernel,
    Preset,
    SmoothedDensity,
    SpectralDensityResult,
    spectral_density,
)
from landscape.hessian.diagonal import (
    BlockLevel,
    BlockTraces,
    DiagonalMethod,
    DiagonalResult,
    diagonal,
)
from landscape.hessian.eigen import EigenResult, ResidualKind, eigenvalues
from landscape.hessian.ggn import GgnMethod, GGNOperator
from landscape.hessian.hessian_operator import HessianOperator, HvpMethod
from landscape.hessian.lanczos import Reorth, Which
from landscape.hessian.trace import Distribution, TraceMethod, TraceResult, trace

__all__ = [
    "BlockLevel",
    "BlockTraces",
    # operators
    "CurvatureOperator",
    "DiagonalMethod",
    "DiagonalResult",
    # option types
    "Distribution",
    # estimators and their results
    "EigenResult",
    "GGNOperator",
    "GgnMethod",
    "HessianOperator",
    "HvpMethod",
    "Kernel",
    "LinearOperator",
    "MatrixOperator",
    "Preset",
    "Reorth",
    "ResidualKind",
    "SmoothedDensity",
    "SpectralDensityResult",
    "TraceMethod",
    "TraceResult",
    "Which",
    "diagonal",
    "eigenvalues",
    "spectral_density",
    "trace",
]
