"""Private plumbing: a reader for the big-endian IDX format of MNIST and Fashion-MNIST.

An IDX file is a 4-byte magic number ``00 00 TT DD`` (``TT`` the element type, ``DD`` the number
of dimensions), then ``DD`` big-endian uint32 sizes, then the elements, big-endian, row-major
(format as described on Yann LeCun's MNIST page). Files may be gzip-compressed; that is detected
from the gzip magic bytes, not from the file name.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from landscape.errors import DataFormatError, DataNotFoundError

IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),  # unsigned byte
    0x09: np.dtype(">i1"),  # signed byte
    0x0B: np.dtype(">i2"),  # short (2 bytes)
    0x0C: np.dtype(">i4"),  # int (4 bytes)
    0x0D: np.dtype(">f4"),  # float (4 bytes)
    0x0E: np.dtype(">f8"),  # double (8 bytes)
}
"""Element type of each IDX type code."""

_GZIP_MAGIC = b"\x1f\x8b"


def read_bytes(path: Path) -> bytes:
    """The contents of ``path``, decompressed if it is gzip; errors name the file."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataNotFoundError(f"IDX file not found: {path}") from None
    except OSError as err:
        raise DataFormatError(f"cannot read {path}: {err}") from err
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:
            raise DataFormatError(f"{path} is a corrupt or truncated gzip file: {err}") from err
    return raw


def parse_idx(raw: bytes, origin: str) -> np.ndarray:
    """Decode the (uncompressed) IDX bytes ``raw``; ``origin`` names the file in errors."""
    if len(raw) < 4:
        raise DataFormatError(f"{origin} is truncated: {len(raw)} bytes, shorter than the "
                              f"4-byte IDX magic number")
    code, ndim = raw[2], raw[3]
    if raw[:2] != b"\x00\x00" or code not in IDX_DTYPES:
        raise DataFormatError(
            f"{origin} is not an IDX file: bad magic number 0x{raw[:4].hex().upper()} (expected "
            f"0x0000TTDD with type TT in {[f'{t:02X}' for t in IDX_DTYPES]})")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataFormatError(f"{origin} is truncated: its header declares {ndim} dimensions "
                              f"({header} bytes) but the file has {len(raw)} bytes")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = IDX_DTYPES[code]
    count = math.prod(shape)
    declared, actual = count * dtype.itemsize, len(raw) - header
    if actual < declared:
        raise DataFormatError(f"{origin} is truncated: shape {list(shape)} of {dtype.name} "
                              f"declares {declared} data bytes but only {actual} are present")
    if actual > declared:
        raise DataFormatError(f"{origin} has {actual - declared} trailing bytes after the "
                              f"{declared} data bytes its shape {list(shape)} declares")
    data = np.frombuffer(raw, dtype=dtype, count=count, offset=header)
    return data.astype(dtype.newbyteorder("="), copy=True).reshape(shape)


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (gzip-compressed or raw) into a native-endian NumPy array.

    Supports element types 0x08 (uint8), 0x09 (int8), 0x0B (int16), 0x0C (int32), 0x0D
    (float32), 0x0E (float64) and any number of dimensions.

    Raises:
        DataNotFoundError: the file does not exist.
        DataFormatError: bad magic number, or the data are shorter or longer than the shape in
            the header declares (the message names the file).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.idx"
        >>> _ = p.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9]))
        >>> read_idx(p).tolist()
        [7, 8, 9]
    """
    path = Path(path)
    return parse_idx(read_bytes(path), str(path))


def read_idx_hashed(path: Path) -> tuple[np.ndarray, str]:
    """:func:`read_idx` plus the SHA-256 (hex, first 16 chars) of the file's decoded bytes.

    Decoded files are cached per process, keyed by the resolved path, size and modification
    time (a changed file is read again), and every call returns its own copy of the array:
    measurements that rebuild a run's data many times (``landscape.store.load_run_data``) then
    decompress and hash Fashion-MNIST once instead of once per call (~1 s each).
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        raise DataNotFoundError(f"IDX file not found: {path}") from None
    except OSError as err:
        raise DataFormatError(f"cannot read {path}: {err}") from err
    arr, digest = _read_idx_hashed_cached(str(path.resolve()), st.st_size, st.st_mtime_ns)
    return arr.copy(), digest


@functools.lru_cache(maxsize=8)
def _read_idx_hashed_cached(path: str, size: int, mtime_ns: int) -> tuple[np.ndarray, str]:
    raw = read_bytes(Path(path))
    return parse_idx(raw, path), hashlib.sha256(raw).hexdigest()[:16]
