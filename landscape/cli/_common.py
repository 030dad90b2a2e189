"""Plumbing shared by the subcommands: argument helpers and data/model construction."""

from __future__ import annotations

import argparse
import re
import shutil
import textwrap
from typing import Any

import torch

from landscape._names import did_you_mean
from landscape.errors import ConfigError

DTYPES = {"float32": torch.float32, "float64": torch.float64}


_ROLE = re.compile(r":(?:py:)?(?:func|class|mod|data|meth|attr|obj|exc|const|math):`(~?)([^`]+)`")
_LITERAL = re.compile(r"``(.+?)``", re.S)
_EMPHASIS = re.compile(r"(\*\*?|`)([^*`\s][^*`]*?)\1")


def plain_text(text: str | None, width: int | None = None) -> str | None:
    """Sphinx/reStructuredText as plain text for ``--help``: roles (``:func:`~a.b```) become
    their target (``b`` with ``~``), literals and emphasis lose their marks, a paragraph ending
    in ``::`` ends in ``:``; prose paragraphs are re-wrapped to ``width`` (the terminal's, at most
    100 columns) and indented blocks (examples) are kept line by line.

    Example:
        >>> plain_text("Runs :func:`~landscape.compare.measure_runs` on ``FILE``::", 79)
        'Runs measure_runs on FILE:'
    """
    if not text:
        return text
    text = _ROLE.sub(lambda m: m.group(2).rsplit(".", 1)[-1] if m.group(1) else m.group(2),
                     textwrap.dedent(text).strip())
    text = _EMPHASIS.sub(r"\2", _LITERAL.sub(r"\1", text))
    width = width or min(shutil.get_terminal_size().columns - 2, 100)
    paragraphs = []
    for block in re.split(r"\n\s*\n", text):
        block = re.sub(r"::$", ":", block.rstrip())
        if block.startswith((" ", "\t")):  # an example: kept as written
            paragraphs.append(block)
        else:
            paragraphs.append(textwrap.fill(" ".join(block.split()), width))
    return "\n\n".join(paragraphs)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions as :func:`plain_text` laid them out; option help as plain text too."""

    def _expand_help(self, action: argparse.Action) -> str:
        return " ".join((plain_text(super()._expand_help(action), 10_000) or "").split())


class Parser(argparse.ArgumentParser):
    """The command line's argument parser: descriptions, epilogs and option help in plain text
    (:func:`plain_text`), and "did you mean" for a misspelt choice (a subcommand, a learner,
    ...). Subparsers are of this class too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        for key in ("description", "epilog"):
            kwargs[key] = plain_text(kwargs.get(key))
        super().__init__(*args, **kwargs)

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        if action.choices is not None and value not in action.choices:
            names = [str(c) for c in action.choices]
            raise argparse.ArgumentError(
                action, f"invalid choice: {value!r}{did_you_mean(str(value), names)} (choose "
                        f"from {', '.join(names)})")


