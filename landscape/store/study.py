"""Opening, validating and organising study files (one HDF5 file holds a whole study).

A *study* holds many *runs* (trained models) and, for each, many *measurements*. Files are written
as work proceeds so that a killed job loses at most the item in flight.

File locking: HDF5 (>= 1.10) locks a file while a process has it open; another process that tries
to open it for writing (or to read it while it is being written) is refused. :class:`Study` waits
and retries for a while (``lock_timeout``), then raises :class:`StudyLockedError`.
``landscape`` writers therefore open the file only for each short write (an epoch's metrics,
one grid point) and close it again, so readers such as ``landscape info`` can look in between.
Run one writer process per file: training and the measurements of a stored run enforce it with
a lock held for their whole duration (:mod:`landscape.store.writer`). On file systems without
working locks (some NFS mounts) pass ``locking=False`` or set ``HDF5_USE_FILE_LOCKING=FALSE``,
and keep to one writer yourself.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np

from landscape.errors import (
    NotAStudyFileError,
    SchemaVersionError,
    StoreError,
    StudyDamagedError,
    StudyLockedError,
)
from landscape.store import _schema as S
from landscape.store import integrity
from landscape.store.create import create_whole
from landscape.store.provenance import environment, now_iso, to_attr
from landscape.store.space import ensure_space

Mode = Literal["r", "a", "w"]


def decode_attr(value: Any) -> Any:
    """Decode an HDF5 attribute value: bytes → str, JSON strings → objects, numpy → Python."""
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str):
        if value[:1] in "[{" or value == "null":
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                return value
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def read_attrs(obj: h5py.HLObject) -> dict[str, Any]:
    """All attributes of an HDF5 object, decoded with :func:`decode_attr`."""
    return {k: decode_attr(v) for k, v in obj.attrs.items()}


def write_attrs(obj: h5py.HLObject, attrs: Mapping[str, Any]) -> None:
    """Write ``attrs`` onto an HDF5 object (dicts and lists as JSON strings); an attribute that
    holds the value already is left alone (so rereading a finished result writes nothing, and
    works on read-only media)."""
    for key, value in attrs.items():
        new = to_attr(value)
        if key in obj.attrs:
            try:
                old = obj.attrs[key]
                if type(decode_attr(old)) is type(decode_attr(new)) and np.array_equal(
                        np.asarray(old), np.asarray(new)):
                    continue
            except (TypeError, ValueError, OSError):
                pass
        obj.attrs[key] = new


def _open(path: Path, mode: Mode, locking: bool | None, lock_timeout: float) -> h5py.File:
    kwargs: dict[str, Any] = {} if locking is None else {"locking": locking}
    if mode == "r" and not path.exists():
        raise StoreError(f"no study file at {path}: check the path, or create one with "
                         "'landscape train ... --out FILE'")
    if path.exists() and path.stat().st_size > 0 and not h5py.is_hdf5(path):
        raise NotAStudyFileError(f"{path} is not an HDF5 file (or its header is corrupt); "
                                 "a landscape study file is HDF5 written by landscape")
    if path.exists() and path.stat().st_size == 0 and mode != "w":
        raise NotAStudyFileError(f"{path} is empty (0 bytes): not a study file; delete it and "
                                 "rerun to create a new study")
    h5_mode: str = mode
    if mode == "w" or (mode == "a" and not path.exists()):
        # track free space across closes, so that space freed by deleted items (the SGLD
        # checkpoints of local entropy, a replaced result) is reused instead of lost: a study
        # of 3 measured digits MLPs takes 11.0 MB instead of 18.6 MB (9.9 MB of data). HDF5
        # sets this only when it creates the file ("x": unless another process just did).
        kwargs.update(fs_strategy="fsm", fs_persist=True)
        h5_mode = "w" if mode == "w" else "x"
    deadline = time.monotonic() + lock_timeout
    delay = 0.02
    while True:
        try:
            try:
                return h5py.File(path, h5_mode, **kwargs)
            except FileExistsError:
                kwargs.pop("fs_strategy"), kwargs.pop("fs_persist")
                h5_mode = "a"
                return h5py.File(path, h5_mode, **kwargs)
        except OSError as err:
            text = str(err).lower()
            failure = integrity.io_error(path, err) if mode != "r" else None
            if failure is not None:
                raise failure from None  # read-only media, no space
            if "unable to lock" not in text and "file locking" not in text:
                raise NotAStudyFileError(f"{path} cannot be opened as HDF5 (corrupt or "
                                         f"truncated?): {err}") from err
            if time.monotonic() >= deadline:
                raise StudyLockedError(
                    f"{path} is held open by another process (HDF5 file lock) and stayed so for "
                    f"{lock_timeout:g} s: run one writer at a time; on file systems without "
                    "locks use HDF5_USE_FILE_LOCKING=FALSE") from err
            time.sleep(delay)  # readers and writers hold the file only briefly: wait and retry
            delay = min(2 * delay, 0.5)


def _initialise(file: h5py.File) -> None:
    """The first contents of a study: its format, schema version, provenance and ``runs``."""
    write_attrs(file, {"format": S.FORMAT, "schema_version": S.SCHEMA_VERSION,
                       "created": now_iso(), "index_convention": S.INDEX_CONVENTION,
                       **environment()})
    file.require_group(S.RUNS)


def _create(path: Path, *, replace: bool) -> None:
    """Create the study ``path`` whole (:mod:`landscape.store.create`), or keep one that exists.

    The free-space manager persists across closes, so that space freed by deleted items (the
    SGLD checkpoints of local entropy, a replaced result) is reused instead of lost: a study of 3
    measured digits MLPs takes 11.0 MB instead of 18.6 MB (9.9 MB of data). HDF5 sets this only
    when it creates the file.
    """
    try:
        create_whole(path, _initialise, replace=replace, fs_strategy="fsm", fs_persist=True)
    except OSError as err:
        failure = integrity.io_error(path, err)
        if failure is not None:
            raise failure from None  # read-only media, no space
        raise


#: Study path → (mtime_ns, size) when this process last closed it after writing: a file still in
#: that state needs no integrity scan before the next write.
_CLEAN: dict[str, tuple[int, int]] = {}


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_mtime_ns, st.st_size


def _remember_clean(path: Path) -> None:
    with contextlib.suppress(OSError):
        _CLEAN[str(path.resolve())] = _stamp(path)


def _read_only_media(path: Path) -> bool:
    """Whether ``path`` lies on a read-only file system or cannot be written by this user."""
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY) or not os.access(path, os.W_OK)
    except (OSError, AttributeError):
        return False


def _check_before_writing(path: Path, locking: bool | None, lock_timeout: float) -> None:
    """Refuse to write into a damaged file: open it read-only first and open every object
    (:func:`landscape.store.integrity.scan_file`, metadata only, milliseconds for a study of a
    hundred runs), unless this process wrote it last and nobody changed it since."""
    key = str(path.resolve())
    if _CLEAN.get(key) == _stamp(path):
        return
    file = _open(path, "r", locking, lock_timeout)
    try:
        report = integrity.scan_file(file)
    finally:
        file.close()
    if not report.ok:
        raise StudyDamagedError(integrity.describe(path, report))
    _CLEAN[key] = _stamp(path)


class Study:
    """A study file, opened for reading (``"r"``), appending (``"a"``) or overwriting (``"w"``).

    Opening checks that the file is ours (root attribute ``format == "landscape-study"``) and not of
    a newer schema; a new or empty file opened for writing gets the root provenance attributes.
    While another process holds the file (HDF5 lock), opening waits and retries for up to
    ``lock_timeout`` seconds before raising :class:`StudyLockedError`: a reader such as
    ``landscape info`` looking in while a training job writes delays the job, never kills it.
    Opening for writing first checks that ``reserve`` bytes (what the caller is about to write)
    plus :data:`landscape.store.space.MARGIN` are free (else
    :class:`~landscape.errors.NoSpaceError`, the file untouched) and that the file is not damaged
    (:class:`~landscape.errors.StudyDamagedError`); on read-only media it raises
    :class:`~landscape.errors.ReadOnlyStudyError`.

    Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "s.h5")
        >>> with Study(path, "a") as study:
        ...     _ = study.create_run("r0", {"seed": 0})
        >>> Study(path).runs()
        ['r0']
    """

    def __init__(self, path: str | os.PathLike[str], mode: Mode = "r", *,
                 locking: bool | None = None, lock_timeout: float = 30.0, reserve: int = 0
                 ) -> None:
        self.path = Path(path)
        self.mode = mode
        if mode != "r":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        #: opened for writing on read-only media: reads work, the first write raises
        #: :class:`~landscape.errors.ReadOnlyStudyError`
        self.read_only = mode == "a" and self.path.exists() and _read_only_media(self.path)
        if self.read_only:
            mode = "r"
        if mode != "r":
            ensure_space(self.path, reserve)
        if mode == "a" and self.path.exists() and self.path.stat().st_size > 0:
            _check_before_writing(self.path, locking, lock_timeout)
        if mode == "w" or (mode == "a" and not self.path.exists()):
            _create(self.path, replace=mode == "w")
            mode = "a"
        self.file = _open(self.path, mode, locking, lock_timeout)
        try:
            self._check_or_init()
        except integrity.H5_ERRORS as err:
            self.file.close()
            if not integrity.is_h5_failure(err):
                raise
            raise integrity.damage_error(self.path, err) from None
        except BaseException:
            self.file.close()
            raise

    def _check_or_init(self) -> None:
        attrs = self.file.attrs
        if "format" not in attrs:
            if len(self.file.keys()) or len(attrs) or self.mode == "r":
                raise NotAStudyFileError(
                    f"{self.path} is an HDF5 file but not a landscape study (no 'format' "
                    f"attribute; it holds {sorted(self.file.keys())[:5]}); use another file name")
            _initialise(self.file)
            return
        fmt = decode_attr(attrs["format"])
        if fmt != S.FORMAT:
            raise NotAStudyFileError(f"{self.path} has format {fmt!r}, not {S.FORMAT!r}")
        version = int(decode_attr(attrs.get("schema_version", -1)))
        if version > S.SCHEMA_VERSION:
            raise SchemaVersionError(
                f"{self.path} uses study schema version {version}, newer than the "
                f"{S.SCHEMA_VERSION} this landscape understands: upgrade landscape to read it")
        if version < 1:
            raise NotAStudyFileError(f"{self.path} has an invalid schema_version {version}")

    # -- context management -------------------------------------------------------------------
    def __enter__(self) -> Study:
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 tb: object) -> None:
        if err is not None and integrity.is_h5_failure(err):
            failure = (integrity.read_only_error(self.path) if self.read_only else
                       integrity.damage_error(self.path, err, file=self.file))
            with contextlib.suppress(*integrity.H5_ERRORS):
                self.close()
            raise failure from None
        self.close()

    def close(self) -> None:
        """Flush and close the file."""
        if self.file.id.valid:
            writable = self.mode != "r"
            self.file.close()
            if writable:
                _remember_clean(self.path)

    def flush(self) -> None:
        """Write buffered data to disk (a killed process then loses nothing written before)."""
        self.file.flush()

    # -- runs ---------------------------------------------------------------------------------
    @property
    def attrs(self) -> dict[str, Any]:
        """The file's root attributes (format, schema version, software versions, ...)."""
        return read_attrs(self.file)

    def runs(self) -> list[str]:
        """Names of the runs in the file, sorted."""
        return sorted(self.file[S.RUNS].keys()) if S.RUNS in self.file else []

    def has_run(self, name: str) -> bool:
        """Whether a run called ``name`` exists."""
        return f"{S.RUNS}/{name}" in self.file

    def run(self, name: str) -> h5py.Group:
        """The HDF5 group of run ``name`` (clear error listing the runs if it does not exist)."""
        if not self.has_run(name):
            raise StoreError(f"{self.path} has no run {name!r}; runs: {self.runs() or 'none'}")
        return self.file[f"{S.RUNS}/{name}"]

    def create_run(self, name: str, attrs: Mapping[str, Any] | None = None, *,
                   overwrite: bool = False) -> h5py.Group:
        """Create run ``name`` with provenance ``attrs``; an existing run is an error unless
        ``overwrite`` (which deletes it first)."""
        _check_name(name)
        if self.read_only:
            raise integrity.read_only_error(self.path)
        if self.mode == "r":
            raise StoreError(f"{self.path} is open read-only")
        if self.has_run(name):
            if not overwrite:
                raise StoreError(f"run {name!r} already exists in {self.path}; choose another "
                                 "name or overwrite it")
            del self.file[f"{S.RUNS}/{name}"]
        group = self.file.require_group(S.RUNS).create_group(name)
        write_attrs(group, {"created": now_iso(), **(attrs or {})})
        return group

    def run_attrs(self, name: str) -> dict[str, Any]:
        """Decoded provenance attributes of run ``name``."""
        return read_attrs(self.run(name))

    def walk(self) -> Iterator[tuple[str, h5py.HLObject]]:
        """Every (path, object) in the file, depth first, in name order."""
        items: list[tuple[str, h5py.HLObject]] = []
        self.file.visititems(lambda n, o: items.append((n, o)))
        yield from items


def _check_name(name: str) -> None:
    if not name or "/" in name or name.startswith(".") or name.strip() != name:
        raise StoreError(f"invalid run name {name!r}: use a non-empty name without '/'")
