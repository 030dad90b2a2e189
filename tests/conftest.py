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
