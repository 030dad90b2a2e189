"""Loading datasets by name, and rebuilding a dataset from its recorded description."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from landscape._names import unknown_name
from landscape.data._common import Split, check_split
from landscape.data._dataset import LabelledDataset
from landscape.data.cifar10 import cifar10
from landscape.data.digits import digits
from landscape.data.idx import fashion_mnist, idx_dataset, mnist
from landscape.data.session_csv import diginetica, yoochoose
from landscape.data.sessions import synthetic_sessions
from landscape.data.synthetic import gaussian_mixture, teacher_student
from landscape.data.transforms import apply_transforms
from landscape.errors import ConfigError, DataFormatError

PathLike = str | os.PathLike[str]

DEFAULT_SYNTHETIC_SIZE = 1000
"""Samples per split of the synthetic datasets when :func:`load` is given no ``n``."""


def _no_dir(name: str, data_dir: PathLike | None) -> None:
    if data_dir is not None:
        raise ConfigError(f"dataset {name!r} is not read from files; drop data_dir={data_dir!r}")


def _digits(split: Split, data_dir: PathLike | None, seed: int, **kw: Any) -> LabelledDataset:
    _no_dir("digits", data_dir)
    return digits(split, seed=seed, **kw)


def _idx(split: Split, data_dir: PathLike | None, seed: int, **kw: Any) -> LabelledDataset:
    if data_dir is None:
        raise ConfigError("dataset 'idx' needs data_dir (or --data-dir): the directory holding "
                          "the IDX files")
    return idx_dataset(data_dir, split, **kw)


def _gaussian(split: Split, data_dir: PathLike | None, seed: int, **kw: Any) -> LabelledDataset:
    _no_dir("gaussian-mixture", data_dir)
    return gaussian_mixture(kw.pop("n", DEFAULT_SYNTHETIC_SIZE), split=split, seed=seed, **kw)


def _teacher(split: Split, data_dir: PathLike | None, seed: int, **kw: Any) -> LabelledDataset:
    _no_dir("teacher-student", data_dir)
    return teacher_student(kw.pop("n", DEFAULT_SYNTHETIC_SIZE), split=split, seed=seed, **kw)


def _sessions(split: Split, data_dir: PathLike | None, seed: int, **kw: Any) -> LabelledDataset:
    _no_dir("synthetic-sessions", data_dir)
    return synthetic_sessions(split, seed=seed, **kw)


def _session_files(loader: Callable[..., LabelledDataset], name: str) -> Callable[..., Any]:
    def load_files(split: Split, data_dir: PathLike | None, seed: int, **kw: Any
                   ) -> LabelledDataset:
        if data_dir is None:
            raise ConfigError(f"dataset {name!r} needs data_dir (or --data-dir): the folder "
                              "holding its click log")
        return loader(split, data_dir, **kw)
    return load_files


_Loader = Callable[..., LabelledDataset]

# name -> (loader, extra keyword arguments it accepts, description)
_LOADERS: dict[str, tuple[_Loader, tuple[str, ...], str]] = {
    "digits": (_digits, ("test_fraction",),
               "scikit-learn 8×8 digits, 1797 images, seeded stratified 75/25 split"),
    "fashion-mnist": (lambda split, data_dir, seed: fashion_mnist(split, data_dir=data_dir), (),
                      "Fashion-MNIST, 60 000 / 10 000 28×28 images (Debian dataset-fashion-mnist)"),
    "mnist": (lambda split, data_dir, seed: mnist(split, data_dir=data_dir), (),
              "MNIST, 60 000 / 10 000 28×28 images, from IDX files you provide"),
    "idx": (_idx, ("name", "num_classes", "split_prefixes"),
            "any image dataset stored as MNIST-style IDX files in data_dir"),
    "cifar10": (lambda split, data_dir, seed: cifar10(split, data_dir=data_dir), (),
                "CIFAR-10, 50 000 / 10 000 32×32 colour images, python batches you provide"),
    "gaussian-mixture": (_gaussian, ("n", "dim", "num_classes", "separation"),
                         "isotropic Gaussian mixture with means on a circle (synthetic)"),
    "teacher-student": (_teacher, ("n", "dim", "num_classes", "hidden"),
                        "Gaussian inputs labelled by a random tanh teacher network (synthetic)"),
    "synthetic-sessions": (_sessions, ("num_sessions", "num_items", "num_clusters", "num_users",
                                       "mean_length", "popularity_exponent", "stay",
                                       "test_fraction", "max_length"),
                           "seeded click sessions (interest mixtures, Markov transitions, Zipf "
                           "popularity); next-item targets (synthetic)"),
    "diginetica": (_session_files(diginetica, "diginetica"), ("fraction", "max_length"),
                   "DIGINETICA click sessions (train-item-views.csv you provide), SR-GNN split"),
    "yoochoose": (_session_files(yoochoose, "yoochoose"), ("fraction", "max_length"),
                  "YOOCHOOSE click sessions (yoochoose-clicks.dat you provide), 1/64 by default"),
}

DATASETS: Mapping[str, str] = MappingProxyType({k: v[2] for k, v in _LOADERS.items()})
"""Every name :func:`load` knows, with a one-line description."""


def available() -> tuple[str, ...]:
    """The names :func:`load` knows, sorted.

    Example:
        >>> "digits" in available()
        True
    """
    return tuple(sorted(_LOADERS))


def _canonical_name(name: str) -> str:
    key = str(name).strip().lower().replace("_", "-")
    if key not in _LOADERS:
        raise unknown_name("dataset", name, available())
    return key


def load(name: str, /, split: Split = "train", *, data_dir: PathLike | None = None, seed: int = 0,
         **kwargs: Any) -> LabelledDataset:
    """Load the ``split`` of the dataset called ``name`` (one of :data:`DATASETS`).

    Args:
        name: ``"digits"``, ``"fashion-mnist"``, ``"mnist"``, ``"idx"``, ``"cifar10"``,
            ``"gaussian-mixture"`` or ``"teacher-student"`` (underscores work too);
            positional-only, so ``name=`` is free for the ``idx`` loader.
        split: ``"train"`` or ``"test"``.
        data_dir: directory of a file-based dataset (required for ``"idx"``; the others have a
            default, see their loaders); must be ``None`` for digits and the synthetic ones.
        seed: seed of the train/test split (digits) or of the task and samples (synthetic);
            ignored by the datasets with an official split.
        **kwargs: further arguments of the loader (``test_fraction``; ``name``, ``num_classes``,
            ``split_prefixes`` for idx; ``n`` (default :data:`DEFAULT_SYNTHETIC_SIZE`), ``dim``,
            ``num_classes``, ``separation`` / ``hidden`` for the synthetic datasets).

    Raises:
        ConfigError: unknown name, split or keyword argument.
        DataNotFoundError: the files are missing (the message says how to get them).

    Example:
        >>> ds = load("gaussian-mixture", "test", seed=3, n=50, dim=4)
        >>> ds.name, ds.x.shape
        ('gaussian-mixture/test', torch.Size([50, 4]))
    """
    key = _canonical_name(name)
    loader, accepted, _ = _LOADERS[key]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ConfigError(f"dataset {key!r} takes no argument(s) {unknown}; it accepts "
                          f"{['data_dir', 'seed', *accepted]}")
    return loader(check_split(split), data_dir, seed, **kwargs)


def load_splits(name: str, /, **kwargs: Any) -> tuple[LabelledDataset, LabelledDataset]:
    """``(train, test)`` of the dataset called ``name``: :func:`load` with the same arguments.

    Example:
        >>> train, test = load_splits("digits", seed=1)
        >>> len(train) + len(test)
        1797
    """
    return load(name, "train", **kwargs), load(name, "test", **kwargs)


def rebuild(description: Mapping[str, Any], *,
            data_dir: PathLike | None = None) -> LabelledDataset:
    """Rebuild a dataset from its :meth:`~LabelledDataset.describe` output (its provenance).

    Loads the source recorded in ``description["source"]`` (``data_dir`` replaces the recorded
    directory, e.g. on another machine; without it a recorded directory that does not exist here
    is dropped, so the loader's environment variable, e.g. ``LANDSCAPE_FASHION_MNIST_DIR``, or
    its default applies), re-applies ``description["transforms"]`` with
    :func:`apply_transforms`, and checks the dataset id, size and ``indices_sha256``.

    Raises:
        ConfigError: the description lacks the source fields, or a transform record is invalid.
        DataFormatError: the rebuilt dataset differs from the description.

    Example:
        >>> from landscape.data import subset
        >>> original = subset(load("digits", seed=4), 64, seed=0)
        >>> bool((rebuild(original.describe()).index == original.index).all())
        True
    """
    source = description.get("source") or {}
    if "dataset" not in source or "split" not in source:
        raise ConfigError("description has no source with 'dataset' and 'split' to rebuild from")
    params = dict(source.get("params", {}))
    if data_dir is not None:
        params["data_dir"] = data_dir
    elif params.get("data_dir") and not Path(str(params["data_dir"])).expanduser().is_dir():
        del params["data_dir"]  # moved to another machine: resolve it as a fresh load would
    ds = apply_transforms(load(source["dataset"], source["split"], **params),
                          description.get("transforms", ()))
    got = ds.describe()
    for key in ("dataset_id", "num_samples", "indices_sha256"):
        if key in description and description[key] != got[key]:
            raise DataFormatError(f"rebuilt dataset has {key}={got[key]!r} but the description "
                                  f"says {description[key]!r}")
    return ds
