"""``landscape objectives``: the registered objectives, their aliases and parameters."""

from __future__ import annotations

import argparse
import shutil
import textwrap


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("objectives", help="list the training objectives and their parameters",
                       description="Each registered objective once, under the name it was first "
                                   "registered with, with its other names (aliases), the first "
                                   "paragraph of its documentation and its parameters with "
                                   "their defaults.")
    p.set_defaults(func=main)


def summary(cls: type) -> str:
    """The first paragraph of the class's docstring in plain text, whole (never cut)."""
    from landscape.cli._common import plain_text

    first = textwrap.dedent((cls.__doc__ or "").strip()).split("\n\n")[0]
    return " ".join((plain_text(first, 10_000) or "(undocumented)").split())


def main(args: argparse.Namespace) -> int:
    from landscape.objectives import REGISTRY, parameters

    names: dict[type, list[str]] = {}
    for name, cls in REGISTRY.items():  # registration order: the first name is the main one
        names.setdefault(cls, []).append(name)
    width = min(shutil.get_terminal_size().columns, 100)
    for cls, (name, *aliases) in sorted(names.items(), key=lambda item: item[1][0]):
        params = ", ".join(f"{k}={v!r}" for k, v in parameters(name).items()) or "none"
        print(name + (f" (also: {', '.join(aliases)})" if aliases else ""))
        text = summary(cls).removeprefix(f"{name}: ")
        for line in (text, f"parameters: {params}"):
            print(textwrap.fill(line, width, initial_indent="    ", subsequent_indent="    "))
    return 0
