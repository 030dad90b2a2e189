"""The flatness figure draws a width beyond the curve's σ range on its own evidence."""

from __future__ import annotations

from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from landscape.cli.flatness import _draw_width
from tests.figure_check import check_figure


def test_width_beyond_the_curve_is_drawn_with_its_search_points() -> None:
    sigmas = np.array([0.0, 0.1, 0.3])
    width = SimpleNamespace(width=0.9, ci_low=0.8, ci_high=1.0, bracketed=True,
                            sigmas=np.array([0.5, 0.8, 0.9, 1.0, 2.0]),
                            delta=np.array([0.2, 0.45, 0.5, 0.55, 0.7]),
                            stderr=np.full(5, 0.01))
    fig, ax = plt.subplots(figsize=(5, 4.8))
    ax.plot(sigmas, [0.0, 0.05, 0.13], label="δE (error)")
    ax.set_xlabel("σ")
    ax.set_ylabel("δ training error")
    _draw_width(ax, width, 0.5)
    fig.tight_layout()
    markers = [c for c in ax.containers if type(c).__name__ == "ErrorbarContainer"]
    assert len(markers) == 1
    x, y = markers[0].lines[0].get_data()
    assert np.allclose(x, width.sigmas) and np.allclose(y, width.delta)
    assert ax.get_xlim()[1] >= 2.0  # the search points, not only the curve, set the range
    check_figure(fig)
    plt.close(fig)


def test_width_not_bracketed_is_said_in_the_legend() -> None:
    width = SimpleNamespace(width=float("nan"), ci_low=float("nan"), ci_high=float("nan"),
                            bracketed=False, sigmas=np.array([0.1, 2.0]),
                            delta=np.array([0.01, 0.02]), stderr=np.array([0.01, 0.01]))
    fig, ax = plt.subplots(figsize=(5, 4.8))
    ax.plot([0.0, 0.1], [0.0, 0.01])
    ax.set_xlabel("σ")
    ax.set_ylabel("δ training error")
    _draw_width(ax, width, 0.5)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("not bracketed" in t for t in labels)
    plt.close(fig)
