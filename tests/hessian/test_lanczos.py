"""The Lanczos kernels against numpy.linalg.eigh on explicit matrices."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from landscape.hessian import MatrixOperator
from landscape.hessian.lanczos import gauss_quadrature, lanczos_lockstep, thick_restart_lanczos


def random_symmetric(n: int, evals: np.ndarray, seed: int = 0,
                     dtype: torch.dtype = torch.float64) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return torch.as_tensor((Q * evals) @ Q.T, dtype=dtype)


def spectrum(n: int = 200) -> np.ndarray:
    """A Hessian-like spectrum: a bulk in [-0.1, 1] and 8 outliers up to 50."""
    bulk = np.linspace(-0.1, 1.0, n - 8)
    return np.concatenate([bulk, [5.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0, 50.0]])


@pytest.mark.parametrize("reorth", ["full", "none"])
def test_quadrature_reproduces_moments_of_the_start_vector(reorth: str) -> None:
    n, m = 200, 12
    A = random_symmetric(n, spectrum(n))
    v = torch.randn(n, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    runs = lanczos_lockstep(MatrixOperator(A), v, m, reorth=reorth)  # type: ignore[arg-type]
    assert runs.alphas.dtype == np.float64 and runs.num_matvecs == 3 * m
    An = A.numpy()
    for c in range(3):
        vh = (v[:, c] / v[:, c].norm()).numpy()
        nodes, weights = gauss_quadrature(runs.alphas[c], runs.betas[c])
        assert weights.sum() == pytest.approx(1.0, abs=1e-13)
        w = vh.copy()
        for j in range(2 * m):  # Gauss quadrature is exact up to degree 2m - 1
            exact = vh @ w
            assert np.sum(weights * nodes ** j) == pytest.approx(exact, rel=1e-7, abs=1e-9)
            w = An @ w


def test_lockstep_equals_independent_runs() -> None:
    n = 150
    A = MatrixOperator(random_symmetric(n, spectrum(n), seed=1))
    V = torch.randn(n, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    block = lanczos_lockstep(A, V, 30)
    assert A.num_matvecs == 4 * 30
    for c in range(4):
        single = lanczos_lockstep(A, V[:, c], 30)
        np.testing.assert_allclose(block.alphas[c], single.alphas[0], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(block.betas[c], single.betas[0], rtol=1e-9, atol=1e-12)


def test_full_reorthogonalisation_keeps_extreme_nodes_exact_and_unique() -> None:
    n = 200
    evals = spectrum(n)
    A = MatrixOperator(random_symmetric(n, evals, seed=2))
    v = torch.ones(n, dtype=torch.float64)
    full = lanczos_lockstep(A, v, 80, reorth="full")
    nodes, _ = gauss_quadrature(full.alphas[0], full.betas[0])
    assert nodes[-1] == pytest.approx(50.0, rel=1e-12)
    assert np.sum(np.abs(nodes - 50.0) < 1e-6) == 1  # no ghost copy
    assert nodes.min() >= evals.min() - 1e-10 and nodes.max() <= evals.max() + 1e-10


def test_breakdown_stops_a_run_and_pads_with_nan() -> None:
    A = MatrixOperator(torch.diag(torch.tensor([1.0, 1.0, 2.0, 3.0, 3.0, 4.0],
                                               dtype=torch.float64)))
    V = torch.stack([torch.ones(6, dtype=torch.float64),
                     torch.tensor([1.0, 0, 0, 1, 0, 0], dtype=torch.float64)], dim=1)
    runs = lanczos_lockstep(A, V, 6)
    assert runs.lengths.tolist() == [4, 2]  # 4 and 2 distinct eigenvalues are reachable
    assert np.isnan(runs.alphas[0, 4:]).all() and np.isnan(runs.alphas[1, 2:]).all()
    assert runs.num_matvecs == 4 + 2
    nodes, weights = gauss_quadrature(runs.alphas[0], runs.betas[0])
    np.testing.assert_allclose(nodes, [1.0, 2.0, 3.0, 4.0], atol=1e-12)
    np.testing.assert_allclose(weights, [2 / 6, 1 / 6, 2 / 6, 1 / 6], atol=1e-12)


def test_float32_operator_gets_float64_coefficients() -> None:
    n = 100
    A32 = random_symmetric(n, spectrum(n), seed=3, dtype=torch.float32)
    v = torch.randn(n, generator=torch.Generator().manual_seed(3))
    runs = lanczos_lockstep(MatrixOperator(A32), v, 10)
    ref = lanczos_lockstep(MatrixOperator(A32.double()), v.double(), 10)
    assert runs.alphas.dtype == np.float64
    np.testing.assert_allclose(runs.alphas, ref.alphas, rtol=1e-4)


def test_basis_on_cpu_gives_the_same_run() -> None:
    n = 80
    A = MatrixOperator(random_symmetric(n, spectrum(n), seed=4))
    v = torch.randn(n, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    a = lanczos_lockstep(A, v, 20)
    b = lanczos_lockstep(A, v, 20, basis_device="cpu")
    np.testing.assert_array_equal(a.alphas, b.alphas)


@pytest.mark.parametrize("which", ["largest", "smallest", "magnitude"])
def test_thick_restart_against_eigh(which: str) -> None:
    n = 200
    evals = spectrum(n)
    evals[0] = -40.0  # a large negative eigenvalue for "magnitude"
    A = random_symmetric(n, evals, seed=5)
    ref = np.linalg.eigh(A.numpy())[0]
    k, ncv = 6, 14  # small basis: several restarts
    want = {"largest": ref[::-1][:k], "smallest": ref[:k],
            "magnitude": ref[np.argsort(-np.abs(ref))][:k]}[which]
    r = thick_restart_lanczos(MatrixOperator(A), k, which=which, ncv=ncv,  # type: ignore[arg-type]
                              tol=1e-10, max_matvecs=5000,
                              start=torch.ones(n, dtype=torch.float64))
    assert r.converged.all() and r.num_restarts > 0
    np.testing.assert_allclose(r.values, want, rtol=1e-9, atol=1e-9)
    true = (A @ r.vectors - r.vectors * torch.as_tensor(r.values)).norm(dim=0).numpy()
    np.testing.assert_allclose(r.residuals, true, atol=1e-9)
    gram = r.vectors.T @ r.vectors
    assert torch.allclose(gram, torch.eye(k, dtype=torch.float64), atol=1e-10)


def test_thick_restart_on_a_tiny_matrix_exhausts_the_space() -> None:
    A = torch.diag(torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0], dtype=torch.float64))
    r = thick_restart_lanczos(MatrixOperator(A), 5, ncv=50, tol=1e-12, max_matvecs=100,
                              start=torch.ones(5, dtype=torch.float64))
    np.testing.assert_allclose(r.values, [5, 4, 3, 2, 1], atol=1e-12)
    assert r.num_matvecs == 5 and r.converged.all()


def test_invariant_start_vector_continues_with_a_fresh_direction() -> None:
    A = torch.diag(torch.arange(1.0, 11.0, dtype=torch.float64))
    start = torch.zeros(10, dtype=torch.float64)
    start[[0, 1]] = 1.0  # spans an invariant subspace of dimension 2
    r = thick_restart_lanczos(MatrixOperator(A), 3, ncv=8, tol=1e-10, max_matvecs=200,
                              start=start, generator=torch.Generator().manual_seed(0))
    np.testing.assert_allclose(r.values, [10, 9, 8], atol=1e-9)
