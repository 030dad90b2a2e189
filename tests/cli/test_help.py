"""``--help`` of every subcommand: plain text, one line of help per option, "did you mean"."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator

import pytest

from landscape.cli import main, make_parser
from landscape.cli._common import plain_text

MARKUP = re.compile(r"``|:(func|class|mod|data|meth|attr|obj|exc):`|`[^`\s][^`]*`|\*\*")


def _parsers(parser: argparse.ArgumentParser, name: str = "landscape"
             ) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _parsers(sub, f"{name} {sub_name}")


PARSERS = dict(_parsers(make_parser()))


def test_the_walk_reaches_every_subcommand():
    assert {"landscape demo", "landscape hessian", "landscape shallow solve",
            "landscape shallow local-energy", "landscape train"} <= set(PARSERS)


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_every_option_has_one_line_of_plain_help(name: str):
    parser = PARSERS[name]
    formatter = parser._get_formatter()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                assert choice.help, f"{name} {choice.dest} has no help"
            continue
        assert action.help and action.help.strip(), f"{name} {action.option_strings} no help"
        text = formatter._expand_help(action)
        assert "\n" not in text and not MARKUP.search(text), f"{name}: {text!r}"
    text = parser.format_help()
    assert not MARKUP.search(text), f"{name} --help shows markup:\n{text}"


def test_plain_text_of_sphinx_markup():
    rst = ("Runs :func:`~landscape.compare.measure_runs` (:data:`landscape.X`) on ``FILE``\n"
           "and ``landscape --threads N\ndemo``::\n\n    landscape demo --quick\n")
    assert plain_text(rst, 200) == ("Runs measure_runs (landscape.X) on FILE and landscape "
                                    "--threads N demo:\n\n    landscape demo --quick")


def test_demo_help_is_its_docstring_in_plain_text(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    out = capsys.readouterr().out
    assert "landscape.compare.measure_minimum" in out and "results/demo.h5" in out
    assert not MARKUP.search(out)


@pytest.mark.parametrize(("argv", "suggestion"), [
    (["mesure"], "did you mean measure"),
    (["shallow", "solve", "--out", "x.h5", "--learner", "fpb"], "did you mean fbp"),
    (["train", "--model", "mpl"], "did you mean mlp"),
])
def test_a_misspelt_choice_gets_a_suggestion(argv: list[str], suggestion: str, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert suggestion in capsys.readouterr().err
