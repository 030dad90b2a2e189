"""The operator interface the estimators use, and an explicit matrix behind it (private).

:class:`LinearOperator` is what every estimator in :mod:`landscape.hessian` needs: a symmetric
``P × P`` operator with ``shape``, ``dtype``, ``device`` and ``@``. :class:`MatrixOperator` wraps
an explicit symmetric matrix in that interface, so every estimator can be run (and tested) on a
dense matrix.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

from landscape.errors import ConfigError
from landscape.hessian import _checks


@runtime_checkable
class LinearOperator(Protocol):
    """What the estimators need: a symmetric ``P × P`` operator applied to ``[P]`` or ``[P, k]``."""

    @property
    def shape(self) -> tuple[int, int]: ...

    @property
    def dtype(self) -> torch.dtype: ...

    @property
    def device(self) -> torch.device: ...

    def __matmul__(self, v: torch.Tensor) -> torch.Tensor: ...


class MatrixOperator:
    """An explicit symmetric matrix behind the operator interface (tests, small problems).

    Args:
        matrix: a square ``[P, P]`` tensor; it is used as given (symmetry is the caller's
            promise, as for any operator passed to the estimators).

    Example:
        >>> A = MatrixOperator(torch.diag(torch.tensor([1.0, 2.0])))
        >>> (A @ torch.ones(2)).tolist(), A.num_matvecs
        ([1.0, 2.0], 1)
    """

    def __init__(self, matrix: torch.Tensor) -> None:
        if not isinstance(matrix, torch.Tensor) or matrix.ndim != 2 \
                or matrix.shape[0] != matrix.shape[1]:
            raise ConfigError("MatrixOperator needs a square 2-D tensor")
        self.matrix = matrix
        self.num_matvecs = 0

    @property
    def shape(self) -> tuple[int, int]:
        """``(P, P)``."""
        return (int(self.matrix.shape[0]), int(self.matrix.shape[1]))

    @property
    def num_params(self) -> int:
        """``P``, the side of the matrix."""
        return int(self.matrix.shape[0])

    @property
    def dtype(self) -> torch.dtype:
        """The matrix's dtype."""
        return self.matrix.dtype

    @property
    def device(self) -> torch.device:
        """The matrix's device."""
        return self.matrix.device

    def __matmul__(self, v: torch.Tensor) -> torch.Tensor:
        block, single = _checks.check_vectors(v, self.num_params, self.dtype, self.device)
        self.num_matvecs += block.shape[1]
        out = self.matrix @ block
        return out[:, 0] if single else out


def as_operator(A: LinearOperator | torch.Tensor) -> LinearOperator:
    """``A`` itself if it is an operator, a :class:`MatrixOperator` if it is a square tensor."""
    if isinstance(A, torch.Tensor):
        return MatrixOperator(A)
    if not isinstance(A, LinearOperator) or len(A.shape) != 2 or A.shape[0] != A.shape[1]:
        raise ConfigError(f"expected a square operator (shape, dtype, device, @) or a square "
                          f"tensor, got {type(A).__name__}")
    return A
