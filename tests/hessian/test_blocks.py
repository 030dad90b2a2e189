"""Per-block spectra: block selection, each block's density against its dense block, JS
distances, and ``landscape hessian --blocks``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from landscape.errors import ConfigError
from landscape.hessian import spectral_density
from landscape.hessian.blocks import block_spectra, js_distances, parameter_blocks
from landscape.hessian.plots import plot_block_densities
from landscape.models import build
from tests.padded import dense_hessian, padded_batches, tagger


def test_transformer_block_types_and_cnn_layers() -> None:
    vit = build("vit_tiny", (3, 8, 8), 4, dim=8, depth=2, heads=2, patch=4)
    blocks = parameter_blocks(vit)
    assert list(blocks) == ["embedding", "norm", "query", "key", "value", "output", "mlp",
                            "head"]
    assert blocks["query"] == ["blocks.0.attn.query.weight", "blocks.0.attn.query.bias",
                               "blocks.1.attn.query.weight", "blocks.1.attn.query.bias"]
    assert sorted(blocks["embedding"]) == ["embed.cls", "embed.pos", "embed.proj.bias",
                                           "embed.proj.weight"]
    assert sum(len(v) for v in blocks.values()) == len(list(vit.parameters()))
    cnn = parameter_blocks(build("resnet20", (3, 8, 8), 4, width=4))
    assert list(cnn)[:3] == ["conv1", "bn1", "layer1.0.conv1"] and list(cnn)[-1] == "fc"
    assert len(cnn) == 19 + 19 + 1  # 19 convolutions, 19 BatchNorms, the classifier
    with pytest.raises(ConfigError, match="by"):
        parameter_blocks(vit, by="rows")  # type: ignore[arg-type]


def test_block_densities_have_the_dense_blocks_extreme_eigenvalues() -> None:
    model, batches = tagger(), padded_batches([[4, 2, 3], [1, 5]])
    names = [n for n, _ in model.named_parameters()]
    H = dense_hessian(model, batches)
    spectra = block_spectra(model, nn.CrossEntropyLoss(), batches, by="layer", num_probes=2,
                            num_steps=50, forward="padded_sequence")
    assert list(spectra.blocks) == ["inp", "ctx", "out"]
    for label, block in spectra.blocks.items():
        idx = [names.index(n) for n in block]
        sl = torch.cat([torch.arange(sum(p.numel() for p in list(model.parameters())[:i]),
                                     sum(p.numel() for p in list(model.parameters())[:i + 1]))
                        for i in idx])
        eig = torch.linalg.eigvalsh(H[sl][:, sl])
        assert spectra.num_params[label] == len(sl)
        assert spectra.top()[label] == pytest.approx(float(eig[-1]), rel=1e-8)
        assert float(np.nanmin(spectra.densities[label].nodes)) == \
            pytest.approx(float(eig[0]), abs=1e-8 * float(eig.abs().max()))
    assert 0.0 < spectra.heterogeneity() <= 1.0


def test_js_distances_zero_for_equal_spectra_and_grow_with_a_shift() -> None:
    a = spectral_density(torch.diag(torch.linspace(0, 1, 30, dtype=torch.float64)),
                         num_probes=2, num_steps=30)
    b = spectral_density(torch.diag(torch.linspace(0, 1, 30, dtype=torch.float64)),
                         num_probes=2, num_steps=30, seed=3)
    c = spectral_density(torch.diag(torch.linspace(5, 6, 30, dtype=torch.float64)),
                         num_probes=2, num_steps=30)
    labels, d = js_distances({"a": a, "b": b, "c": c})
    assert labels == ["a", "b", "c"] and np.allclose(d, d.T) and np.all(np.diag(d) == 0)
    assert d[0, 1] < 0.05 and d[0, 2] > 0.99  # disjoint supports: the maximum, 1
    fig = plot_block_densities({"a": a, "c": c}, num_params={"a": 30, "c": 30}, title="t")
    assert [ax.get_title() for ax in fig.axes] == ["a (P=30)", "c (P=30)"]


def test_cli_blocks_measures_stores_and_plots(tmp_path: Path, capsys) -> None:
    from landscape.cli import main
    from landscape.store import Study
    from landscape.store.measurements import list_variants

    out = tmp_path / "s.h5"
    assert main(["train", "--dataset", "gaussian-mixture", "--epochs", "1", "--width", "4",
                 "--out", str(out), "--run", "gm", "--quiet"]) == 0
    png = tmp_path / "b.png"
    argv = ["hessian", str(out), "--run", "gm", "--blocks", "layer", "--probes", "2",
            "--steps", "8", "--plot", str(png)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "hidden.0.linear: P=" in text and "heterogeneity" in text and png.stat().st_size
    with Study(out) as study:
        blocks = [v.settings["params"] for v in list_variants(study, "gm")
                  if v.measure == "hessian_density"]
    assert [b for b in sorted(sorted(b) for b in blocks) if b[0].startswith(("hidden.0.lin",
                                                                             "out"))] \
        == [["hidden.0.linear.bias", "hidden.0.linear.weight"], ["out.bias", "out.weight"]]
    assert main(argv) == 0
    assert "(stored)" in capsys.readouterr().out
