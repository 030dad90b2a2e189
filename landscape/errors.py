"""The one exception family of ``landscape``.

Every error the package raises on bad input derives from :class:`LandscapeError`, and its message
says what was wrong and what to do about it. The command line turns these into a single line on
stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations


class LandscapeError(Exception):
    """Base class of every error raised by ``landscape`` on bad input or bad state."""


class ConfigError(LandscapeError, ValueError):
    """An argument or a combination of settings is invalid (wrong shape, unknown name, ...)."""


class DataNotFoundError(LandscapeError, FileNotFoundError):
    """A dataset's files are missing; the message names the path looked at and how to get them."""


class DataFormatError(LandscapeError, ValueError):
    """A dataset file exists but is not in the expected format (bad magic, truncated, ...)."""


class StoreError(LandscapeError):
    """A study file cannot be used as asked."""


class NotAStudyFileError(StoreError):
    """The file is not an HDF5 file, is corrupt, or is HDF5 written by someone else."""


class SchemaVersionError(StoreError):
    """The study file was written by a newer schema version than this package understands."""


class StudyLockedError(StoreError):
    """Another process holds the study file open for writing (one writer at a time)."""


class NonFiniteError(LandscapeError, FloatingPointError):
    """A loss, gradient or measurement became NaN or infinite."""


class NonDeterministicError(LandscapeError):
    """An operator that must be deterministic is not (BatchNorm/dropout in train mode, ...)."""


class StudyDamagedError(StoreError):
    """Part of a study file cannot be read (bytes overwritten, a failed checksum); the message
    names the file, the damaged object and what can still be read."""


class NoSpaceError(StoreError, OSError):
    """The disk holding a study is full; the write was stopped before it changed the file."""


class ReadOnlyStudyError(StoreError, PermissionError):
    """A write was asked of a study on read-only media or without write permission."""


class DistributedError(LandscapeError, RuntimeError):
    """A rank of a data-parallel run failed or stopped answering; every rank stops with it
    (nothing half-computed is stored; a rerun resumes from what was committed)."""
