"""``landscape objectives``: the registered objectives and their parameters."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("objectives", help="list the training objectives and their parameters")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from landscape.objectives import REGISTRY, available, parameters

    for name in available():
        doc = (REGISTRY[name].__doc__ or "").strip().splitlines()[0]
        params = ", ".join(f"{k}={v!r}" for k, v in parameters(name).items()) or "no parameters"
        print(f"{name:16s} {doc}  [{params}]")
    return 0
