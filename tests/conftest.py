"""Shared fixtures: tiny in-memory datasets and temporary study paths."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from landscape.data._dataset import LabelledDataset
from tests.helpers import blobs

# Tiny models run fastest on one thread, and a second thread only adds contention on CI.
torch.set_num_threads(1)


@pytest.fixture
def data() -> tuple[LabelledDataset, LabelledDataset]:
    return blobs(120, seed=0), blobs(60, seed=1, name="blobs/test")


@pytest.fixture
def study_path(tmp_path: Path) -> Path:
    return tmp_path / "study.h5"


@pytest.fixture(autouse=True)
def _check_saved_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every figure a test saves passes :func:`tests.figure_check.check_figure` (no overlapping
    or clipped text, labelled axes, log axes that say so)."""
    from matplotlib.figure import Figure

    from tests.figure_check import check_figure

    savefig = Figure.savefig

    def checked(self: Figure, *args, **kwargs):
        check_figure(self)
        return savefig(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", checked)
