"""measure_minimum: every measure stored under its settings; settings coexist; nothing replaced
unless asked; a rerun computes nothing; a user measure behaves like a built-in."""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

import landscape.compare.builtin_flatness as BF
import landscape.compare.builtin_hessian as BH
from landscape.cli import main
from landscape.compare import (
    DEFAULT_MEASURES,
    MeasureConfig,
    generalisation_gap,
    load_minimum,
    measure_minimum,
    register_measure,
    registry,
)
from landscape.errors import ConfigError, StoreError
from landscape.store import Study, read_history
from landscape.store.measurements import list_variants
from tests.compare.conftest import TINY

BUILTIN = ("local_energy", "width", "sharpness", "local_entropy", "hessian_top",
           "hessian_trace", "hessian_density")


def _count_calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Wrap every estimator the built-in measures call with a call counter."""
    counts: dict[str, int] = {}
    for owner, name in [(BF, "local_energy"), (BF, "flat_minimum_width"), (BF, "sharpness"),
                        (BF, "local_entropy"), (BH, "eigenvalues"), (BH, "trace"),
                        (BH, "spectral_density")]:
        original = getattr(owner, name)

        def counted(*args, _f=original, _n=name, **kwargs):
            counts[_n] = counts.get(_n, 0) + 1
            return _f(*args, **kwargs)
        monkeypatch.setattr(owner, name, counted)
    return counts


def _created(path: Path, run: str) -> dict[str, str]:
    """The ``created`` stamp of every stored variant of ``run`` (rewritten by every commit)."""
    with Study(path) as study:
        return {f"{v.measure}/{v.key}": v.created for v in list_variants(study, run)}


def _copy(tiny_study: Path, tmp_path: Path) -> Path:
    path = tmp_path / "s.h5"
    shutil.copy(tiny_study, path)
    return path


def test_everything_is_stored_and_a_rerun_computes_nothing(
        tiny_study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _copy(tiny_study, tmp_path)
    counts = _count_calls(monkeypatch)
    stages: list[str] = []
    first = measure_minimum(path, "ce-0", config=TINY, on_stage=stages.append)
    assert first.recomputed == BUILTIN and sorted(stages) == sorted(DEFAULT_MEASURES)
    assert set(counts) == {"local_energy", "flat_minimum_width", "sharpness", "local_entropy",
                           "eigenvalues", "trace", "spectral_density"}
    with Study(path) as study:
        variants = list_variants(study, "ce-0")
    assert sorted(v.measure for v in variants) == sorted(BUILTIN)
    assert all(v.complete and v.device == "cpu" for v in variants)
    assert {v.identity["num_data"] for v in variants} == {TINY.num_samples}
    stamps = _created(path, "ce-0")
    counts.clear()
    second = measure_minimum(path, "ce-0", config=TINY)
    assert second.recomputed == () and counts == {}
    assert _created(path, "ce-0") == stamps
    np.testing.assert_array_equal(second.local_energy.error_samples,
                                  first.local_energy.error_samples)
    np.testing.assert_array_equal(second.local_entropy.phi_excess,
                                  first.local_entropy.phi_excess)
    np.testing.assert_array_equal(second.spectrum.top.eigenvalues,
                                  first.spectrum.top.eigenvalues)
    assert second.scalars() == pytest.approx(first.scalars(), nan_ok=True)


def test_other_settings_coexist_and_overwrite_replaces_only_what_is_asked(
        tiny_study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _copy(tiny_study, tmp_path)
    base = measure_minimum(path, "mse-0", config=TINY)
    stamps = _created(path, "mse-0")
    # another k of the Hessian's top and another ρ: computed and stored beside the first ones
    more = measure_minimum(path, "mse-0", config=TINY,
                           settings={"hessian_top": {"k": 3}, "sharpness": {"rho": 1.0}})
    assert more.recomputed == ("sharpness", "hessian_top")
    assert more.spectrum.top.eigenvalues.shape == (3,) and more.sharpness.rho == 1.0
    after = _created(path, "mse-0")
    assert {k: after[k] for k in stamps} == stamps and len(after) == len(stamps) + 2
    # both read back, each by its own settings, without computing
    counts = _count_calls(monkeypatch)
    again = measure_minimum(path, "mse-0", config=TINY)
    assert again.recomputed == () and counts == {}
    assert again.spectrum.top.eigenvalues.shape == (TINY.topk,)
    np.testing.assert_array_equal(again.spectrum.top.eigenvalues, base.spectrum.top.eigenvalues)
    k3 = load_minimum(path, "mse-0", config=TINY, measures=["hessian_top"],
                      settings={"hessian_top": {"k": 3}})
    np.testing.assert_array_equal(k3.spectrum.top.eigenvalues, more.spectrum.top.eigenvalues)
    # the data size is part of what a result is: another subset is another result
    other_n = dataclasses.replace(TINY, num_samples=150)
    assert measure_minimum(path, "mse-0", config=other_n,
                           measures=["sharpness"]).recomputed == ("sharpness",)
    # overwrite one measure: only its result of these settings is rewritten
    before = _created(path, "mse-0")
    time.sleep(1.05)  # the stamps have a resolution of one second
    redo = measure_minimum(path, "mse-0", config=TINY, overwrite=["sharpness"])
    assert redo.recomputed == ("sharpness",)
    after = _created(path, "mse-0")
    changed = {k for k in before if before[k] != after[k]}
    assert len(changed) == 1 and changed.pop().startswith("sharpness/")


def test_load_minimum_reads_without_the_writer_and_names_what_is_missing(
        measured: list, tiny_study: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.helpers import REPO

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
            np.testing.assert_array_equal(got.spectrum.density.nodes,
                                          want.spectrum.density.nodes)
            assert got.gap == want.gap
    finally:
        proc.kill()
        proc.wait()
    with pytest.raises(StoreError, match=r"sharpness \(stored: sharpness \[\w+\] .*rho=0\.2"):
        load_minimum(tiny_study, "ce-0", config=dataclasses.replace(TINY, rho=1.0))
    with pytest.raises(StoreError, match="hessian_top"):
        load_minimum(tiny_study, "ce-0", config=dataclasses.replace(TINY, topk=3))
    path = _copy(tiny_study, tmp_path)
    with Study(path, "a") as study:
        study.run("mse-0").attrs["param_hash"] = "0" * 16  # as if retrained to other weights
    with pytest.raises(StoreError, match="local_energy"):
        load_minimum(path, "mse-0", config=TINY)


def test_the_result_holds_every_measure_and_its_intervals(measured: list) -> None:
    r = measured[0]
    assert (r.run, r.objective, r.seed) == ("ce-0", "ce", 0)
    assert r.local_energy.sigmas.tolist() == list(TINY.sigmas)
    assert r.width.quantity == "error" and r.width.threshold == TINY.width_threshold
    assert r.sharpness.rho == TINY.rho and r.sharpness.steps == TINY.sharpness_steps
    assert r.local_entropy.gammas.tolist() == list(TINY.gammas)
    assert r["hessian_top"].eigenvalues.shape == (TINY.topk,)
    s = r.scalars()
    assert set(s) == {x.key for x in registry.scalars(DEFAULT_MEASURES)}
    assert s["lambda_max"] == r.spectrum.top.eigenvalues[0]
    assert s["error_gap"] == r.gap.error_gap
    ci = r.intervals()
    assert set(ci) == {"local_energy_error", "local_energy_loss", "width", "local_entropy",
                       "trace"}
    lo, hi = ci["trace"]
    assert lo < s["trace"] < hi


def test_a_registered_measure_is_computed_stored_and_read_back(tiny_study: Path,
                                                               tmp_path: Path) -> None:
    path = _copy(tiny_study, tmp_path)
    calls: list[float] = []

    def weight_norm(model, loss_fn, batches, *, p: float = 2.0) -> dict[str, float]:
        """The weights' p-norm (and the data's size)"""
        calls.append(p)
        flat = np.concatenate([w.detach().numpy().ravel() for w in model.parameters()])
        return {"norm": float(np.linalg.norm(flat, ord=p)),
                "n": float(sum(len(y) for _, y in batches))}

    m = register_measure("test_weight_norm", weight_norm, flatter="lower", replace=True)
    assert m.defaults == {"p": 2.0} and m.scalars[0].description.startswith("The weights'")
    try:
        r = measure_minimum(path, "ce-0", config=TINY, measures=["test_weight_norm", "gap"])
        assert r.recomputed == ("test_weight_norm",) and calls == [2.0]
        assert r.scalars()["test_weight_norm.n"] == TINY.num_samples
        again = measure_minimum(path, "ce-0", config=TINY,
                                measures=["test_weight_norm", "gap"])
        assert again.recomputed == () and calls == [2.0]
        assert again.scalars() == r.scalars()
        one = measure_minimum(path, "ce-0", config=TINY, measures=["test_weight_norm"],
                              settings={"test_weight_norm": {"p": 1.0}})
        assert calls == [2.0, 1.0]
        assert one.scalars()["test_weight_norm.norm"] > r.scalars()["test_weight_norm.norm"]
        with pytest.raises(ConfigError, match="no setting"):
            measure_minimum(path, "ce-0", measures=["test_weight_norm"],
                            settings={"test_weight_norm": {"q": 1}})
    finally:
        registry.MEASURES.pop("test_weight_norm", None)
    with pytest.raises(ConfigError, match="needs a default"):
        register_measure("bad", lambda model, loss_fn, batches, x: 0.0)
    with pytest.raises(ConfigError, match="did you mean local_energy"):
        registry.get("local_enrgy")


def test_the_literature_measures_run_through_the_registry(tiny_study: Path,
                                                          tmp_path: Path) -> None:
    path = _copy(tiny_study, tmp_path)
    r = measure_minimum(path, "ce-0", config=TINY, measures=["fisher_rao", "relative_flatness"])
    s = r.scalars()
    assert s["fisher_rao"] > 0 and math.isfinite(s["relative_flatness"])
    assert measure_minimum(path, "ce-0", config=TINY,
                           measures=["fisher_rao", "relative_flatness"]).recomputed == ()


def test_the_preset_matches_the_measures_defaults() -> None:
    preset = MeasureConfig().settings()
    for name, settings in preset.items():
        assert settings == registry.get(name).settings(), name
    assert MeasureConfig.quick().num_samples == 400
    with pytest.raises(ConfigError, match="reference_sigma"):
        MeasureConfig(reference_sigma=0.25)
    with pytest.raises(ConfigError, match="positive integers"):
        MeasureConfig(num_draws=0)
    with pytest.raises(ConfigError, match="gammas"):
        MeasureConfig(gammas=())


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


@pytest.mark.gpu
@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs CUDA")
def test_measure_minimum_on_cuda_agrees_with_the_cpu(measured: list, tiny_study: Path,
                                                     tmp_path: Path) -> None:
    import h5py

    path = _copy(tiny_study, tmp_path)
    cpu = measured[0]
    with h5py.File(path, "a") as f:
        del f["runs/ce-0/measurements"]
    gpu = measure_minimum(path, "ce-0", config=TINY, device="cuda")
    assert gpu.recomputed == BUILTIN
    with Study(path) as study:
        assert all(v.device.startswith("cuda") for v in list_variants(study, "ce-0"))
    np.testing.assert_allclose(gpu.local_energy.samples, cpu.local_energy.samples, rtol=1e-4,
                               atol=1e-6)
    assert gpu.sharpness.delta_loss == pytest.approx(cpu.sharpness.delta_loss, rel=1e-3, abs=1e-6)
    np.testing.assert_allclose(gpu.spectrum.top.eigenvalues, cpu.spectrum.top.eigenvalues,
                               rtol=1e-3)
    assert gpu.spectrum.trace.estimate == pytest.approx(cpu.spectrum.trace.estimate, rel=1e-3)
