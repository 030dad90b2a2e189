"""Datasets and seeded dataset transforms; every loader returns a :class:`LabelledDataset`.

Sources: :func:`digits` (scikit-learn), :func:`fashion_mnist` (Debian ``dataset-fashion-mnist``),
:func:`mnist` and :func:`idx_dataset` (IDX files), :func:`cifar10` (python batches), and the
synthetic :func:`gaussian_mixture` and :func:`teacher_student`; :func:`load` picks one by name.
Nothing is ever downloaded. Transforms (:func:`symmetric_noise`, :func:`pairflip_noise`,
:func:`asymmetric_noise`, :func:`long_tail`, :func:`subset`) are pure and seeded, and record
themselves in ``transforms``, so :func:`apply_transforms` / :func:`rebuild` can reproduce a
dataset from its provenance.

Example:
    >>> from landscape.data import load, symmetric_noise, subset
    >>> train = symmetric_noise(load("digits", "train"), 0.2, seed=0)
    >>> probe = subset(train, 256, seed=0)
    >>> len(probe), [t["kind"] for t in probe.transforms]
    (256, ['symmetric_noise', 'subset'])
"""

from __future__ import annotations

from landscape.data._common import Split
from landscape.data._dataset import LabelledDataset
from landscape.data._registry import (
    DATASETS,
    DEFAULT_SYNTHETIC_SIZE,
    available,
    load,
    load_splits,
    rebuild,
)
from landscape.data.cifar10 import CIFAR10_CLASSES, CIFAR10_DEFAULT_DIR, cifar10
from landscape.data.digits import digits
from landscape.data.idx import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_DEFAULT_DIR,
    MNIST_DEFAULT_DIR,
    fashion_mnist,
    idx_dataset,
    mnist,
    read_idx,
)
from landscape.data.long_tail import Profile, long_tail, long_tail_counts
from landscape.data.noise import (
    CIFAR10_ASYMMETRIC_MAPPING,
    asymmetric_noise,
    pairflip_noise,
    symmetric_noise,
)
from landscape.data.subsets import subset
from landscape.data.synthetic import gaussian_mixture, teacher_student
from landscape.data.transforms import TRANSFORMS, apply_transforms

__all__ = [
    "CIFAR10_ASYMMETRIC_MAPPING", "CIFAR10_CLASSES", "CIFAR10_DEFAULT_DIR", "DATASETS",
    "DEFAULT_SYNTHETIC_SIZE", "FASHION_MNIST_CLASSES", "FASHION_MNIST_DEFAULT_DIR",
    "MNIST_DEFAULT_DIR", "TRANSFORMS", "LabelledDataset", "Profile", "Split", "apply_transforms",
    "asymmetric_noise", "available", "cifar10", "digits", "fashion_mnist", "gaussian_mixture",
    "idx_dataset", "load", "load_splits", "long_tail", "long_tail_counts", "mnist",
    "pairflip_noise", "read_idx", "rebuild", "subset", "symmetric_noise", "teacher_student",
]
