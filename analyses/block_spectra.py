"""Blockwise Hessian spectra of a vision transformer and of a CNN (Zhang et al. 2024).

Zhang, Chen, Ding, Li, Sun, Luo, "Why Transformers Need Adam: A Hessian Perspective" (NeurIPS
2024) find that the spectral densities of the diagonal Hessian blocks of a transformer differ
strongly between block types (query, key, value, attention output, MLP, embedding, norm):
*block heterogeneity*, which they measure by the Jensen–Shannon distance between the densities
of every pair of blocks, while the layers of a CNN have similar spectra (*homogeneity*). This
analysis reproduces the qualitative finding on CPU-sized models:

- ``vit_tiny`` (:class:`landscape.models.ViT`, separate query/key/value/output projections),
  blocks by type (:func:`landscape.hessian.blocks.parameter_blocks` ``by="type"``), scaled
  down (``dim``, ``depth``, ``patch`` below) so that 8 block spectra fit a 2-core CPU;
- ``resnet20`` (He et al. 2016, option-A shortcuts), eight convolutional / linear layers spread
  over its depth, each a block.

Both are trained briefly with Adam on scikit-learn's digits upsampled to CIFAR's shape
(3 × 32 × 32, bilinear, the grey channel repeated), then in eval mode the SLQ density of every
block is measured on a fixed subset of the training data (:func:`block_spectra`), and the
pairwise JS distances are computed on a common grid (:func:`js_distances`).

Outputs (``--figures``): ``block_spectra.png`` (the densities, one panel per block, ViT above,
CNN below), ``block_spectra_js.png`` (the JS distance matrices, their mean in the titles) and
``block_spectra.md`` (the numbers).

The spectra are measured in float32 (densities, not eigenvalues to many digits, are the
point; float64 doubles the cost). The JS distances are taken on a symmetric-log eigenvalue
axis (:func:`js_distances` ``axis="symlog"``: scale and shape) and, as a check, on a linear one.

``--quick``: ViT dim 32, depth 2, patch 8; ResNet-20 width 8; 4 epochs; spectra on 64
samples with 2 probes × 16 Lanczos steps. Full: ViT dim 48, depth 3, heads 3, patch 4 (65
tokens); ResNet-20 width 16 (the paper's); 10 epochs; 128 samples, 2 probes × 32 steps. The
run times are in the ``.md`` file each run writes.

    python analyses/block_spectra.py [--quick] [--figures figures] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from landscape.data import load
from landscape.data._dataset import LabelledDataset
from landscape.hessian.blocks import BlockSpectra, block_spectra, js_distances, parameter_blocks
from landscape.hessian.plots import plot_density
from landscape.models import build
from landscape.objectives import get
from landscape.plot._style import plt, save
from landscape.train import TrainConfig, train

QUICK = {"vit": {"dim": 32, "depth": 2, "heads": 2, "patch": 8}, "cnn": {"width": 8},
         "epochs": 4, "samples": 64, "probes": 2, "steps": 16}
FULL = {"vit": {"dim": 48, "depth": 3, "heads": 3, "patch": 4}, "cnn": {"width": 16},
        "epochs": 10, "samples": 128, "probes": 2, "steps": 32}
CNN_LAYERS = ("conv1", "layer1.0.conv1", "layer1.2.conv2", "layer2.0.conv1", "layer2.2.conv2",
              "layer3.0.conv1", "layer3.2.conv2", "fc")


def digits32(split: str, seed: int) -> LabelledDataset:
    """scikit-learn's digits upsampled to 3 × 32 × 32 (CIFAR's shape)."""
    d = load("digits", split, seed=seed)
    x = F.interpolate(d.x, size=(32, 32), mode="bilinear", align_corners=False).repeat(1, 3, 1, 1)
    return LabelledDataset(x=x, y=d.y, y_clean=d.y_clean, index=d.index,
                           num_classes=d.num_classes, name=d.name, source=d.source)


def train_model(name: str, options: dict, data: LabelledDataset, test: LabelledDataset,
                epochs: int, seed: int) -> tuple[nn.Module, dict[str, float]]:
    model = build(name, (3, 32, 32), 10, seed=seed, **options)
    cfg = TrainConfig(epochs=epochs, batch_size=64, optimizer="adam", lr=1e-3, seed=seed)
    res = train(model, get("ce"), data, test, cfg, progress=False)
    h = res.history
    return res.model.eval(), {"train_acc": float(h["train_acc"][-1]),
                              "test_acc": float(h["test_acc"][-1]),
                              "train_loss": float(h["train_loss"][-1])}


def measure(model: nn.Module, blocks: dict[str, list[str]], data: LabelledDataset, n: int,
            probes: int, steps: int, seed: int) -> BlockSpectra:
    gen = torch.Generator().manual_seed(seed)
    rows = torch.randperm(len(data), generator=gen)[:n]
    batch = (data.x[rows], data.y[rows])
    return block_spectra(model, nn.CrossEntropyLoss(), batch, blocks=blocks,
                         num_probes=probes, num_steps=steps, seed=seed)


def figure_densities(vit: BlockSpectra, cnn: BlockSpectra, out: Path) -> Path:
    fig, axes = plt.subplots(4, 4, figsize=(13, 10.5), sharey=True)
    for row0, (spectra, model) in enumerate(((vit, "vit_tiny"), (cnn, "resnet20"))):
        for ax, label in zip(axes[2 * row0:2 * row0 + 2].flat, spectra.densities):
            plot_density(spectra.densities[label], ax)
            ax.set_title(f"{model}: {label}\n(P={spectra.num_params[label]:,})", fontsize=9)
            ax.tick_params(labelsize=8)
            ax.xaxis.label.set_size(8)
            ax.yaxis.label.set_size(8)
    for ax in axes[:, 1:].flat:
        ax.set_ylabel("")
    fig.suptitle("Hessian block spectra (SLQ densities, log scale): ViT blocks by type (rows 1-2) "
                 "and ResNet-20 layers (rows 3-4)", fontsize=11)
    fig.tight_layout()
    return save(fig, out)


def figure_js(vit: BlockSpectra, cnn: BlockSpectra, out: Path
              ) -> tuple[Path, tuple[float, float], tuple[float, float]]:
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.2))
    means = []
    for ax, (spectra, model) in zip(axes, ((vit, "vit_tiny"), (cnn, "resnet20"))):
        labels, d = js_distances(spectra.densities)
        mean = float(d[~np.eye(len(labels), dtype=bool)].mean())
        _, lin = js_distances(spectra.densities, axis="linear")
        means.append((mean, float(lin[~np.eye(len(labels), dtype=bool)].mean())))
        im = ax.imshow(d, vmin=0, vmax=1, cmap="viridis")
        ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        ax.set_title(f"{model}: JS distance between block densities (symlog axis)\n"
                     f"mean over pairs {mean:.3f}", fontsize=10)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="Jensen-Shannon distance")
    fig.tight_layout()
    return save(fig, out), means[0], means[1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small models and budget (minutes)")
    p.add_argument("--figures", default="figures")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    data, test = digits32("train", args.seed), digits32("test", args.seed)
    vit, vit_fit = train_model("vit_tiny", cfg["vit"], data, test, cfg["epochs"], args.seed)
    cnn, cnn_fit = train_model("resnet20", cfg["cnn"], data, test, cfg["epochs"], args.seed)
    t_train = time.perf_counter() - t0
    cnn_blocks = {k: v for k, v in parameter_blocks(cnn, "layer").items() if k in CNN_LAYERS}
    vit_spec = measure(vit, parameter_blocks(vit, "type"), data, cfg["samples"],
                       cfg["probes"], cfg["steps"], args.seed)
    cnn_spec = measure(cnn, cnn_blocks, data, cfg["samples"], cfg["probes"], cfg["steps"],
                       args.seed)
    t_hess = time.perf_counter() - t0 - t_train
    figs = Path(args.figures)
    stem = "block_spectra_quick" if args.quick else "block_spectra"
    f1 = figure_densities(vit_spec, cnn_spec, figs / f"{stem}.png")
    f2, js_vit, js_cnn = figure_js(vit_spec, cnn_spec, figs / f"{stem}_js.png")
    lines = [f"# Hessian block spectra ({'quick' if args.quick else 'full'})", "",
             f"Settings: {json.dumps(cfg)}; seed {args.seed}; training {t_train:.0f} s, "
             f"spectra {t_hess:.0f} s (2 shared CPU cores, one thread).", "",
             "| model | blocks | train acc | test acc | mean pairwise JS distance (symlog) "
             "| (linear axis) |", "|---|---|---|---|---|---|",
             f"| vit_tiny | {len(vit_spec.densities)} types | {vit_fit['train_acc']:.3f} | "
             f"{vit_fit['test_acc']:.3f} | {js_vit[0]:.3f} | {js_vit[1]:.3f} |",
             f"| resnet20 | {len(cnn_spec.densities)} layers | {cnn_fit['train_acc']:.3f} | "
             f"{cnn_fit['test_acc']:.3f} | {js_cnn[0]:.3f} | {js_cnn[1]:.3f} |", "",
             "| block | P | largest Ritz value |", "|---|---|---|"]
    for model, spec in (("vit_tiny", vit_spec), ("resnet20", cnn_spec)):
        for label, top in spec.top().items():
            lines.append(f"| {model}: {label} | {spec.num_params[label]:,} | {top:.4g} |")
    (figs / f"{stem}.md").write_text("\n".join(lines) + "\n")
    if not args.quiet:
        print("\n".join(lines))
    print(f"figures: {f1}, {f2}; mean JS distance (symlog) vit_tiny {js_vit[0]:.3f}, "
          f"resnet20 {js_cnn[0]:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
