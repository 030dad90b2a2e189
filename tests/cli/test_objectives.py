"""``landscape objectives``: each objective once with its aliases, whole descriptions."""

from __future__ import annotations

from landscape.cli import main
from landscape.objectives import REGISTRY


def test_each_objective_once_with_its_aliases_and_whole_description(capsys):
    assert main(["objectives"]) == 0
    out = capsys.readouterr().out
    heads = [line for line in out.splitlines() if not line.startswith(" ")]
    assert len(heads) == len(set(REGISTRY.values()))
    assert "ce (also: cross-entropy)" in heads and "hsic_bottleneck (also: hsic)" in heads
    assert out.count("Softmax cross-entropy") == 1
    joined = " ".join(out.split())
    # the two-line first paragraph of LDCE's docstring, whole and in plain text
    assert ("CE weighted (or filtered) by label-propagation confidences of the observed labels. "
            "Our approximation of LDCE; not the paper's method.") in joined
    assert "``" not in out and "**" not in out
    for name, cls in REGISTRY.items():  # every first paragraph without markup, whole
        first = " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())
        if "`" not in first and "*" not in first:
            assert first in joined, name
