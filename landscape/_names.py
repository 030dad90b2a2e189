"""Unknown names: one error message with the closest known names ("did you mean …").

Every registry of the package (objectives, models, datasets, measures) and the command line's
choices (subcommands, learners) say the same thing for a misspelt name, with the suggestions of
:func:`difflib.get_close_matches` (ratio ≥ 0.6, at most three).

Example:
    >>> str(unknown_name("objective", "cee", ["ce", "mse", "focal"]))
    "unknown objective 'cee'; did you mean ce? (choose one of: ce, focal, mse)"
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from landscape.errors import ConfigError


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``"; did you mean x?"`` (``x, y?`` for several) for the close matches of ``name`` among
    ``known``, or ``""`` when none is close."""
    close = difflib.get_close_matches(str(name), [str(k) for k in known], n=3)
    return f"; did you mean {', '.join(close)}?" if close else ""


def unknown_name(kind: str, name: str, known: Iterable[str], hint: str = "") -> ConfigError:
    """The :class:`~landscape.errors.ConfigError` for an unknown ``kind`` called ``name``:
    close matches first, then every known name, then ``hint`` (e.g. how to register one)."""
    known = sorted(known)
    return ConfigError(f"unknown {kind} {name!r}{did_you_mean(name, known)} (choose one of: "
                       f"{', '.join(known)}{'; ' + hint if hint else ''})")
