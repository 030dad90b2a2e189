"""Long-tail objectives on long-tailed Fashion-MNIST (exponential profile, imbalance 100).

Subsamples the Fashion-MNIST training set to exponentially decaying class sizes
n_c = n_max·100^(−c/9) and trains one MLP (784-256-256-10, BatchNorm, ReLU) with the same
optimiser and budget under cross-entropy, the logit-adjusted loss (τ = 1), and GCL (stage 1 with
the perturbed cosine logits, then the last epochs re-train the head on a class-balanced sampler
with the backbone frozen); post-hoc logit adjustment (τ = 1) is applied to the cross-entropy
models. Reports the balanced accuracy on the (balanced) test set, mean ± std over seeds with the
training time per run, and plots the per-class recall from head to tail. BatchNorm is on for
every method: without it GCL's scaled cosine logits (s = 30) do not train at lr 0.05 (balanced
accuracy 0.10 in the quick version) and its stage 2 collapses. Every run goes into one study
file, so rerunning skips what is done and resumes what was interrupted.

    python analyses/objectives_long_tail.py [--quick] [--seeds 3]
        [--out results/objectives_long_tail.h5] [--figure figures/objectives_long_tail.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from torch import nn

from landscape.data import LabelledDataset, load_splits, long_tail, subset
from landscape.models import build
from landscape.objectives import Objective, balanced_accuracy, get, posthoc_logit_adjustment
from landscape.plot import save
from landscape.plot._style import plt
from landscape.train import TrainConfig, train

IMBALANCE = 100.0
METHODS = ("CE", "CE + post-hoc LA", "logit_adjusted", "GCL")


@torch.no_grad()
def logits_of(objective: Objective, model: nn.Module, data: LabelledDataset) -> torch.Tensor:
    """Evaluation logits (the objective's ``eval_logits``: unperturbed, unadjusted) of ``data``."""
    model.eval()
    return torch.cat([objective.eval_logits(model, data.x[i:i + 4096])
                      for i in range(0, len(data), 4096)])


def recall(logits: torch.Tensor, targets: torch.Tensor, num_classes: int) -> np.ndarray:
    pred = logits.argmax(1)
    return np.array([float((pred[targets == c] == c).double().mean()) for c in range(num_classes)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="from a 5000-sample subset (n_max 500), 2000 test samples, 12 epochs")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", default="results/objectives_long_tail.h5")
    parser.add_argument("--figure", default="figures/objectives_long_tail.png")
    args = parser.parse_args()
    epochs, stage2 = (12, 3) if args.quick else (60, 10)
    full_train, full_test = load_splits("fashion-mnist")
    source = subset(full_train, 5000, seed=0) if args.quick else full_train
    test = subset(full_test, 2000, seed=0) if args.quick else full_test
    lt = long_tail(source, IMBALANCE, profile="exp", seed=0)
    counts = lt.class_counts.tolist()
    print(f"long-tailed training set: {len(lt)} samples, class counts {counts}")
    seeds = range(args.seeds)
    runs = {"ce": ("ce", {}), "logit_adjusted": ("logit_adjusted",
                                                 {"class_counts": counts, "tau": 1.0}),
            "gcl": ("gcl", {"class_counts": counts, "stage1_epochs": epochs - stage2})}
    bacc = {m: np.full(len(seeds), np.nan) for m in METHODS}
    secs = {m: np.full(len(seeds), np.nan) for m in METHODS}
    recalls: dict[str, list[np.ndarray]] = {m: [] for m in METHODS}
    for key, (name, params) in runs.items():
        for s in seeds:
            model = build("mlp", lt.input_shape, lt.num_classes, seed=s, depth=2, width=256,
                          batchnorm=True)
            config = TrainConfig(epochs=epochs, batch_size=128, lr=0.05, seed=s)
            objective = get(name, **params)
            result = train(model, objective, lt, test, config, study=args.out,
                           run=f"{name}-bn-n{len(lt)}-if{IMBALANCE:g}-seed{s}-e{epochs}")
            seconds = float(np.nansum(result.history["epoch_seconds"]))
            z = logits_of(objective, result.model, test)
            outputs = {"ce": {"CE": z, "CE + post-hoc LA": posthoc_logit_adjustment(z, counts)},
                       "logit_adjusted": {"logit_adjusted": z}, "gcl": {"GCL": z}}[key]
            for method, logits in outputs.items():
                bacc[method][s] = balanced_accuracy(logits, test.y_clean, test.num_classes)
                secs[method][s] = seconds
                recalls[method].append(recall(logits, test.y_clean, test.num_classes))
                print(f"{method:17s} seed {s}: balanced test acc {bacc[method][s]:.4f}  "
                      f"({seconds:.1f} s)")

    print(f"\nlong-tailed Fashion-MNIST (exp, IF {IMBALANCE:g}, {len(lt)} samples), MLP "
          f"784-256-256-10 (BatchNorm), {epochs} epochs, {len(seeds)} seed(s): "
          "balanced test accuracy")
    print(f"{'method':17s} {'balanced acc (mean ± std)':>26s} {'s/run (mean)':>13s}")
    for m in METHODS:
        a = bacc[m]
        print(f"{m:17s} {a.mean():>17.4f} ± {a.std(ddof=1) if len(a) > 1 else 0:.4f} "
              f"{secs[m].mean():>13.1f}")
    print("(post-hoc LA reuses the CE runs, so its time is theirs)")

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for i, m in enumerate(METHODS):
        r = np.stack(recalls[m])
        axes[0].plot(np.arange(lt.num_classes), r.mean(0), marker="o", color=f"C{i}", label=m)
    ax2 = axes[0].twinx()
    ax2.bar(np.arange(lt.num_classes), counts, color="0.85", zorder=0)
    ax2.set(yscale="log", ylabel="training samples (bars)")
    axes[0].set_zorder(ax2.get_zorder() + 1)
    axes[0].patch.set_visible(False)
    axes[0].set(xlabel="class (head → tail)", ylabel="test recall (mean over seeds)",
                title="per-class recall")
    axes[0].legend(fontsize=8)
    means = [bacc[m].mean() for m in METHODS]
    stds = [bacc[m].std(ddof=1) if len(seeds) > 1 else 0 for m in METHODS]
    axes[1].bar(range(len(METHODS)), means, yerr=stds, capsize=4, color="C0")
    axes[1].set_xticks(range(len(METHODS)), METHODS, rotation=15, fontsize=8)
    axes[1].set(ylabel="balanced test accuracy", title="mean ± std",
                ylim=(min(means) - 0.05, min(1.0, max(means) + 0.03)))
    axes[1].grid(alpha=0.3, axis="y")
    fig.suptitle(f"long-tailed Fashion-MNIST (exp, imbalance {IMBALANCE:g}), {epochs} epochs, "
                 f"{len(seeds)} seed(s)")
    fig.tight_layout()
    print(f"figure: {save(fig, Path(args.figure))}")


if __name__ == "__main__":
    main()
