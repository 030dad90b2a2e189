"""CIFAR-10 from tiny batch files written in the real python-pickle format."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from landscape.data import cifar10
from landscape.errors import DataFormatError, DataNotFoundError

PER_BATCH = (3, 2, 4, 1, 3)  # samples in data_batch_1 .. 5
N_TEST = 4


def _write_batches(directory: Path, protocol: int = 2) -> dict[str, tuple[np.ndarray, list[int]]]:
    directory.mkdir(parents=True)
    rng = np.random.default_rng(7)
    sizes = {f"data_batch_{i + 1}": n for i, n in enumerate(PER_BATCH)} | {"test_batch": N_TEST}
    written = {}
    for name, n in sizes.items():
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size=n)]
        batch = {b"batch_label": name.encode(), b"labels": labels, b"data": data,
                 b"filenames": [f"img{i}.png".encode() for i in range(n)]}
        (directory / name).write_bytes(pickle.dumps(batch, protocol=protocol))
        written[name] = (data, labels)
    return written


@pytest.fixture
def batches(tmp_path):
    parent = tmp_path / "cifar"
    return parent, _write_batches(parent / "cifar-10-batches-py")


def test_train_split_shapes_values_labels(batches):
    parent, written = batches
    ds = cifar10("train", data_dir=parent / "cifar-10-batches-py")
    data = np.concatenate([written[f"data_batch_{i}"][0] for i in range(1, 6)])
    labels = [v for i in range(1, 6) for v in written[f"data_batch_{i}"][1]]
    assert len(ds) == sum(PER_BATCH) and ds.x.shape == (sum(PER_BATCH), 3, 32, 32)
    assert ds.x.dtype == torch.float32 and ds.name == "cifar10/train" and ds.num_classes == 10
    assert ds.y.tolist() == labels and torch.equal(ds.y, ds.y_clean)
    assert torch.equal(ds.index, torch.arange(sum(PER_BATCH)))
    # row layout: 1024 red, then green, then blue values, each 32×32 row-major
    for i in (0, 5, len(ds) - 1):
        assert float(ds.x[i, 0, 0, 1]) == np.float32(data[i, 1]) / np.float32(255)
        assert float(ds.x[i, 0, 1, 0]) == np.float32(data[i, 32]) / np.float32(255)
        assert float(ds.x[i, 1, 0, 0]) == np.float32(data[i, 1024]) / np.float32(255)
        assert float(ds.x[i, 2, 31, 31]) == np.float32(data[i, 3071]) / np.float32(255)
    expected = torch.from_numpy(data.reshape(-1, 3, 32, 32).astype(np.float32) / np.float32(255))
    assert torch.equal(ds.x, expected)


def test_test_split_and_parent_directory_convention(batches):
    parent, written = batches
    ds = cifar10("test", data_dir=parent)
    assert len(ds) == N_TEST and ds.y.tolist() == written["test_batch"][1]
    assert ds.source["directory"] == str(parent / "cifar-10-batches-py")
    same = cifar10("test", data_dir=parent / "cifar-10-batches-py")
    assert torch.equal(ds.x, same.x)


def test_environment_variable(batches, monkeypatch):
    parent, written = batches
    monkeypatch.setenv("LANDSCAPE_CIFAR10_DIR", str(parent))
    assert cifar10("test").y.tolist() == written["test_batch"][1]


def test_highest_pickle_protocol(tmp_path):
    written = _write_batches(tmp_path / "p5", protocol=pickle.HIGHEST_PROTOCOL)
    assert cifar10("test", data_dir=tmp_path / "p5").y.tolist() == written["test_batch"][1]


def test_missing_directory(tmp_path):
    missing = tmp_path / "nothing"
    with pytest.raises(DataNotFoundError) as info:
        cifar10("train", data_dir=missing)
    message = str(info.value)
    assert str(missing) in message and "cifar-10-python.tar.gz" in message
    assert "LANDSCAPE_CIFAR10_DIR" in message


def test_empty_directory_names_both_conventions(tmp_path):
    with pytest.raises(DataNotFoundError) as info:
        cifar10("train", data_dir=tmp_path)
    assert str(tmp_path / "cifar-10-batches-py") in str(info.value)


def test_missing_batch_file(batches):
    parent, _ = batches
    (parent / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DataNotFoundError, match="data_batch_3"):
        cifar10("train", data_dir=parent)


@pytest.mark.parametrize("content", [
    b"not a pickle at all",
    pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}),
    pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}),
    pickle.dumps({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}),
    pickle.dumps([1, 2, 3]),
], ids=["garbage", "width", "labels", "dtype", "not-dict"])
def test_bad_content(batches, content):
    parent, _ = batches
    (parent / "cifar-10-batches-py" / "test_batch").write_bytes(content)
    with pytest.raises(DataFormatError, match="test_batch"):
        cifar10("test", data_dir=parent)


def test_labels_out_of_range(batches):
    parent, _ = batches
    bad = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}
    (parent / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps(bad))
    with pytest.raises(DataFormatError, match=r"\[0, 10\)"):
        cifar10("test", data_dir=parent)


class _Exploit:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return open, (str(self.target), "w")


def test_arbitrary_globals_are_refused(batches, tmp_path):
    parent, _ = batches
    marker = tmp_path / "pwned"
    payload = pickle.dumps({b"data": _Exploit(marker), b"labels": []})
    (parent / "cifar-10-batches-py" / "test_batch").write_bytes(payload)
    with pytest.raises(DataFormatError, match="refusing"):
        cifar10("test", data_dir=parent)
    assert not marker.exists()
