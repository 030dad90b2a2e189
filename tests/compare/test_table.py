"""Markdown tables of the measures and of their correlations."""

from __future__ import annotations

from landscape.compare import correlation_table, kendall_tau, measures_table
from landscape.compare.table import markdown


def test_markdown_pads_and_aligns() -> None:
    text = markdown(["a", "bb"], [["x", "1"], ["yyy", "22"]])
    lines = text.splitlines()
    assert lines[0] == "| a   | bb |" and lines[1] == "|:----|---:|"
    assert lines[3] == "| yyy | 22 |"
    assert len({len(line) for line in lines}) == 1


def test_measures_table_has_a_row_per_run(measured: list) -> None:
    text = measures_table(measured)
    lines = text.splitlines()
    assert len(lines) == 2 + len(measured)
    assert "width" in lines[0] and "λ_max" in lines[0] and "error gap" in lines[0]
    assert all(r.run in text for r in measured)


def test_correlation_table() -> None:
    c = kendall_tau([1, 2, 3, 4], [1, 3, 2, 4], num_bootstrap=100, measure="width",
                    gap="error_gap")
    text = correlation_table([c])
    assert "95% CI" in text.splitlines()[0]
    assert "| width " in text and "error gap" in text and "0.67" in text
