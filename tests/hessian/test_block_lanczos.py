"""Block Lanczos and the sketched trace against dense float64 eigendecompositions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from landscape.errors import ConfigError
from landscape.hessian import HessianOperator, MatrixOperator
from landscape.hessian.block_lanczos import block_lanczos
from landscape.hessian.trace import sketched_trace


def _spd(P: int = 60, seed: int = 0) -> torch.Tensor:
    """A symmetric matrix with a spread spectrum and a close top pair (5.0, 4.9)."""
    gen = torch.Generator().manual_seed(seed)
    U, _ = torch.linalg.qr(torch.randn(P, P, generator=gen, dtype=torch.float64))
    top = torch.tensor([5.0, 4.9, 3.0], dtype=torch.float64)
    lam = torch.cat([top, torch.linspace(1.0, -0.5, P - 3, dtype=torch.float64)])
    return (U * lam) @ U.t()


def _start(P: int, b: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(P, b, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("b", [1, 3])
def test_top_pairs_residuals_and_basis_match_the_dense_matrix(b: int) -> None:
    A = _spd()
    exact = torch.linalg.eigvalsh(A).flip(0)
    op = MatrixOperator(A)
    r = block_lanczos(op, _start(60, b), tol=1e-10, max_matvecs=3000, ncv=2 * b + 4)
    assert r.converged and r.values.shape == (b,)
    assert r.values[0] == pytest.approx(float(exact[0]), rel=1e-10)
    V = r.vectors
    assert torch.allclose(V.t() @ V, torch.eye(b, dtype=torch.float64), atol=1e-10)
    true_resid = (A @ V - V * torch.as_tensor(r.values)).norm(dim=0).numpy()
    np.testing.assert_allclose(r.residuals, true_resid, atol=1e-9)
    Q = r.basis
    assert torch.allclose(Q.t() @ Q, torch.eye(Q.shape[1], dtype=torch.float64), atol=1e-10)
    np.testing.assert_allclose(r.projected, (Q.t() @ A @ Q).numpy(), atol=1e-10)
    assert r.num_matvecs == op.num_matvecs and r.num_blocks * b == r.num_matvecs
    assert r.num_restarts >= 1  # a basis of 2b + 4 columns is too small for 1e-10 at once


def test_a_warm_start_from_the_eigenvectors_converges_in_one_block() -> None:
    A = _spd()
    _, U = torch.linalg.eigh(A)
    tops = U[:, [-1, -2]]
    r = block_lanczos(A, tops, tol=1e-8, max_matvecs=100)
    assert r.num_blocks == 1 and r.converged
    np.testing.assert_allclose(r.values, [5.0, 4.9], rtol=1e-12)
    # the old second eigenvector alone sees 4.9 and stops: a block sees the crossing
    alone = block_lanczos(A, U[:, [-2]], tol=1e-8, max_matvecs=100)
    assert alone.values[0] == pytest.approx(4.9, rel=1e-12) and alone.num_blocks == 1


def test_an_invariant_start_continues_with_random_directions() -> None:
    """A start block inside an invariant subspace (rank-deficient coupling): the method goes on
    with random orthogonal vectors and still finds the top eigenvalue outside it."""
    A = torch.diag(torch.tensor([1.0, 1.0, 2.0, 3.0, 8.0, 0.5], dtype=torch.float64))
    e = torch.eye(6, dtype=torch.float64)
    # the first column is an eigenvector, the second's Krylov space is span{e3, e6}
    start = torch.stack([e[0] + e[1], e[2] + e[5]], dim=1)
    r = block_lanczos(A, start, tol=1e-10, max_matvecs=60,
                      generator=torch.Generator().manual_seed(0))
    assert r.values[0] == pytest.approx(8.0, rel=1e-10)
    Q = r.basis
    assert torch.allclose(Q.t() @ Q, torch.eye(Q.shape[1], dtype=torch.float64), atol=1e-10)


def test_on_a_network_hessian_with_probes_in_the_first_block(problem: dict) -> None:
    H = HessianOperator(problem["model"], problem["loss_fn"], (problem["x"], problem["y"]))
    H.block_strategy = "vmap"
    dense = problem["H"]
    P = dense.shape[0]
    G = torch.randint(0, 2, (P, 3), generator=torch.Generator().manual_seed(4)).double() * 2 - 1
    r = block_lanczos(H, _start(P, 4), tol=1e-9, max_matvecs=3000, probes=G)
    exact = torch.linalg.eigvalsh(dense).flip(0)
    assert r.values[0] == pytest.approx(float(exact[0]), rel=1e-9)
    assert r.probe_products is not None
    scale = float(dense.abs().max())
    assert torch.allclose(r.probe_products, dense @ G, rtol=0, atol=1e-10 * scale)
    assert r.num_matvecs == H.num_matvecs == 4 * r.num_blocks + 3


def test_the_sketched_trace_is_exact_with_unit_probes_and_unbiased_with_random_ones() -> None:
    A = _spd(40)
    r = block_lanczos(A, _start(40, 2), tol=1e-6, max_matvecs=200)
    # the scaled unit vectors √P e_j: exact whatever the sketch
    E = 40 ** 0.5 * torch.eye(40, dtype=torch.float64)
    exact = sketched_trace(r.basis, r.projected, E, A @ E)
    assert exact.estimate == pytest.approx(float(torch.trace(A)), rel=1e-12)
    assert exact.sketch_trace == pytest.approx(float(r.projected.trace()), rel=1e-12)
    # the mean over many Rademacher probes approaches the trace within its standard error
    G = torch.randint(0, 2, (40, 4000), generator=torch.Generator().manual_seed(5)).double()
    G = 2 * G - 1
    est = sketched_trace(r.basis, r.projected, G, A @ G)
    assert est.num_matvecs == 4000 and est.method == "sketched"
    assert abs(est.estimate - float(torch.trace(A))) <= 4 * est.stderr
    # deflating the top of the spectrum lowers the variance against plain Hutchinson
    plain = sketched_trace(torch.zeros(40, 0, dtype=torch.float64), np.zeros((0, 0)), G, A @ G)
    assert est.stderr < plain.stderr


def test_bad_arguments() -> None:
    A = _spd(10)
    with pytest.raises(ConfigError):
        block_lanczos(A, torch.ones(10), tol=1e-6, max_matvecs=10)
    with pytest.raises(ConfigError):
        block_lanczos(A, torch.ones(10, 3), tol=1e-6, max_matvecs=2)
    with pytest.raises(ConfigError):
        block_lanczos(A, torch.ones(10, 3), tol=1e-6, max_matvecs=30, ncv=4)
