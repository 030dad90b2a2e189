"""``landscape compact``: rewrite a study file without the space deleted items left behind."""

from __future__ import annotations

import argparse

from landscape.store import compact


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compact", help="rewrite a study file without its lost space (files "
                                       "made before free-space tracking keep what was deleted)")
    p.add_argument("file", help="study file")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    before, after = compact(args.file)
    print(f"{args.file}: {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB")
    return 0
