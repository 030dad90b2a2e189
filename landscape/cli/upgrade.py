"""``landscape upgrade``: convert a study file of schema 1 to settings-keyed measurements."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("upgrade", help="convert the stored measurements of an older study file "
                                       "(schema 1) in place, nothing lost",
                       description="Turn every measurement stored under a name (schema 1) into "
                                   "the result of its measure under its settings, in place; "
                                   "interrupted ones stay resumable. Results are read in place "
                                   "without it too; measuring a run upgrades that run first.")
    p.add_argument("file", help="study file")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from landscape.compare.legacy import upgrade

    converted, kept = upgrade(args.file)
    print(f"{args.file}: {converted} result(s) upgraded"
          + (f"; {len(kept)} group(s) of other kinds kept as they are" if kept else ""))
    return 0
