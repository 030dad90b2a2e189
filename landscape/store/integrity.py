"""Finding damage in a study file, and naming it in one line.

HDF5 reports damage with messages that name no object (``message not aligned``, ``Read failed``,
a failed Fletcher-32 checksum). :func:`scan` walks the file and names the first object that does
not open, whose attributes do not decode or (with ``data=True``) whose values do not read back,
and which runs are intact; :func:`damage_error` turns that into a
:class:`~landscape.errors.StudyDamagedError`. Writers run the cheap metadata scan before they
open a file for writing (:func:`landscape.store.study.Study`), so nothing is written into a
damaged file.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from pathlib import Path

import h5py

from landscape.errors import NoSpaceError, ReadOnlyStudyError, StoreError, StudyDamagedError
from landscape.store import _schema as S


@dataclass(frozen=True)
class IntegrityReport:
    """What :func:`scan` found.

    Attributes:
        damaged: ``[(object path, reason)]``, at most one per run (the first found) plus any
            outside the runs.
        intact_runs: runs whose every object (and, with ``data=True``, value) reads back.
        damaged_runs: runs with damage.
        objects: how many objects were opened.
    """

    damaged: list[tuple[str, str]] = field(default_factory=list)
    intact_runs: list[str] = field(default_factory=list)
    damaged_runs: list[str] = field(default_factory=list)
    objects: int = 0

    @property
    def ok(self) -> bool:
        return not self.damaged


def _reason(err: BaseException) -> str:
    text = str(err).strip().strip("'\"") or type(err).__name__
    inner = text.rsplit("(", 1)[-1].rstrip(")") if "(" in text else text
    return inner[:120]


def _check_object(obj: h5py.HLObject, data: bool) -> None:
    dict(obj.attrs.items())
    if isinstance(obj, h5py.Dataset):
        _ = obj.shape, obj.dtype
        if data and obj.size:
            obj[()]


def _walk(group: h5py.Group, data: bool, counter: list[int]) -> tuple[str, str] | None:
    """The first damaged object under ``group`` (``None`` if none), depth first."""
    try:
        names = list(group.keys())
    except Exception as err:
        return group.name, _reason(err)
    for name in names:
        path = f"{group.name.rstrip('/')}/{name}"
        try:
            obj = group[name]
            counter[0] += 1
            _check_object(obj, data)
        except Exception as err:
            return path, _reason(err)
        if isinstance(obj, h5py.Group):
            found = _walk(obj, data, counter)
            if found:
                return found
    return None


def scan_file(file: h5py.File, *, data: bool = False) -> IntegrityReport:
    """:func:`scan` of an open file."""
    counter = [0]
    report = IntegrityReport()
    try:
        dict(file.attrs.items())
        top = [k for k in file if k != S.RUNS]
        runs_group = file.get(S.RUNS, None)
        runs = list(runs_group.keys()) if runs_group is not None else []
    except Exception as err:
        report.damaged.append(("/", _reason(err)))
        return report
    for name in top:
        found = _walk_one(file, name, data, counter)
        if found:
            report.damaged.append(found)
    for run in runs:
        found = _walk_one(runs_group, run, data, counter)
        (report.damaged_runs if found else report.intact_runs).append(run)
        if found:
            report.damaged.append(found)
    return IntegrityReport(report.damaged, report.intact_runs, report.damaged_runs, counter[0])


def _walk_one(parent: h5py.Group, name: str, data: bool, counter: list[int]
              ) -> tuple[str, str] | None:
    path = f"{parent.name.rstrip('/')}/{name}"
    try:
        obj = parent[name]
        counter[0] += 1
        _check_object(obj, data)
    except Exception as err:
        return path, _reason(err)
    return _walk(obj, data, counter) if isinstance(obj, h5py.Group) else None


def scan(path: str | Path, *, data: bool = False) -> IntegrityReport:
    """Open every object of the study at ``path`` read-only (and read every value with
    ``data=True``, which checks the Fletcher-32 checksums) and report the damage found.

    Example:
        >>> import tempfile, os
        >>> from landscape.store import Study
        >>> path = os.path.join(tempfile.mkdtemp(), "s.h5")
        >>> with Study(path, "a") as st:
        ...     _ = st.create_run("r0")
        >>> scan(path).intact_runs
        ['r0']
    """
    try:
        with h5py.File(path, "r") as file:
            return scan_file(file, data=data)
    except OSError as err:
        return IntegrityReport([("/", _reason(err))])


def describe(path: str | Path, report: IntegrityReport) -> str:
    """One line: the file, the damaged object(s) and what can still be read."""
    where = "; ".join(f"{obj} ({why})" for obj, why in report.damaged[:3])
    more = f" and {len(report.damaged) - 3} more" if len(report.damaged) > 3 else ""
    intact = (f"intact runs still readable: {', '.join(report.intact_runs)}"
              if report.intact_runs else "no run can be read")
    return (f"{path} is damaged at {where}{more}; {intact} (landscape info lists them); the file "
            "was left unchanged and nothing is written into it")


def read_only_error(path: str | Path) -> ReadOnlyStudyError:
    """The one-line error for a write into a study that can only be read."""
    return ReadOnlyStudyError(f"{path} cannot be written (read-only file system or no "
                              "permission); reading it works, write to a copy elsewhere")


def io_error(path: str | Path, err: BaseException | None) -> StoreError | None:
    """The one-line error for a full disk or read-only media behind ``err`` (else ``None``)."""
    code = getattr(err, "errno", None)
    text = str(err or "")
    if code == errno.ENOSPC or "No space left" in text or "errno = 28" in text:
        return NoSpaceError(f"no space left on the disk of {path}, nothing lost; free space "
                            "and rerun")
    if code in (errno.EROFS, errno.EACCES, errno.EPERM) or any(
            key in text for key in ("Read-only file system", "Permission denied", "errno = 30",
                                    "errno = 13")):
        return read_only_error(path)
    return None


def damage_error(path: str | Path, err: BaseException | None = None, *,
                 file: h5py.File | None = None) -> StoreError:
    """The one-line error for an HDF5 failure on ``path``: no space, read-only, or damage (with
    the damaged object named by a :func:`scan`)."""
    failure = io_error(path, err)
    if failure is not None:
        return failure
    report = scan_file(file, data=True) if file is not None and file.id.valid else scan(
        path, data=True)
    if report.ok:
        report = IntegrityReport([("?", _reason(err) if err else "unreadable")],
                                 report.intact_runs)
    return StudyDamagedError(describe(path, report))


#: What an HDF5 failure raises through h5py.
H5_ERRORS = (OSError, KeyError, RuntimeError, ValueError)


def is_h5_failure(err: BaseException) -> bool:
    """Whether ``err`` is a failure of the HDF5 library (not a landscape error or a bug)."""
    if isinstance(err, StoreError) or not isinstance(err, H5_ERRORS):
        return False
    text = str(err)
    return any(key in text for key in (
        "Unable to", "unable to", "Read failed", "filter", "checksum", "failed (",
        "No space left", "Read-only file system", "errno = ", "Can't ", "can't ",
        "no write intent"))
