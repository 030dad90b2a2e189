"""Study files of schema 1 are read in place and upgraded in place with nothing lost.

``tests/fixtures/schema1.h5`` was written by the code of commit 5c232cb (schema 1): two tiny
runs on the Gaussian mixture, ``ce-0`` measured by ``measure_minimum`` with the ``TINY`` preset,
``mse-0`` by ``landscape flatness --sigmas 0,0.1,0.2 --draws 4`` (its last σ then marked not
written, as if killed) and ``landscape hessian --topk 2 --trace``; trajectories removed and
the file compacted.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

import landscape.compare.builtin_flatness as BF
from landscape.cli import main
from landscape.compare import DEFAULT_MEASURES, load_minimum, measure_minimum
from landscape.compare.legacy import needs_upgrade
from landscape.store import Study
from landscape.store.measurements import list_variants
from tests.compare.conftest import TINY

FIXTURE = Path(__file__).parents[1] / "fixtures" / "schema1.h5"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def old(tmp_path: Path) -> Path:
    path = tmp_path / "old.h5"
    shutil.copy(FIXTURE, path)
    return path


def _stored(path: Path) -> dict[str, np.ndarray]:
    """Numbers as schema 1 stored them, read with h5py."""
    with h5py.File(path) as f:
        m = f["runs/ce-0/measurements"]
        return {"top": m["hessian/top/eigenvalues"][()],
                "width": m["flatness/width"].attrs["width"],
                "le": m["local_energy/error"][()], "phi": m["local_entropy/phi_excess"][()],
                "mse_top": f["runs/mse-0/measurements/hessian/top/eigenvalues"][()],
                "mse_le": f["runs/mse-0/measurements/local_energy-multiplicative/loss"][()]}


def test_read_in_place_without_changing_the_file(old: Path) -> None:
    want, digest = _stored(old), _digest(old)
    assert needs_upgrade(old)
    got = load_minimum(old, "ce-0", config=TINY)
    np.testing.assert_array_equal(got.spectrum.top.eigenvalues, want["top"])
    assert got.width.width == want["width"]
    np.testing.assert_array_equal(got.local_energy.error_samples, want["le"])
    np.testing.assert_array_equal(got.local_entropy.phi_excess, want["phi"])
    assert set(got.results) == set(DEFAULT_MEASURES)
    # a writer with everything stored reads it back too: nothing computed, nothing written
    again = measure_minimum(old, "ce-0", config=TINY)
    assert again.recomputed == () and again.scalars() == got.scalars()
    assert _digest(old) == digest


def test_upgrade_converts_everything_and_nothing_is_recomputed(
        old: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    want = _stored(old)
    before = load_minimum(old, "ce-0", config=TINY).scalars()
    assert main(["upgrade", str(old)]) == 0
    assert "10 result(s) upgraded" in capsys.readouterr().out
    assert not needs_upgrade(old)
    with Study(old) as study:
        assert study.attrs["schema_version"] == 2
        ce = list_variants(study, "ce-0")
        mse = {v.measure: v for v in list_variants(study, "mse-0")}
        assert set(study.run("ce-0")["measurements"]) == {v.measure for v in ce}
    assert sorted(v.measure for v in ce) == sorted(set(DEFAULT_MEASURES) - {"gap"})
    assert all(v.complete for v in ce)
    assert set(mse) == {"local_energy", "hessian_top", "hessian_trace"}
    assert not mse["local_energy"].complete  # the interrupted curve is a checkpoint now
    after = load_minimum(old, "ce-0", config=TINY)
    assert after.scalars() == before
    np.testing.assert_array_equal(after.spectrum.top.eigenvalues, want["top"])
    assert measure_minimum(old, "ce-0", config=TINY).recomputed == ()
    # the commands that made mse-0's results read them back, or resume them
    assert main(["hessian", str(old), "--run", "mse-0", "--topk", "2", "--trace",
                 "--plot", str(old.with_suffix(".png"))]) == 0
    assert "computed nothing (all stored)" in capsys.readouterr().out
    sigmas: list[float] = []
    original = BF.local_energy

    def counted(*args, **kwargs):
        ck = kwargs["checkpoint"].load()
        sigmas.extend(np.asarray(args[3])[ck["done"] == 0].tolist())
        return original(*args, **kwargs)
    monkeypatch.setattr(BF, "local_energy", counted)
    assert main(["flatness", str(old), "--run", "mse-0", "--sigmas", "0,0.1,0.2", "--draws",
                 "4", "--quiet", "--plot", str(old.with_suffix(".png"))]) == 0
    assert sigmas == [0.2]  # only the σ the killed run had not written
    m = load_minimum(old, "mse-0", measures=["local_energy"], dtype="float32",
                     settings={"local_energy": {"sigmas": [0.0, 0.1, 0.2], "num_draws": 4,
                                                "reference_sigma": 0.2}})
    np.testing.assert_array_equal(m.local_energy.samples[:2], want["mse_le"][:2])
    assert main(["upgrade", str(old)]) == 0  # again: nothing to do
    assert "0 result(s) upgraded" in capsys.readouterr().out
