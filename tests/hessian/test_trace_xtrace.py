"""XTrace (Epperly, Tropp & Webber 2024) against dense float64 traces."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from landscape.errors import ConfigError
from landscape.hessian import HessianOperator, MatrixOperator, TraceResult, trace
from tests.hessian.test_trace import low_rank_plus_noise


def decaying(n: int = 120, power: float = 1.5, seed: int = 0) -> torch.Tensor:
    """``U diag(k^-power) Uᵀ`` with a random orthogonal ``U``: a decaying spectrum."""
    gen = torch.Generator().manual_seed(seed)
    U, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))
    ev = torch.arange(1, n + 1, dtype=torch.float64) ** -power
    return U @ torch.diag(ev) @ U.T


def test_unbiased_on_a_network_hessian(problem: dict) -> None:
    H = HessianOperator(problem["model"], problem["loss_fn"], (problem["x"], problem["y"]))
    exact = float(problem["evals"].sum())
    estimates = np.array([trace(H, 30, method="xtrace", seed=s).estimate for s in range(20)])
    se = estimates.std(ddof=1) / np.sqrt(len(estimates))
    assert abs(estimates.mean() - exact) <= 3 * se
    one = trace(H, 99, method="xtrace", seed=100)
    assert abs(one.estimate - exact) <= 4 * one.stderr
    assert one.num_matvecs == 98 == H.num_matvecs - 30 * 20  # an odd budget leaves one unused
    assert one.samples.shape == (49,) and one.distribution == "sphere" and not one.exact


@pytest.mark.parametrize("distribution", ["sphere", "gaussian", "rademacher"])
def test_unbiased_over_seeds_on_a_matrix(distribution: str) -> None:
    A = low_rank_plus_noise(n=80, rank=6)
    exact = float(torch.trace(A))
    est = np.array([trace(A, 10, method="xtrace", distribution=distribution, seed=s).estimate
                    for s in range(300)])
    assert abs(est.mean() - exact) <= 3.5 * est.std(ddof=1) / np.sqrt(len(est))
    assert est.std() > 1e-3  # random, not accidentally exact


def test_beats_hutchpp_at_the_same_budget() -> None:
    A = decaying()
    exact = float(torch.trace(A))
    mse = {m: np.mean([(trace(A, 40, method=m, seed=s).estimate - exact) ** 2
                       for s in range(40)]) for m in ("hutch++", "xtrace")}
    assert mse["xtrace"] < 0.5 * mse["hutch++"]


def test_error_estimate_has_the_right_size() -> None:
    A = decaying()
    exact = float(torch.trace(A))
    runs = [trace(A, 30, method="xtrace", seed=s) for s in range(100)]
    rmse = np.sqrt(np.mean([(r.estimate - exact) ** 2 for r in runs]))
    rms_stderr = np.sqrt(np.mean([r.stderr ** 2 for r in runs]))
    assert 0.5 < rms_stderr / rmse < 2.0


def test_exact_when_the_sketch_covers_the_range() -> None:
    gen = torch.Generator().manual_seed(9)
    U, _ = torch.linalg.qr(torch.randn(100, 5, dtype=torch.float64, generator=gen))
    B = U @ torch.diag(torch.arange(1.0, 6.0, dtype=torch.float64)) @ U.T  # rank 5 < 7 probes
    r = trace(B, 14, method="xtrace", seed=3)
    assert r.estimate == pytest.approx(15.0, rel=1e-10) and r.stderr < 1e-10
    assert r.sketch_trace == pytest.approx(15.0, rel=1e-10) and not r.exact


def test_exact_with_as_many_products_as_rows(problem: dict) -> None:
    H = HessianOperator(problem["model"], problem["loss_fn"], (problem["x"], problem["y"]))
    P = H.num_params
    r = trace(H, P + 5, method="xtrace", block_size=64)
    assert r.exact and r.stderr == 0.0 and r.num_matvecs == P == H.num_matvecs
    assert r.estimate == pytest.approx(float(torch.trace(problem["H"])), rel=1e-10)


def test_seeds_reproducible_and_recorded() -> None:
    A = MatrixOperator(decaying(n=60))
    a, b = trace(A, 20, method="xtrace", seed=7), trace(A, 20, method="xtrace", seed=7)
    np.testing.assert_array_equal(a.samples, b.samples)
    assert a.seed == 7 and A.num_matvecs == 40
    assert trace(A, 20, method="xtrace", seed=8).estimate != a.estimate
    back = TraceResult.from_arrays(*a.to_arrays())
    assert back.estimate == a.estimate and back.method == "xtrace" and not back.exact


def test_bad_arguments() -> None:
    A = torch.eye(20, dtype=torch.float64)
    with pytest.raises(ConfigError, match="num_matvecs >= 2"):
        trace(A, 1, method="xtrace")
    with pytest.raises(ConfigError, match="distribution"):
        trace(A, 10, method="xtrace", distribution="uniform")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="num_matvecs"):
        trace(A, -4, method="xtrace")
    with pytest.raises(ConfigError):
        trace(torch.ones(3, 4), 2, method="xtrace")
