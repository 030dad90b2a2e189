"""The automatic figure check (tests/figure_check.py) fails on what it is meant to catch."""

from __future__ import annotations

import numpy as np
import pytest

from landscape.plot._style import plt
from tests.figure_check import check_figure, figure_problems


def _labelled():
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([1, 2, 3], [1, 10, 100])
    ax.set(xlabel="x", ylabel="y")
    return fig, ax


def test_a_clean_figure_passes() -> None:
    fig, _ = _labelled()
    fig.tight_layout()
    assert figure_problems(fig) == []
    plt.close(fig)


def test_overlap_clipping_labels_and_log_scale_are_caught() -> None:
    fig, ax = _labelled()
    ax.text(2, 50, "one", fontsize=20)
    ax.text(2, 50, "two", fontsize=20)
    ax.text(-5, 50, "outside the canvas", transform=ax.transAxes)
    ax.set_yscale("log")
    other = fig.add_axes((0.6, 0.6, 0.2, 0.2))
    other.plot([0, 1], [0, 1])
    problems = "\n".join(figure_problems(fig))
    assert "'one' and 'two' overlap" in problems
    assert "'outside the canvas' is clipped" in problems
    assert "log y axis whose label 'y' does not say so" in problems
    assert "no x label" in problems and "no y label" in problems
    with pytest.raises(AssertionError, match="figure check failed"):
        check_figure(fig)
    plt.close(fig)


def test_saving_runs_the_check(tmp_path) -> None:
    from landscape.plot import save

    fig, ax = _labelled()
    ax.set_yscale("symlog")
    with pytest.raises(AssertionError, match="symlog y axis"):
        save(fig, tmp_path / "f.png")
    plt.close(fig)
    assert not (tmp_path / "f.png").exists()


def test_surface_levels_resolve_the_basin() -> None:
    from landscape.flatness.plots import basin_levels

    x = np.linspace(-1, 1, 21)
    z = 0.1 + np.add.outer(x**2, x**2) ** 2  # a flat-bottomed basin
    levels = basin_levels(z, 12)
    inside = ((levels > z.min()) & (levels < z.min() + 0.01 * np.ptp(z))).sum()
    assert levels[0] > z.min() and levels[-1] == pytest.approx(z.max())
    assert inside >= 4  # linear levels would put none within 1% of the range above the minimum
