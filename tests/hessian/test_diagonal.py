"""Hutchinson and XDiag diagonal estimators and per-block traces, against dense float64
Hessians and matrices with a known diagonal."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from landscape.errors import ConfigError
from landscape.hessian import DiagonalResult, HessianOperator, MatrixOperator, diagonal
from tests.hessian.test_trace_xtrace import decaying

METHODS = ["hutchinson", "xdiag"]


def _operator(problem: dict) -> HessianOperator:
    return HessianOperator(problem["model"], problem["loss_fn"], (problem["x"], problem["y"]))


def _block_traces(problem: dict, H: HessianOperator) -> dict[str, float]:
    d = problem["H"].diagonal()
    parts = H.unflatten(d)
    return {n: float(t.sum()) for n, t in parts.items()}


@pytest.mark.parametrize("method", METHODS)
def test_unbiased_on_a_network_hessian(problem: dict, method: str) -> None:
    H = _operator(problem)
    exact = problem["H"].diagonal().numpy()
    runs = [diagonal(H, 40, method=method, seed=s) for s in range(30)]
    est = np.stack([r.estimate for r in runs])
    z = (est.mean(0) - exact) / (est.std(0, ddof=1) / np.sqrt(len(runs))).clip(1e-300)
    assert np.mean(z ** 2) < 1.6 and np.abs(z).max() < 6
    # the per-block traces of one run lie within a few of their stderr of the exact ones
    blocks = runs[0].per_block()
    assert blocks.names == tuple(H.param_names)
    exact_blocks = _block_traces(problem, H)
    for n, (t, se) in blocks.as_dict().items():
        assert abs(t - exact_blocks[n]) <= 4 * se + 1e-12
    assert runs[0].num_matvecs == 40


@pytest.mark.parametrize("method", METHODS)
def test_block_traces_unbiased_over_seeds(problem: dict, method: str) -> None:
    H = _operator(problem)
    exact_blocks = _block_traces(problem, H)
    runs = [diagonal(H, 20, method=method, seed=s).per_block("layer") for s in range(30)]
    assert runs[0].names == ("0", "2", "4")
    assert runs[0].sizes.tolist() == [6 * 16 + 16, 16 * 16 + 16, 16 * 4 + 4]
    est = np.stack([r.estimate for r in runs])
    for j, mod in enumerate(runs[0].names):
        truth = exact_blocks[f"{mod}.weight"] + exact_blocks[f"{mod}.bias"]
        assert abs(est[:, j].mean() - truth) <= 3.5 * est[:, j].std(ddof=1) / np.sqrt(30)


def test_blocks_by_type_from_parameter_blocks(problem: dict) -> None:
    from landscape.hessian.blocks import parameter_blocks

    H = _operator(problem)
    r = diagonal(H, H.num_params, method="xdiag", block_size=128)  # exact
    groups = parameter_blocks(problem["model"], by="type")
    typed = r.per_block(groups).as_dict()
    assert list(typed) == ["linear"]
    assert typed["linear"][0] == pytest.approx(float(torch.trace(problem["H"])), rel=1e-10)
    assert r.per_block("layer").names == tuple(parameter_blocks(problem["model"], by="layer"))


def test_xdiag_exact_with_as_many_products_as_rows(problem: dict) -> None:
    H = _operator(problem)
    P = H.num_params
    r = diagonal(H, P, method="xdiag", block_size=64)
    assert r.exact and r.num_matvecs == P == H.num_matvecs
    np.testing.assert_allclose(r.estimate, problem["H"].diagonal().numpy(), rtol=1e-10,
                               atol=1e-12)
    assert (r.stderr == 0).all()
    blocks = r.per_block().as_dict()
    for n, t in _block_traces(problem, H).items():
        assert blocks[n][0] == pytest.approx(t, rel=1e-10, abs=1e-12) and blocks[n][1] == 0


def test_xdiag_exact_when_the_sketch_covers_the_range() -> None:
    gen = torch.Generator().manual_seed(2)
    U, _ = torch.linalg.qr(torch.randn(90, 4, dtype=torch.float64, generator=gen))
    B = U @ torch.diag(torch.tensor([5.0, -2.0, 1.0, 0.5], dtype=torch.float64)) @ U.T
    r = diagonal(B, 12, method="xdiag", seed=1)  # 6 probes > rank 4 + 1
    np.testing.assert_allclose(r.estimate, B.diagonal().numpy(), atol=1e-12)
    assert r.stderr.max() < 1e-12 and not r.exact


def test_hutchinson_exact_for_a_diagonal_matrix() -> None:
    D = torch.diag(torch.linspace(-1.0, 3.0, 30, dtype=torch.float64))
    r = diagonal(D, 4, method="hutchinson", block_size=3)  # ω ⊙ Dω = diag(D) for signs
    np.testing.assert_allclose(r.estimate, D.diagonal().numpy(), atol=1e-15)
    assert r.stderr.max() < 1e-15 and r.block_samples.shape == (4, 1)


@pytest.mark.parametrize("method", METHODS)
def test_error_estimates_have_the_right_size(method: str) -> None:
    A = decaying(n=100)
    exact = A.diagonal().numpy()
    runs = [diagonal(A, 30, method=method, seed=s, blocks={"a": 40, "b": 60})
            for s in range(80)]
    err = np.stack([r.estimate - exact for r in runs])
    se = np.stack([r.stderr for r in runs])
    ratio = np.sqrt((se ** 2).mean(0)) / np.sqrt((err ** 2).mean(0))
    assert 0.5 < np.median(ratio) < 2.0
    truth = np.array([exact[:40].sum(), exact[40:].sum()])
    berr = np.stack([r.per_block().estimate - truth for r in runs])
    bse = np.stack([r.per_block().stderr for r in runs])
    bratio = np.sqrt((bse ** 2).mean(0)) / np.sqrt((berr ** 2).mean(0))
    assert ((bratio > 0.5) & (bratio < 2.0)).all()


def test_xdiag_beats_hutchinson_on_a_decaying_spectrum() -> None:
    A = decaying(n=100)
    exact = A.diagonal().numpy()
    err = {m: np.median([np.linalg.norm(diagonal(A, 40, method=m, seed=s).estimate - exact)
                         for s in range(20)]) for m in METHODS}
    assert err["xdiag"] < 0.3 * err["hutchinson"]


@pytest.mark.parametrize("method", METHODS)
def test_seeds_reproducible_and_round_trip(method: str) -> None:
    A = MatrixOperator(decaying(n=50))
    a = diagonal(A, 16, method=method, seed=5, block_size=4)
    b = diagonal(A, 16, method=method, seed=5, block_size=16)  # blocking changes nothing
    np.testing.assert_allclose(a.estimate, b.estimate, rtol=1e-12, atol=1e-15)
    assert not np.array_equal(diagonal(A, 16, method=method, seed=6).estimate, a.estimate)
    back = DiagonalResult.from_arrays(*a.to_arrays())
    np.testing.assert_array_equal(back.estimate, a.estimate)
    np.testing.assert_array_equal(back.block_samples, a.block_samples)
    assert back.names == ("all",) and back.method == method and back.seed == 5


def test_bad_arguments() -> None:
    A = torch.eye(10, dtype=torch.float64)
    bad = [dict(method="xtrace"), dict(distribution="sphere"), dict(num_matvecs=0),
           dict(method="xdiag", num_matvecs=1), dict(blocks={"a": 3, "b": 3}),
           dict(blocks={}), dict(blocks={"a": 0, "b": 10}), dict(block_size=0)]
    for kwargs in bad:
        with pytest.raises(ConfigError):
            diagonal(A, **{"num_matvecs": 4, **kwargs})  # type: ignore[arg-type]
    r = diagonal(A, 4)
    for by in ("module", {}, {"x": ["nope"]}, {"x": ["all"], "y": ["all"]}):
        with pytest.raises(ConfigError, match=r"by must be|not among|repeats"):
            r.per_block(by)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        diagonal(torch.ones(2, 3), 4)


def test_docstring_examples() -> None:
    import doctest
    import importlib

    # the package's functions shadow their modules' names: import the modules themselves
    for name in ("landscape.hessian.diagonal", "landscape.hessian.trace"):
        mod = importlib.import_module(name)
        result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
        assert result.attempted > 0 and result.failed == 0


def test_stored_in_a_study_file(tmp_path) -> None:
    from landscape.store import Study
    from landscape.store.results import load_result, save_result

    r = diagonal(decaying(n=30), 10, method="xdiag", blocks={"w": 20, "b": 10}, seed=2)
    with Study(tmp_path / "s.h5", "a") as study:
        save_result(study.create_run("r", {}).require_group("measurements"), "diag", r)
    with Study(tmp_path / "s.h5") as study:
        back = load_result(study.file["runs/r/measurements/diag"])
    assert isinstance(back, DiagonalResult) and back.names == ("w", "b")
    np.testing.assert_array_equal(back.per_block().estimate, r.per_block().estimate)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_same_numbers_on_cuda(problem: dict) -> None:
    """Probes are drawn on the CPU, the sketch's algebra runs in float64 on the operator's
    device: the CUDA estimates equal the CPU ones to round-off."""
    from landscape.hessian import trace

    A = problem["H"]
    for method in METHODS:
        cpu = diagonal(A, 40, method=method, seed=1)
        gpu = diagonal(A.cuda(), 40, method=method, seed=1)
        np.testing.assert_allclose(gpu.estimate, cpu.estimate, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(gpu.block_samples, cpu.block_samples, rtol=1e-9)
    t_cpu = trace(A, 40, method="xtrace", seed=1)
    t_gpu = trace(A.cuda(), 40, method="xtrace", seed=1)
    assert t_gpu.estimate == pytest.approx(t_cpu.estimate, rel=1e-9)
