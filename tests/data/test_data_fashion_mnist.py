"""Fashion-MNIST from the Debian package files, and the missing-file messages of the IDX sources."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from landscape.data import FASHION_MNIST_DEFAULT_DIR, fashion_mnist, mnist
from landscape.errors import DataNotFoundError
from tests.helpers import FASHION_MNIST_INSTALL as APT_HINT
from tests.helpers import FASHION_MNIST_SKIP

needs_files = pytest.mark.skipif(
    not FASHION_MNIST_DEFAULT_DIR.is_dir(),
    reason=f"{FASHION_MNIST_SKIP} ({FASHION_MNIST_DEFAULT_DIR} absent)")


@pytest.fixture(scope="module")
def real():
    return fashion_mnist("train", data_dir=FASHION_MNIST_DEFAULT_DIR), fashion_mnist("test")


@needs_files
def test_official_split_sizes_and_class_counts(real):
    train, test = real
    assert (len(train), len(test)) == (60000, 10000)
    assert train.class_counts.tolist() == [6000] * 10
    assert test.class_counts.tolist() == [1000] * 10
    assert train.x.shape == (60000, 1, 28, 28) and train.x.dtype == torch.float32
    assert (train.name, test.name) == ("fashion-mnist/train", "fashion-mnist/test")
    assert torch.equal(train.index, torch.arange(60000))


@needs_files
def test_pixel_values(real):
    train, _ = real
    assert float(train.x.min()) == 0.0 and float(train.x.max()) == 1.0
    assert abs(float(train.x.double().mean()) * 255 - 72.94) < 0.01  # 72.9404
    assert np.all(np.rint(train.x[:50].numpy() * 255) / 255 == train.x[:50].numpy())  # k / 255
    assert train.y[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]


def _assert_fashion_hint(message: str, path: Path) -> None:
    assert str(path) in message
    assert APT_HINT in message
    assert "data_dir" in message and "--data-dir" in message
    assert "LANDSCAPE_FASHION_MNIST_DIR" in message


def test_missing_directory_via_argument(tmp_path):
    missing = tmp_path / "no-such-dir"
    with pytest.raises(DataNotFoundError) as info:
        fashion_mnist("train", data_dir=missing)
    _assert_fashion_hint(str(info.value), missing)


def test_missing_directory_via_environment(tmp_path, monkeypatch):
    missing = tmp_path / "from-env"
    monkeypatch.setenv("LANDSCAPE_FASHION_MNIST_DIR", str(missing))
    with pytest.raises(DataNotFoundError) as info:
        fashion_mnist("test")
    _assert_fashion_hint(str(info.value), missing)


def test_missing_files_in_existing_directory_are_named(tmp_path):
    with pytest.raises(DataNotFoundError) as info:
        fashion_mnist("test", data_dir=tmp_path)
    assert str(tmp_path / "t10k-images-idx3-ubyte.gz") in str(info.value)
    assert str(tmp_path / "t10k-images-idx3-ubyte") in str(info.value)
    _assert_fashion_hint(str(info.value), tmp_path)


def test_environment_variable_and_argument_precedence(tiny_idx, tmp_path, monkeypatch):
    directory, arrays = tiny_idx
    monkeypatch.setenv("LANDSCAPE_FASHION_MNIST_DIR", str(directory))
    ds = fashion_mnist("test")
    assert ds.y.tolist() == arrays["t10k-labels"].tolist()
    assert ds.source["params"]["data_dir"] == str(directory)
    with pytest.raises(DataNotFoundError):  # the argument wins over the environment
        fashion_mnist("test", data_dir=tmp_path / "elsewhere")


def test_mnist_missing_says_where_to_put_the_files(tmp_path, monkeypatch):
    missing = tmp_path / "mnist-here"
    monkeypatch.setenv("LANDSCAPE_MNIST_DIR", str(missing))
    with pytest.raises(DataNotFoundError) as info:
        mnist("train")
    message = str(info.value)
    assert str(missing) in message
    assert "train-images-idx3-ubyte" in message and "t10k-labels-idx1-ubyte" in message
    assert "LANDSCAPE_MNIST_DIR" in message and "data_dir" in message


def test_mnist_reads_idx_files(tiny_idx):
    directory, arrays = tiny_idx
    ds = mnist("train", data_dir=directory)
    assert ds.name == "mnist/train" and ds.num_classes == 10
    expected = torch.from_numpy(arrays["train-images"].astype(np.float32) / np.float32(255))
    assert torch.equal(ds.x, expected[:, None])


def test_rebuild_after_the_files_moved(tiny_idx, tmp_path, monkeypatch):
    import json
    import shutil

    from landscape.data import rebuild, subset

    directory, _ = tiny_idx
    old = tmp_path / "old"
    shutil.copytree(directory, old)
    recorded = json.loads(subset(fashion_mnist("train", data_dir=old), 5, seed=0).describe_json())
    shutil.rmtree(old)  # the study travels to a machine where the files are elsewhere
    monkeypatch.delenv("LANDSCAPE_FASHION_MNIST_DIR", raising=False)
    assert rebuild(recorded, data_dir=directory).y.numel() == 5  # the argument
    monkeypatch.setenv("LANDSCAPE_FASHION_MNIST_DIR", str(directory))
    assert rebuild(recorded).y.numel() == 5  # the environment, once the recorded one is gone
    monkeypatch.setenv("LANDSCAPE_FASHION_MNIST_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(DataNotFoundError, match="LANDSCAPE_FASHION_MNIST_DIR"):
        rebuild(recorded)
