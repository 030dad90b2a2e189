"""End to end: the spectrum of a stored run, stored and reloaded, against a dense Hessian."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from landscape.cli import main
from landscape.errors import ConfigError
from landscape.hessian.study import measure_spectrum
from landscape.store import Study, load_model, load_run_data


def _dense_hessian(path: Path, run: str) -> np.ndarray:
    model = load_model(path, run, dtype=torch.float64)
    data = load_run_data(path, run)
    x, y = data.x.double(), data.y
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    sizes = [p.numel() for _, p in model.named_parameters()]
    flat0 = torch.cat([p.detach().reshape(-1) for _, p in model.named_parameters()])

    def loss(flat: torch.Tensor) -> torch.Tensor:
        params = {n: t.reshape(s) for n, t, s in zip(names, flat.split(sizes), shapes)}
        logits = torch.func.functional_call(model, params, (x,))
        return torch.nn.functional.cross_entropy(logits, y)

    return torch.autograd.functional.hessian(loss, flat0).numpy()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("h") / "s.h5"
    assert main(["train", "--dataset", "gaussian-mixture", "--width", "6", "--depth", "1",
                 "--epochs", "3", "--out", str(path), "--run", "r", "--quiet"]) == 0
    return path


def test_stored_spectrum_matches_the_dense_hessian(trained: Path, tmp_path: Path) -> None:
    dense = np.linalg.eigvalsh(_dense_hessian(trained, "r"))
    m = measure_spectrum(trained, "r", topk=3, bottomk=2, tol=1e-8, trace_matvecs=30,
                         num_probes=4, num_steps=12, dtype=torch.float64)
    assert m.recomputed == ("top", "bottom", "trace", "density")
    np.testing.assert_allclose(m.top.eigenvalues, dense[::-1][:3], rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(m.bottom.eigenvalues, dense[:2], rtol=1e-6, atol=1e-10)
    assert abs(m.trace.estimate - dense.sum()) < 4 * m.trace.stderr + 1e-9
    again = measure_spectrum(trained, "r", topk=3, bottomk=2, tol=1e-8, trace_matvecs=30,
                             num_probes=4, num_steps=12, dtype=torch.float64)
    assert again.recomputed == ()
    np.testing.assert_array_equal(again.top.eigenvalues, m.top.eigenvalues)
    with Study(trained) as study:
        group = study.run("r")["measurements/hessian"]
        assert {"top", "bottom", "trace", "density", "density_smoothed", "indices"} <= set(group)
        assert group["density/alphas"].shape == (4, 12)


def test_cli_block_and_errors(trained: Path, tmp_path: Path, capsys) -> None:
    png = tmp_path / "h.png"
    assert main(["hessian", str(trained), "--run", "r", "--topk", "2", "--params", "out.*",
                 "--name", "head", "--plot", str(png)]) == 0
    text = capsys.readouterr().out
    assert "P=14 parameters" in text and png.stat().st_size > 5_000  # out: 6*2 + 2
    with pytest.raises(ConfigError, match="nothing to measure"):
        measure_spectrum(trained, "r")
    assert main(["hessian", str(trained), "--run", "nope"]) == 2
