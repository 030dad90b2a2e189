"""The ``landscape`` command line: one module per subcommand.

Errors of the :class:`~landscape.errors.LandscapeError` family become one line on stderr and exit
status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Sequence

from landscape import __version__
from landscape.cli import (
    compact,
    correlate,
    demo,
    flatness,
    hessian,
    info,
    measure,
    objectives,
    shallow,
    surface,
    train,
    upgrade,
)
from landscape.cli._common import Parser
from landscape.errors import LandscapeError

SUBCOMMANDS = (train, info, compact, upgrade, demo, objectives, measure, correlate, hessian,
               flatness, surface, shallow)


def make_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = Parser(
        prog="landscape",
        description="Loss-landscape analysis: train networks under objectives into HDF5 studies "
                    "and measure the minima they reach.")
    parser.add_argument("--version", action="version", version=f"landscape {__version__}")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="CPU threads for torch (default: torch's choice); use 1 when "
                             "running several jobs side by side on few cores")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in SUBCOMMANDS:
        module.add_parser(sub)
    return parser


def _interrupted_after_the_end(signum: int, frame: object) -> None:
    """Ctrl-C once the command has finished (while Python shuts down): what was stored is
    complete, so say so and exit 130 instead of a traceback or a silent exit by the signal."""
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    sys.stderr.write("landscape: interrupted after the command finished; everything it "
                     "stored is complete\n")
    sys.stderr.flush()
    os._exit(130)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script and of ``python -m landscape``."""
    try:
        return _main(argv)
    finally:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, _interrupted_after_the_end)


def _main(argv: Sequence[str] | None) -> int:
    args = make_parser().parse_args(argv)
    if args.threads is not None:
        import torch

        torch.set_num_threads(max(1, args.threads))
    try:
        return int(args.func(args) or 0)
    except LandscapeError as err:
        print(f"landscape {args.command}: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        return 0
    except KeyboardInterrupt:
        print(f"landscape {args.command}: interrupted; rerun the same command to resume",
              file=sys.stderr)
        return 130
