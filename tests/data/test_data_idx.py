"""The IDX reader and idx_dataset on tiny files the tests write."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch

from landscape.data import idx_dataset, read_idx
from landscape.errors import DataFormatError, DataNotFoundError

ARRAYS = {
    "uint8": np.arange(24, dtype=np.uint8).reshape(2, 3, 4) * 10,
    "int8": np.array([-128, -1, 0, 1, 127], dtype=np.int8),
    "int16": np.array([[-32768, 300], [7, 32767]], dtype=np.int16),
    "int32": np.array([-(2**31), -5, 2**31 - 1], dtype=np.int32),
    "float32": np.array([[[[0.5, -1.25e-3, 3.4e38]]]], dtype=np.float32),
    "float64": np.array([1.0 / 3.0, -2.5e-300, 1e300], dtype=np.float64),
}


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("name", sorted(ARRAYS))
def test_round_trip(tmp_path, write_idx, name, gz):
    array = ARRAYS[name]
    path = write_idx(tmp_path / f"a-{name}.idx", array, gz=gz)
    got = read_idx(path)
    assert got.dtype == array.dtype and got.shape == array.shape
    assert got.dtype.isnative
    np.testing.assert_array_equal(got, array)


def test_magic_and_big_endian_layout_by_hand(tmp_path):
    # int16, 1 dimension of size 2: values 0x0102 = 258 and 0xFFFE = -2
    path = tmp_path / "hand.idx"
    path.write_bytes(bytes([0, 0, 0x0B, 1, 0, 0, 0, 2, 1, 2, 0xFF, 0xFE]))
    assert read_idx(path).tolist() == [258, -2]


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
def test_truncated_data_names_the_file(tmp_path, encode_idx, gz):
    data = encode_idx(ARRAYS["uint8"])[:-3]
    path = tmp_path / "short.idx"
    path.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(DataFormatError, match="truncated") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_truncated_gzip_stream(tmp_path, encode_idx):
    path = tmp_path / "cut.idx.gz"
    path.write_bytes(gzip.compress(encode_idx(ARRAYS["float64"]))[:-10])
    with pytest.raises(DataFormatError) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_truncated_header(tmp_path):
    path = tmp_path / "header.idx"
    path.write_bytes(bytes([0, 0, 8, 3, 0, 0, 0, 2]))
    with pytest.raises(DataFormatError, match="truncated"):
        read_idx(path)


def test_trailing_bytes(tmp_path, encode_idx):
    path = tmp_path / "long.idx"
    path.write_bytes(encode_idx(ARRAYS["int8"]) + b"\x00")
    with pytest.raises(DataFormatError, match="trailing"):
        read_idx(path)


@pytest.mark.parametrize("magic", [b"\x01\x00\x08\x01", b"\x00\x00\x0a\x01", b"PK\x03\x04"])
def test_bad_magic(tmp_path, magic):
    path = tmp_path / "bad.idx"
    path.write_bytes(magic + b"\x00\x00\x00\x01\x05")
    with pytest.raises(DataFormatError, match="magic") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataNotFoundError, match=r"nope\.idx"):
        read_idx(tmp_path / "nope.idx")


def test_idx_dataset(tiny_idx):
    directory, arrays = tiny_idx
    train = idx_dataset(directory, "train", name="tiny")
    test = idx_dataset(directory, "test", name="tiny")
    assert (train.name, test.name) == ("tiny/train", "tiny/test")
    assert train.x.shape == (7, 1, 5, 6) and test.x.shape == (4, 1, 5, 6)
    expected = torch.from_numpy(arrays["train-images"].astype(np.float32) / np.float32(255))
    assert torch.equal(train.x, expected[:, None])
    assert float(train.x[0, 0, 0, 0]) == 0.0 and float(train.x[0, 0, 0, 1]) == 1.0
    assert train.y.tolist() == [0, 1, 2, 0, 1, 2, 2] and torch.equal(train.y, train.y_clean)
    assert train.num_classes == 3 and test.num_classes == 3
    assert torch.equal(train.index, torch.arange(7))
    assert train.source["images_file"].endswith("train-images-idx3-ubyte.gz")
    assert idx_dataset(directory, "train", num_classes=5).num_classes == 5


def test_mirror_spelling_raw_files_and_float_images(tmp_path, write_idx):
    images = np.linspace(0, 1, 2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3)
    write_idx(tmp_path / "train-images.idx3-ubyte", images)
    write_idx(tmp_path / "train-labels.idx1-ubyte", np.array([1, 0], dtype=np.uint8))
    ds = idx_dataset(tmp_path, "train")
    assert torch.equal(ds.x, torch.from_numpy(images)[:, None])  # floats kept as they are
    assert ds.y.tolist() == [1, 0]


def test_image_label_count_mismatch(tmp_path, write_idx):
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((3, 2, 2), np.uint8))
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(4, np.uint8))
    with pytest.raises(DataFormatError, match=r"3 images .* 4 labels"):
        idx_dataset(tmp_path, "train")


def test_labels_must_be_one_dimensional_integers(tmp_path, write_idx):
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((2, 2, 2), np.uint8))
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(2, np.float32))
    with pytest.raises(DataFormatError, match="integer"):
        idx_dataset(tmp_path, "train")


def test_missing_split_files_are_listed(tiny_idx):
    directory, _ = tiny_idx
    (directory / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataNotFoundError) as info:
        idx_dataset(directory, "test")
    assert str(directory / "t10k-labels-idx1-ubyte.gz") in str(info.value)
    assert str(directory / "t10k-labels-idx1-ubyte") in str(info.value)
