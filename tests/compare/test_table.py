"""Markdown tables of the measures and of their correlations."""

from __future__ import annotations

import pytest

from landscape.compare import correlation_table, kendall_tau, measures_table
from landscape.compare.correlation import StatisticsWarning
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
    c = kendall_tau([1, 2, 3, 4, 5, 6, 7], [1, 3, 2, 4, 5, 6, 7], num_bootstrap=500,
                    measure="width", gap="error_gap")
    text = correlation_table([c])
    assert "95% CI" in text.splitlines()[0]
    assert "| width " in text and "error gap" in text and "0.90" in text
    assert "0.0028 (exact)" in text  # 2·7/5040: the permutation p-value, never "0.00"
    assert "degenerate" not in text and "‡" not in text


def test_correlation_table_marks_what_cannot_be_trusted() -> None:
    """4 runs: no "[1, 1]" interval and no p-value; a perfect ranking: a degenerate interval,
    said so; a borderline case: the disagreement, said so. Each mark has its footnote."""
    with pytest.warns(StatisticsWarning):
        four = kendall_tau([1, 2, 3, 4], [1, 2, 3, 4], measure="width", gap="error_gap")
    perfect = kendall_tau(range(7), range(7), measure="width", gap="loss_gap")
    border = kendall_tau([1, 2, 3, 4, 5, 6], [1.0, 2.5, 2.0, 4.0, 6.0, 5.5],
                         num_bootstrap=500, measure="sharpness", gap="error_gap")
    lines = correlation_table([four, perfect, border]).splitlines()
    assert "no CI (n < 5 runs)" in lines[2] and "[1" not in lines[2]
    assert lines[2].split("|")[5].strip() == "n/a"  # no p-value
    assert "[1.00, 1.00] (degenerate)" in lines[3] and "4.0e-04 (exact)" in lines[3]
    assert "0.056 (exact) ‡" in lines[4]
    assert lines[5] == "" and lines[6].startswith("(degenerate): every bootstrap resample")
    assert lines[7].startswith("‡: the permutation p-value and the bootstrap interval")


def test_granulated_table() -> None:
    from landscape.compare import granulated_kendall, granulated_table

    args = ([3.0, 4.0, 1.0, 2.0], [0.1, 0.2, 0.3, 0.4],
            {"objective": ["a", "a", "b", "b"], "lr": [1, 2, 1, 2]})
    with pytest.warns(StatisticsWarning):
        r = granulated_kendall(*args, num_bootstrap=50, measure="width", gap="error_gap")
    text = granulated_table([r], {"lr": "learning rate"})
    header, _, row = text.splitlines()
    assert "Ψ [95% CI]" in header and "ψ learning rate [95% CI] (groups)" in header
    assert "| width " in row and "error gap" in row
    # two groups per axis: the values, but no "[-1.00, -1.00]" interval
    assert "0.00 no CI (an axis has too few groups)" in row
    assert "-1.00 no CI (2 groups < 10)" in row and " 1.00 no CI (2 groups < 10)" in row
    # with the threshold lowered explicitly the intervals are points, marked as such
    low = granulated_kendall(*args, num_bootstrap=50, measure="width", gap="error_gap",
                             min_groups=2)
    lines = granulated_table([low]).splitlines()
    assert "0.00 [0.00, 0.00] (degenerate)" in lines[2]
    assert "-1.00 [-1.00, -1.00] (degenerate) (2)" in lines[2]
    assert lines[4].startswith("(degenerate): every bootstrap resample")
