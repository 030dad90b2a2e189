"""measure_minimum: everything is stored in the study, and a second call recomputes nothing."""

from __future__ import annotations

import dataclasses
import importlib
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import landscape.compare.measures as M
import landscape.hessian.study as HS
from landscape.cli import main
from landscape.compare import (
    GAPS,
    SCALAR_MEASURES,
    STAGES,
    MeasureConfig,
    generalisation_gap,
    measure_minimum,
)
from landscape.errors import ConfigError, StoreError
from landscape.store import Study, read_history
from tests.compare.conftest import TINY

# the modules, not the functions of the same names that landscape.flatness exports
LE = importlib.import_module("landscape.flatness.local_energy")
LS = importlib.import_module("landscape.flatness.local_entropy")


def _count_calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Wrap every estimator that does real work with a call counter."""
    counts: dict[str, int] = {}
    targets = [(LE._LocalEnergy, "sigma"), (M, "flat_minimum_width"), (M, "sharpness"),
               (LS, "local_entropy"), (LS, "_local_entropy"), (HS, "eigenvalues"),
               (HS, "trace"), (HS, "spectral_density")]
    for owner, name in targets:
        original = getattr(owner, name, None)
        if original is None:  # a private helper this version of the module does not have
            continue

        def counted(*args, _f=original, _n=name, **kwargs):
            counts[_n.lstrip("_")] = counts.get(_n.lstrip("_"), 0) + 1
            return _f(*args, **kwargs)
        monkeypatch.setattr(owner, name, counted)
    return counts


def _created(path: Path, run: str) -> dict[str, str]:
    """The ``created`` stamp of every stored result of ``run`` (rewritten by every save)."""
    out = {}
    with Study(path) as study:
        study.run(run)["measurements"].visititems(
            lambda name, obj: out.__setitem__(name, str(obj.attrs["created"]))
            if "created" in obj.attrs else None)
    return out


def test_measure_minimum_stores_everything_and_a_rerun_computes_nothing(
        tiny_study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "s.h5"
    shutil.copy(tiny_study, path)
    counts = _count_calls(monkeypatch)
    stages: list[str] = []
    first = measure_minimum(path, "ce-0", config=TINY, on_stage=stages.append)
    assert first.recomputed == STAGES and tuple(stages) == STAGES
    assert set(counts) == {"sigma", "flat_minimum_width", "sharpness", "local_entropy",
                           "eigenvalues", "trace", "spectral_density"}
    with Study(path) as study:
        meas = study.run("ce-0")["measurements"]
        assert {"local_energy", "flatness", "local_entropy", "hessian"} <= set(meas)
        assert {"width", "sharpness"} <= set(meas["flatness"])
        assert {"top", "trace", "density"} <= set(meas["hessian"])
        assert meas["flatness"]["indices"].shape == (TINY.num_samples,)
        for result in ("local_energy", "flatness/width", "flatness/sharpness", "local_entropy",
                       "hessian/top", "hessian/trace", "hessian/density"):
            assert meas[result].attrs["device"] == "cpu", result
    stamps = _created(path, "ce-0")
    assert {"flatness/width", "local_entropy", "hessian/top"} <= set(stamps)
    counts.clear()
    second = measure_minimum(path, "ce-0", config=TINY)
    assert second.recomputed == () and counts == {}
    assert _created(path, "ce-0") == stamps
    assert second.width.width == first.width.width or (
        math.isnan(second.width.width) and math.isnan(first.width.width))
    assert second.sharpness.delta_loss == first.sharpness.delta_loss
    np.testing.assert_array_equal(second.local_energy.error_samples,
                                  first.local_energy.error_samples)
    np.testing.assert_array_equal(second.local_entropy.phi_excess,
                                  first.local_entropy.phi_excess)
    np.testing.assert_array_equal(second.spectrum.top.eigenvalues,
                                  first.spectrum.top.eigenvalues)
    assert second.scalars() == pytest.approx(first.scalars(), nan_ok=True)


def test_load_minimum_reads_what_was_measured_without_the_writer(
        measured: list, tiny_study: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    from landscape.compare import load_minimum
    from tests.helpers import REPO

    # another process holds the writer lock of the study: reading goes on regardless
    hold = ("import sys, time\nfrom landscape.store.writer import single_writer\n"
            "with single_writer(sys.argv[1]):\n    print('locked', flush=True)\n"
            "    time.sleep(120)\n")
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-c", hold, str(tiny_study)],
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        for want in measured:
            got = load_minimum(tiny_study, want.run, config=TINY)
            assert got.recomputed == () and (got.objective, got.seed) == (want.objective,
                                                                          want.seed)
            assert got.scalars() == pytest.approx(want.scalars(), nan_ok=True)
            np.testing.assert_array_equal(got.local_energy.samples,
                                          want.local_energy.samples)
            np.testing.assert_array_equal(got.spectrum.density.nodes,
                                          want.spectrum.density.nodes)
            assert got.spectrum.num_params == want.spectrum.num_params
            assert got.spectrum.num_samples == want.spectrum.num_samples == TINY.num_samples
            assert got.gap == want.gap
    finally:
        proc.kill()
        proc.wait()
    # other settings, another run's weights, an unmeasured run: refused, naming what differs
    with pytest.raises(StoreError, match=r"sharpness \(rho\).*local_entropy \(num_chains\)"):
        load_minimum(tiny_study, "ce-0", config=dataclasses.replace(
            TINY, rho=1.0, entropy_chains=TINY.entropy_chains + 1))
    with pytest.raises(StoreError, match="hessian top \\(k\\)"):
        load_minimum(tiny_study, "ce-0", config=dataclasses.replace(TINY, topk=3))
    with pytest.raises(StoreError, match=r"local_energy \(num_data\).*hessian top "
                                         r"\(num_samples\)"):  # measured on other data
        load_minimum(tiny_study, "ce-0", config=dataclasses.replace(TINY, num_samples=300))
    assert load_minimum(tiny_study, "ce-0", config=dataclasses.replace(TINY, num_samples=200))
    path = tmp_path / "s.h5"
    shutil.copy(tiny_study, path)
    with Study(path, "a") as study:
        del study.run("ce-1")["measurements"]["hessian"]
        study.run("ce-1")["measurements"]["local_entropy"].attrs["partial"] = True
    with pytest.raises(StoreError, match=r"\['local_entropy', 'hessian'\] missing"):
        load_minimum(path, "ce-1", config=TINY)
    with Study(path, "a") as study:
        study.run("mse-0").attrs["param_hash"] = "0" * 16  # as if retrained to other weights
    with pytest.raises(StoreError, match="param_hash"):
        load_minimum(path, "mse-0", config=TINY)


def test_the_result_holds_every_measure(measured: list) -> None:
    r = measured[0]
    assert (r.run, r.objective, r.seed) == ("ce-0", "ce", 0)
    assert r.local_energy.sigmas.tolist() == list(TINY.sigmas)
    assert r.local_energy.num_samples == TINY.num_draws
    assert r.width.quantity == "error" and r.width.threshold == TINY.width_threshold
    assert r.sharpness.rho == TINY.rho and r.sharpness.steps == TINY.sharpness_steps
    assert r.local_entropy.gammas.tolist() == list(TINY.gammas)
    assert r.spectrum.top.eigenvalues.shape == (TINY.topk,)
    assert r.spectrum.density.num_probes == TINY.density_probes
    s = r.scalars()
    assert set(s) == {m.key for m in SCALAR_MEASURES} | {g.key for g in GAPS}
    assert s["lambda_max"] == r.spectrum.top.eigenvalues[0]
    assert s["sharpness"] == pytest.approx(r.sharpness.delta_loss)
    assert all(math.isfinite(v) for k, v in s.items() if k != "width")


def test_other_settings_raise_unless_overwrite(tiny_study: Path, tmp_path: Path) -> None:
    path = tmp_path / "s.h5"
    shutil.copy(tiny_study, path)
    measure_minimum(path, "mse-0", config=TINY)
    other = dataclasses.replace(TINY, rho=2 * TINY.rho)
    with pytest.raises(StoreError, match="sharpness"):
        measure_minimum(path, "mse-0", config=other)
    again = measure_minimum(path, "mse-0", config=other, overwrite=True)
    assert again.sharpness.rho == 2 * TINY.rho and again.recomputed == ("sharpness",)
    more = dataclasses.replace(other, gammas=(1e3, 3e4), num_draws=TINY.num_draws + 2)
    third = measure_minimum(path, "mse-0", config=more, overwrite=True)
    assert third.recomputed == ("local_energy", "local_entropy")  # width's draws are its own
    assert third.local_energy.num_samples == TINY.num_draws + 2
    fewer = dataclasses.replace(more, topk=TINY.topk - 1)
    with pytest.raises(StoreError, match="hessian/top"):
        measure_minimum(path, "mse-0", config=fewer)
    assert measure_minimum(path, "mse-0", config=fewer, overwrite=True).recomputed == ("hessian",)


def test_gap_comes_from_the_history_and_uses_clean_labels_under_noise(
        tiny_study: Path, tmp_path: Path) -> None:
    g = generalisation_gap(tiny_study, "ce-0")
    h = read_history(tiny_study, "ce-0")
    assert not g.clean_labels
    assert g.error_gap == pytest.approx(h["train_acc"][-1] - h["test_acc"][-1])
    assert g.loss_gap == pytest.approx(h["test_loss"][-1] - h["train_loss"][-1])
    noisy = tmp_path / "noisy.h5"
    assert main(["train", "--dataset", "gaussian-mixture", "--width", "6", "--depth", "1",
                 "--epochs", "2", "--label-noise", "symmetric:0.3", "--out", str(noisy),
                 "--run", "n", "--quiet"]) == 0
    g = generalisation_gap(noisy, "n")
    h = read_history(noisy, "n")
    assert g.clean_labels and g.train_error == pytest.approx(1 - h["train_acc_clean"][-1])
    assert g.train_loss == pytest.approx(h["train_loss_clean"][-1])


def test_config_checks_and_presets() -> None:
    assert MeasureConfig.quick().num_samples == 400
    assert MeasureConfig().to_dict()["sigmas"] == list(MeasureConfig().sigmas)
    with pytest.raises(ConfigError, match="reference_sigma"):
        MeasureConfig(reference_sigma=0.25)
    with pytest.raises(ConfigError, match="positive integers"):
        MeasureConfig(num_draws=0)
    with pytest.raises(ConfigError, match="gammas"):
        MeasureConfig(gammas=())


@pytest.mark.gpu
@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs CUDA")
def test_measure_minimum_on_cuda_agrees_with_the_cpu(measured: list, tiny_study: Path,
                                                     tmp_path: Path) -> None:
    import h5py

    path = tmp_path / "s.h5"
    shutil.copy(tiny_study, path)
    cpu = measured[0]  # measured into tiny_study: the copy's measurements are removed
    with h5py.File(path, "a") as f:
        del f["runs/ce-0/measurements"]
    gpu = measure_minimum(path, "ce-0", config=TINY, device="cuda")
    assert gpu.recomputed == STAGES
    with Study(path) as study:
        meas = study.run("ce-0")["measurements"]
        for result in ("local_energy", "flatness/width", "flatness/sharpness", "local_entropy",
                       "hessian/top", "hessian/trace", "hessian/density"):
            assert meas[result].attrs["device"].startswith("cuda"), result
    # the same noise draws and Hessian probes (drawn on the CPU), float32 rounding apart
    np.testing.assert_allclose(gpu.local_energy.samples, cpu.local_energy.samples, rtol=1e-4,
                               atol=1e-6)
    assert np.mean(np.abs(gpu.local_energy.error_samples - cpu.local_energy.error_samples)) \
        <= 1 / TINY.num_samples
    assert gpu.sharpness.delta_loss == pytest.approx(cpu.sharpness.delta_loss, rel=1e-3, abs=1e-6)
    np.testing.assert_allclose(gpu.spectrum.top.eigenvalues, cpu.spectrum.top.eigenvalues,
                               rtol=1e-3)
    assert gpu.spectrum.trace.estimate == pytest.approx(cpu.spectrum.trace.estimate, rel=1e-3)
    assert np.all(np.isfinite(gpu.local_entropy.phi_excess))


def test_has_long_stages_sees_a_missing_hessian_result(measured: list, tiny_study: Path,
                                                       tmp_path: Path) -> None:
    import h5py

    from landscape.compare import has_long_stages

    path = tmp_path / "s.h5"
    shutil.copy(tiny_study, path)
    assert has_long_stages(path, "ce-0")
    with h5py.File(path, "a") as f:
        del f["runs/ce-0/measurements/hessian/density"]  # interrupted after top and trace
    assert not has_long_stages(path, "ce-0")
    assert has_long_stages(path, "mse-0")  # the other runs are untouched
    with h5py.File(path, "a") as f:
        f["runs/ce-1/measurements/local_entropy"].attrs["partial"] = True
    assert not has_long_stages(path, "ce-1")
