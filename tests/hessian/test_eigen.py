"""eigenvalues() on the Hessian of a small MLP against dense float64 eigh."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from landscape.errors import ConfigError
from landscape.hessian import EigenResult, HessianOperator, eigenvalues


@pytest.fixture(scope="module")
def H(problem: dict) -> HessianOperator:
    return HessianOperator(problem["model"], problem["loss_fn"], (problem["x"], problem["y"]))


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.abs(b)))


def test_top_k_to_1e6_relative_with_defaults(H: HessianOperator, problem: dict) -> None:
    ref = problem["evals"].numpy()[::-1][:10]
    before = H.num_matvecs
    r = eigenvalues(H, k=10, seed=0)
    assert r.all_converged
    assert _rel(r.eigenvalues, ref) < 1e-6
    assert np.all(np.diff(r.eigenvalues) <= 0)  # largest first
    assert r.num_matvecs == H.num_matvecs - before
    assert r.eigenvectors.shape == (H.num_params, 10)
    assert r.residual_kind == "ritz" and np.all(r.residuals <= 1e-4 * np.abs(r.eigenvalues))


def test_smallest_with_restarts(H: HessianOperator, problem: dict) -> None:
    ref = problem["evals"].numpy()[:4]
    r = eigenvalues(H, k=4, which="smallest", ncv=20, tol=1e-6, seed=1)
    assert r.all_converged and r.num_restarts > 0 and r.ncv == 20
    assert _rel(r.eigenvalues, ref) < 1e-6
    assert np.all(np.diff(r.eigenvalues) >= 0)  # smallest first


def test_magnitude_order(problem: dict) -> None:
    # a shifted matrix whose largest |λ| is its most negative eigenvalue
    A = problem["H"] - 2.0 * problem["evals"][-1] * torch.eye(problem["H"].shape[0],
                                                                dtype=torch.float64)
    ev = torch.linalg.eigvalsh(A).numpy()
    ref = ev[np.argsort(-np.abs(ev))][:3]
    r = eigenvalues(A, k=3, which="magnitude", tol=1e-8)
    assert _rel(r.eigenvalues, ref) < 1e-6 and r.eigenvalues[0] < 0


def test_true_residuals_are_small_and_cost_k_products(H: HessianOperator,
                                                      problem: dict) -> None:
    r = eigenvalues(H, k=3, tol=1e-8, residuals="true")
    ritz = eigenvalues(H, k=3, tol=1e-8)
    assert r.residual_kind == "true" and r.num_matvecs == ritz.num_matvecs + 3
    Hd = problem["H"]
    V = r.eigenvectors
    direct = (Hd @ V - V * torch.as_tensor(r.eigenvalues)).norm(dim=0).numpy()
    np.testing.assert_allclose(r.residuals, direct, atol=1e-12)
    assert np.all(r.residuals < 1e-7 * np.abs(r.eigenvalues))
    # eigenvectors agree with eigh's up to sign
    _, U = torch.linalg.eigh(Hd)
    overlap = (U[:, -1] @ V[:, 0]).abs()
    assert overlap == pytest.approx(1.0, abs=1e-8)


def test_seed_makes_runs_reproducible(H: HessianOperator) -> None:
    a, b = eigenvalues(H, k=2, seed=3), eigenvalues(H, k=2, seed=3)
    np.testing.assert_array_equal(a.eigenvalues, b.eigenvalues)
    assert a.seed == 3


def test_unconverged_runs_say_so(H: HessianOperator) -> None:
    r = eigenvalues(H, k=5, max_iter=8, tol=1e-10)
    assert r.num_matvecs == 8 and not r.all_converged


def test_bad_arguments(H: HessianOperator) -> None:
    with pytest.raises(ConfigError):
        eigenvalues(H, k=0)
    with pytest.raises(ConfigError):
        eigenvalues(H, k=H.num_params + 1)
    with pytest.raises(ConfigError):
        eigenvalues(H, k=2, which="biggest")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        eigenvalues(H, k=4, ncv=4)


def test_round_trip_through_arrays(H: HessianOperator) -> None:
    r = eigenvalues(H, k=3)
    arrays, attrs = r.to_arrays()
    assert set(arrays) == {"eigenvalues", "eigenvectors", "residuals", "converged"}
    assert all(isinstance(v, (int, float, str, bool)) for v in attrs.values())
    back = EigenResult.from_arrays(arrays, attrs)
    np.testing.assert_array_equal(back.eigenvalues, r.eigenvalues)
    assert torch.equal(back.eigenvectors, r.eigenvectors)
    assert back.converged.dtype == bool and back.which == r.which
    assert back.num_matvecs == r.num_matvecs and back.tol == r.tol


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_eigenvalues_on_cuda_with_cpu_basis(problem: dict) -> None:
    A = problem["H"].cuda()
    r = eigenvalues(A, k=5, basis_device="cpu")
    assert _rel(r.eigenvalues, problem["evals"].numpy()[::-1][:5]) < 1e-6
    assert r.eigenvectors.device.type == "cuda"
