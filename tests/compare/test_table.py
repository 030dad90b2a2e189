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


def test_granulated_table() -> None:
    from landscape.compare import granulated_kendall, granulated_table

    r = granulated_kendall([3.0, 4.0, 1.0, 2.0], [0.1, 0.2, 0.3, 0.4],
                           {"objective": ["a", "a", "b", "b"], "lr": [1, 2, 1, 2]},
                           num_bootstrap=50, measure="width", gap="error_gap")
    text = granulated_table([r], {"lr": "learning rate"})
    header, _, row = text.splitlines()
    assert "Ψ [95% CI]" in header and "ψ learning rate [95% CI] (groups)" in header
    assert "| width " in row and "error gap" in row
    assert "0.00 [0.00, 0.00]" in row  # Ψ: (−1 + 1) / 2 in every resample
    assert "-1.00 [-1.00, -1.00] (2)" in row and " 1.00 [1.00, 1.00] (2)" in row
