"""End to end: the spectrum of a stored run (``landscape hessian`` and the Hessian measures),
stored and reloaded, against a dense Hessian."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from landscape.cli import main
from landscape.compare import MeasureConfig, measure_minimum
from landscape.store import Study, load_model, load_run_data
from landscape.store.measurements import list_variants


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


SPECTRUM = {"hessian_top": {"k": 3, "tol": 1e-8}, "hessian_bottom": {"k": 2, "tol": 1e-8},
            "hessian_trace": {"num_matvecs": 30}, "hessian_density": {"num_probes": 4,
                                                                     "num_steps": 12}}


def test_stored_spectrum_matches_the_dense_hessian(trained: Path) -> None:
    dense = np.linalg.eigvalsh(_dense_hessian(trained, "r"))
    m = measure_minimum(trained, "r", measures=list(SPECTRUM), settings=SPECTRUM,
                        config=MeasureConfig(), dtype="float64")
    assert m.recomputed == tuple(SPECTRUM)
    s = m.spectrum
    np.testing.assert_allclose(s.top.eigenvalues, dense[::-1][:3], rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(s.bottom.eigenvalues, dense[:2], rtol=1e-6, atol=1e-10)
    assert abs(s.trace.estimate - dense.sum()) < 4 * s.trace.stderr + 1e-9
    again = measure_minimum(trained, "r", measures=list(SPECTRUM), settings=SPECTRUM,
                            dtype="float64")
    assert again.recomputed == ()
    np.testing.assert_array_equal(again.spectrum.top.eigenvalues, s.top.eigenvalues)
    assert again.spectrum.density.alphas.shape == (4, 12)


def test_cli_block_two_settings_coexist_and_errors(trained: Path, tmp_path: Path,
                                                    capsys) -> None:
    png = tmp_path / "h.png"
    assert main(["hessian", str(trained), "--run", "r", "--topk", "2", "--params", "out.*",
                 "--plot", str(png)]) == 0
    text = capsys.readouterr().out
    assert "computed hessian_top" in text and png.stat().st_size > 5_000
    # the top-4 of the same block is another result: both stay, each read back by its k
    assert main(["hessian", str(trained), "--run", "r", "--topk", "4", "--params", "out.*",
                 "--plot", str(png)]) == 0
    assert main(["hessian", str(trained), "--run", "r", "--topk", "2", "--params", "out.*",
                 "--plot", str(png)]) == 0
    assert "computed nothing (all stored)" in capsys.readouterr().out
    with Study(trained) as study:
        ks = sorted(v.settings["k"] for v in list_variants(study, "r")
                    if v.measure == "hessian_top" and v.settings["params"] == "out.*")
    assert ks == [2, 4]
    # the default figure goes beside the study, never into the repository's figures/
    assert main(["hessian", str(trained), "--run", "r", "--topk", "2", "--params", "out.*"]) == 0
    assert (trained.parent / "s-r-hessian.png").is_file()
    assert main(["hessian", str(trained), "--run", "r", "--topk", "0"]) == 2
    assert "nothing to measure" in capsys.readouterr().err
    assert main(["hessian", str(trained), "--run", "nope"]) == 2
