"""Progress of long loops: a tqdm bar on a terminal, plain lines in a log.

A bar redraws itself with carriage returns, which a log file keeps as a stream of ``\\r`` frames;
so when stderr is not a terminal (a file, a pipe, a batch job) :func:`progress` returns a
:class:`LineProgress` instead, which prints one plain line each time another tenth of the work is
done (one per item when there are at most ten, e.g. per epoch or per measure) and one at the
end, each with the elapsed time. Both offer the part of tqdm's interface the package uses:
iteration, ``update``, ``set_postfix``/``set_postfix_str``, ``write``, ``close`` and ``with``.

Example:
    >>> import io
    >>> log = io.StringIO()
    >>> for _ in progress(range(4), desc="demo", unit="run", stream=log):
    ...     pass
    >>> print(log.getvalue().replace("0 s", "… s"), end="")
    demo: 25% (1/4 run), … s
    demo: 50% (2/4 run), … s
    demo: 75% (3/4 run), … s
    demo: 100% (4/4 run), … s
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import IO, Any


def interactive(stream: IO[str] | None = None) -> bool:
    """Whether ``stream`` (default: stderr) is a terminal."""
    stream = stream if stream is not None else sys.stderr
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


class LineProgress:
    """Plain-line progress: a line whenever the done fraction passes the next multiple of
    ``every`` (and at the end), ``"<desc>: 40% (4/10 epoch), 12 s, loss=0.31"``; without a
    total, a line per ``update``."""

    def __init__(self, iterable: Iterable[Any] | None = None, *, total: float | None = None,
                 desc: str = "", unit: str = "it", initial: float = 0, every: float = 0.1,
                 stream: IO[str] | None = None) -> None:
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc, unit
        self.n, self.every, self.stream = initial, every, stream
        self.postfix, self.closed, self._start = "", False, time.monotonic()
        self._printed = initial
        self._next = self._mark_after(initial)

    def _mark_after(self, n: float) -> float:
        if not self.total:
            return n + 1
        step = self.every * self.total
        return (int(n / step + 1e-9) + 1) * step

    def __iter__(self) -> Iterator[Any]:
        for item in () if self.iterable is None else self.iterable:
            yield item
            self.update(1)
        self.close()

    def __len__(self) -> int:
        return int(self.total or 0)

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: float = 1) -> None:
        """Count ``n`` more done; print a line when the next mark is passed."""
        self.n += n
        if self.n > self._printed and (self.n >= self._next - 1e-9
                                       or (self.total and self.n >= self.total)):
            self._line()
            self._next = self._mark_after(self.n)

    def set_postfix(self, ordered_dict: dict[str, Any] | None = None, refresh: bool = True,
                    **kwargs: Any) -> None:
        """Text after the counts, as ``key=value`` pairs (shown from the next line on)."""
        items = {**(ordered_dict or {}), **kwargs}
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        """Text after the counts (shown from the next line on)."""
        self.postfix = str(s)

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        """Change the label of the lines."""
        self.desc = desc or ""

    @staticmethod
    def write(s: str, file: IO[str] | None = None, end: str = "\n") -> None:
        """Print a message (to stdout by default, as ``tqdm.write``)."""
        print(s, file=file or sys.stdout, end=end, flush=True)

    def close(self) -> None:
        """The last line (if the last count was not printed yet)."""
        if not self.closed and self.n != self._printed:
            self._line()
        self.closed = True

    def _line(self) -> None:
        self._printed = self.n
        count = f"{self.n:g}/{self.total:g}" if self.total else f"{self.n:g}"
        pct = f"{100 * self.n / self.total:.0f}% " if self.total else ""
        text = (f"{self.desc + ': ' if self.desc else ''}{pct}({count} {self.unit}), "
                f"{time.monotonic() - self._start:.0f} s" + (f", {self.postfix}"
                                                             if self.postfix else ""))
        print(text, file=self.stream if self.stream is not None else sys.stderr, flush=True)


def progress(iterable: Iterable[Any] | None = None, *, total: float | None = None,
             desc: str = "", unit: str = "it", quiet: bool = False, initial: float = 0,
             leave: bool = False, every: float = 0.1, stream: IO[str] | None = None) -> Any:
    """Progress over ``iterable`` (or ``total`` units counted by ``update``): a tqdm bar when
    ``stream`` (default stderr) is a terminal or in a notebook, a :class:`LineProgress` (a
    plain line per ``every`` of the total, 10 %) otherwise, nothing with ``quiet``.

    Args:
        iterable: what to iterate over (``None``: count with ``update``).
        total: the number of units (default ``len(iterable)``).
        desc, unit: the label and the unit of the counts.
        quiet: show nothing (the returned object still iterates and counts).
        initial: units done before (a resumed loop).
        leave: keep the finished bar on the terminal.
        every: the fraction of the total between two plain lines.
        stream: where the progress goes (default stderr).
    """
    from tqdm.autonotebook import tqdm  # tqdm.std's bar unless in a notebook
    from tqdm.std import tqdm as plain_tqdm

    if quiet:
        return plain_tqdm(iterable, total=total, disable=True)
    if interactive(stream) or tqdm is not plain_tqdm:  # a terminal, or a notebook's widget
        return tqdm(iterable, total=total, desc=desc, unit=unit, initial=initial, leave=leave,
                    file=stream)
    return LineProgress(iterable, total=total, desc=desc, unit=unit, initial=initial,
                        every=every, stream=stream)
