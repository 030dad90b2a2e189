"""Hutchinson and Hutch++ trace estimators (XTrace: ``test_trace_xtrace.py``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from landscape.errors import ConfigError
from landscape.hessian import HessianOperator, MatrixOperator, TraceResult, trace


@pytest.mark.parametrize("method", ["hutchinson", "hutch++"])
def test_unbiased_on_a_network_hessian(problem: dict, method: str) -> None:
    H = HessianOperator(problem["model"], problem["loss_fn"], (problem["x"], problem["y"]))
    exact = float(problem["evals"].sum())
    estimates = np.array([trace(H, 30, method=method, seed=s).estimate for s in range(20)])
    se = estimates.std(ddof=1) / np.sqrt(len(estimates))
    assert abs(estimates.mean() - exact) <= 3 * se
    one = trace(H, 99, method=method, seed=100)
    assert abs(one.estimate - exact) <= 3 * one.stderr + 1e-12
    assert one.num_matvecs == 99 and one.samples.shape[0] == (99 if method == "hutchinson"
                                                               else 33)


def low_rank_plus_noise(n: int = 300, rank: int = 10, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    U, _ = torch.linalg.qr(torch.randn(n, rank, generator=gen, dtype=torch.float64))
    noise = torch.randn(n, n, generator=gen, dtype=torch.float64)
    return U @ torch.diag(torch.linspace(50, 100, rank, dtype=torch.float64)) @ U.T \
        + 0.01 * (noise + noise.T)


def test_hutchpp_has_lower_variance_on_low_rank_plus_noise() -> None:
    A = low_rank_plus_noise()
    exact = float(torch.trace(A))
    errs = {m: np.array([trace(A, 45, method=m, seed=s).estimate - exact for s in range(30)])
            for m in ("hutchinson", "hutch++")}
    assert np.mean(errs["hutch++"] ** 2) < 0.01 * np.mean(errs["hutchinson"] ** 2)
    assert abs(errs["hutch++"].mean()) <= 3 * errs["hutch++"].std(ddof=1) / np.sqrt(30)


def test_hutchpp_is_exact_when_the_sketch_covers_the_range() -> None:
    U, _ = torch.linalg.qr(torch.randn(100, 5, dtype=torch.float64,
                                       generator=torch.Generator().manual_seed(9)))
    B = U @ torch.diag(torch.arange(1.0, 6.0, dtype=torch.float64)) @ U.T  # rank 5
    r = trace(B, 30, method="hutch++")
    assert r.estimate == pytest.approx(15.0, rel=1e-10) and r.stderr < 1e-10
    assert r.sketch_trace == pytest.approx(15.0, rel=1e-10)


def test_budget_need_not_be_divisible_by_three() -> None:
    A = MatrixOperator(low_rank_plus_noise(n=60))
    r = trace(A, 100, method="hutch++")
    assert r.num_matvecs == 100 == A.num_matvecs and r.samples.shape[0] == 34


def test_gaussian_probes_and_bad_arguments() -> None:
    A = torch.eye(20, dtype=torch.float64)
    r = trace(A, 10, method="hutchinson", distribution="gaussian", seed=1)
    assert r.distribution == "gaussian" and r.stderr > 0
    assert trace(A, 10, method="hutchinson").estimate == pytest.approx(20.0)  # Rademacher exact
    with pytest.raises(ConfigError):
        trace(A, 2, method="hutch++")
    with pytest.raises(ConfigError):
        trace(A, 0)
    with pytest.raises(ConfigError):
        trace(A, 10, method="xdiag")  # type: ignore[arg-type]


def test_round_trip_through_arrays() -> None:
    r = trace(low_rank_plus_noise(n=50), 30, method="hutch++", seed=4)
    arrays, attrs = r.to_arrays()
    back = TraceResult.from_arrays(arrays, attrs)
    assert back.estimate == r.estimate and back.stderr == r.stderr and back.seed == 4
    np.testing.assert_array_equal(back.samples, r.samples)
    assert back.method == "hutch++" and back.num_matvecs == 30
