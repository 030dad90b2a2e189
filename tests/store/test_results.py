"""Results round-trip through the ``to_arrays``/``from_arrays`` protocol; the reader API."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from landscape.errors import StoreError
from landscape.store import (
    Study,
    list_runs,
    load_result,
    read_arrays,
    read_group_attrs,
    register_result,
    run_attrs,
    save_result,
)


@register_result  # a user's result class is read back once registered
@dataclass(frozen=True)
class Curve:
    sigmas: np.ndarray
    samples: np.ndarray
    noise: str

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return {"sigmas": self.sigmas, "samples": self.samples}, {"noise": self.noise}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], attrs: dict[str, Any]) -> Curve:
        return cls(arrays["sigmas"], arrays["samples"], attrs["noise"])


def test_result_round_trip_and_readers(study_path: Path) -> None:
    curve = Curve(np.linspace(0, 1, 5), np.random.default_rng(0).random((5, 3000)), "additive")
    with Study(study_path, "a") as study:
        group = study.create_run("r", {"seed": 1})
        save_result(group.require_group("measurements"), "energy", curve, attrs={"seed": 4})
    with Study(study_path) as study:
        back = load_result(study.file["runs/r/measurements/energy"])
    assert isinstance(back, Curve) and back.noise == "additive"
    np.testing.assert_array_equal(back.samples, curve.samples)
    assert list_runs(study_path) == ["r"]
    assert run_attrs(study_path, "r")["seed"] == 1
    assert read_group_attrs(study_path, "runs/r/measurements/energy")["seed"] == 4
    np.testing.assert_array_equal(read_arrays(study_path, "runs/r/measurements/energy")["sigmas"],
                                  curve.sigmas)
    with pytest.raises(StoreError, match="no group"):
        read_arrays(study_path, "runs/r/nothing")
    with Study(study_path, "a") as study, pytest.raises(StoreError, match="exists already"):
        save_result(study.file["runs/r/measurements"], "energy", curve, overwrite=False)