def parse_value(text: str) -> Any:
    """``"0.7"`` → 0.7, ``"3"`` → 3, ``"true"`` → True, ``"none"`` → None, ``"[1, 2]"`` → a
    list (JSON), anything else stays a string."""
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    if text[:1] in "[{":
        import json

        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def key_values(items: list[str] | None, what: str) -> dict[str, Any]:
    """Parse repeated ``KEY=VALUE`` options."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"{what} must look like KEY=VALUE, got {item!r}")
        out[key.strip()] = parse_value(value.strip())
    return out


def kind_amount(text: str | None, what: str) -> tuple[str, float] | None:
    """Parse ``KIND:AMOUNT`` (e.g. ``symmetric:0.2``, ``exp:100``)."""
    if text is None:
        return None
    kind, sep, amount = text.partition(":")
    try:
        return kind, float(amount)
    except ValueError:
        raise ConfigError(f"{what} must look like KIND:NUMBER, got {text!r}") from None
    finally:
        if not sep:
            raise ConfigError(f"{what} must look like KIND:NUMBER, got {text!r}")


def add_data_arguments(p: argparse.ArgumentParser) -> None:
    """Options that choose and transform a dataset."""
    g = p.add_argument_group("data")
    g.add_argument("--dataset", default="digits",
                   help="digits, fashion-mnist, mnist, idx, cifar10, gaussian-mixture, "
                        "teacher-student (default: digits)")
    g.add_argument("--data-dir", default=None,
                   help="directory with the dataset's files (IDX, CIFAR-10 pickles)")
    g.add_argument("--data-seed", type=int, default=0,
                   help="seed of the train/test split and of the data transforms (default 0)")
    g.add_argument("--label-noise", default=None, metavar="KIND:RATE",
                   help="symmetric:0.2, pairflip:0.2 or asymmetric:0.4 (training labels only)")
    g.add_argument("--long-tail", default=None, metavar="PROFILE:FACTOR",
                   help="long-tailed training subset, exp:100 or step:10")
    g.add_argument("--subset", type=int, default=None, metavar="N",
                   help="train on a fixed stratified subset of N samples")


def load_data(args: argparse.Namespace) -> tuple[Any, Any]:
    """The (train, test) datasets described by :func:`add_data_arguments` options."""
    from landscape import data as D

    train, test = D.load_splits(args.dataset, data_dir=args.data_dir, seed=args.data_seed)
    if args.subset is not None:
        train = D.subset(train, args.subset, seed=args.data_seed)
    lt = kind_amount(args.long_tail, "--long-tail")
    if lt is not None:
        train = D.long_tail(train, lt[1], profile=lt[0], seed=args.data_seed)  # type: ignore[arg-type]
    noise = kind_amount(args.label_noise, "--label-noise")
    if noise is not None:
        makers = {"symmetric": D.symmetric_noise, "pairflip": D.pairflip_noise,
                  "asymmetric": D.asymmetric_noise}
        if noise[0] not in makers:
            raise ConfigError(f"unknown label noise {noise[0]!r}; choose {sorted(makers)}")
        train = makers[noise[0]](train, noise[1], seed=args.data_seed)
    return train, test


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """Options that choose a model."""
    from landscape.models import MODELS

    g = p.add_argument_group("model")
    g.add_argument("--model", default="mlp", choices=sorted(MODELS),
                   help="architecture (default mlp)")
    g.add_argument("--model-option", action="append", metavar="KEY=VALUE",
                   help="constructor option of the model, repeatable (e.g. dim=64 for vit_tiny)")
    g.add_argument("--depth", type=int, default=2, help="MLP hidden layers (default 2)")
    g.add_argument("--width", type=int, default=64, help="MLP hidden units (default 64)")
    g.add_argument("--activation", default="relu",
                   help="MLP/LeNet nonlinearity: relu, tanh, gelu, sigmoid, elu, softplus "
                        "(default relu)")
    g.add_argument("--batchnorm", action="store_true",
                   help="MLP/LeNet: BatchNorm after each hidden layer")
    g.add_argument("--dropout", type=float, default=0.0,
                   help="MLP/LeNet: dropout probability after each activation (default 0)")
    g.add_argument("--dtype", default="float32", choices=sorted(DTYPES),
                   help="precision of the weights and data (default float32)")
    g.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ... (default cpu)")


def build_model(args: argparse.Namespace, train: Any, seed: int) -> torch.nn.Module:
    """The model described by :func:`add_model_arguments` options, initialised from ``seed``."""
    from landscape.models import build

    kwargs: dict[str, Any] = {}
    if args.model in ("mlp", "lenet"):
        kwargs = {"activation": args.activation, "batchnorm": args.batchnorm,
                  "dropout": args.dropout}
    if args.model == "mlp":
        kwargs |= {"depth": args.depth, "width": args.width}
    kwargs |= key_values(getattr(args, "model_option", None), "--model-option")
    model = build(args.model, train.input_shape, train.num_classes, seed=seed, **kwargs)
    return model.to(device=torch.device(args.device), dtype=DTYPES[args.dtype])


def figure_path(study: str, *parts: str) -> str:
    """Where a command puts a figure of ``study`` by default: beside the study file, named
    ``<study stem>-<part>-….png`` (never into the repository's tracked ``figures/``)."""
    from pathlib import Path

    path = Path(study)
    return str(path.with_name("-".join([path.stem, *parts]) + ".png"))
