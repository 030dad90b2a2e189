"""Memorisation of noisy labels on digits, cross-entropy against MSE.

Trains the demo's MLP (64-64-64-10) on scikit-learn's digits with a fraction η of each class's
training labels flipped to another class (symmetric noise), under cross-entropy and MSE, and plots
at the end of training: accuracy on the noisy training labels (memorisation), on the clean training
labels, and on the test set, against η. Every run goes into one study file, so rerunning skips what
is done and resumes what was interrupted.

    python analyses/label_noise_digits.py [--quick] [--out results/label_noise.h5]
        [--figure figures/label_noise_digits.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from landscape.data import load_splits, symmetric_noise
from landscape.models import build
from landscape.objectives import get
from landscape.plot import save
from landscape.plot._style import plt
from landscape.train import TrainConfig, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two noise rates, few epochs")
    parser.add_argument("--out", default="results/label_noise.h5")
    parser.add_argument("--figure", default="figures/label_noise_digits.png")
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args()
    rates = [0.0, 0.4] if args.quick else [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    epochs = 10 if args.quick else 150
    seeds = range(1 if args.quick else args.seeds)
    train_clean, test = load_splits("digits", seed=0)
    objectives = ("ce", "mse")
    acc = {(o, k): np.full((len(rates), len(seeds)), np.nan)
           for o in objectives for k in ("noisy", "clean", "test")}
    for i, rate in enumerate(rates):
        noisy = symmetric_noise(train_clean, rate, seed=0) if rate > 0 else train_clean
        for obj in objectives:
            for s in seeds:
                model = build("mlp", noisy.input_shape, noisy.num_classes, seed=s, depth=2,
                              width=64)
                config = TrainConfig(epochs=epochs, batch_size=64, lr=0.05, seed=s)
                h = train(model, get(obj), noisy, test, config, study=args.out,
                          run=f"{obj}-eta{rate:.2f}-seed{s}-e{epochs}").history
                acc[obj, "noisy"][i, s] = h["train_acc"][-1]
                acc[obj, "clean"][i, s] = h["train_acc_clean"][-1]
                acc[obj, "test"][i, s] = h["test_acc"][-1]
                print(f"eta={rate:.2f} {obj:3s} seed {s}: train(noisy) {h['train_acc'][-1]:.3f}"
                      f"  train(clean) {h['train_acc_clean'][-1]:.3f}  test "
                      f"{h['test_acc'][-1]:.3f}")
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8), sharey=True)
    titles = {"noisy": "train, noisy labels (memorisation)", "clean": "train, clean labels",
              "test": "test"}
    for ax, kind in zip(axes, ("noisy", "clean", "test")):
        for obj, marker in zip(objectives, ("o", "s")):
            a = acc[obj, kind]
            ax.errorbar(rates, a.mean(1), yerr=a.std(1) if a.shape[1] > 1 else None,
                        marker=marker, capsize=3, label=obj)
        ax.set(title=titles[kind], xlabel="label noise rate η")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy at the end of training")
    axes[0].plot(rates, 1 - np.asarray(rates), "k:", lw=1, label="1 − η")
    axes[0].legend()
    fig.suptitle(f"digits MLP 64-64-64-10, {epochs} epochs, symmetric label noise, "
                 f"{len(seeds)} seed(s)")
    fig.tight_layout()
    print(f"figure: {save(fig, Path(args.figure))}")


if __name__ == "__main__":
    main()
