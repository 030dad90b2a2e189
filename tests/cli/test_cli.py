"""The command line: train/info/demo/objectives end to end, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from landscape.cli import main
from landscape.store import Study, load_model
from tests.helpers import run_python


def test_train_then_info_then_resume_skips(tmp_path: Path, capsys) -> None:
    out = tmp_path / "s.h5"
    args = ["train", "--dataset", "gaussian-mixture", "--epochs", "3", "--width", "8",
            "--label-noise", "symmetric:0.2", "--objective", "ce", "--objective-param",
            "temperature=2", "--out", str(out), "--run", "gm", "--quiet",
            "--plot", str(tmp_path / "c.png")]
    assert main(args) == 0
    assert "gm: trained" in capsys.readouterr().out
    assert (tmp_path / "c.png").stat().st_size > 10_000
    with Study(out) as study:
        attrs = study.run_attrs("gm")
        assert attrs["transforms"][0]["kind"] == "symmetric_noise"
        assert attrs["objective_params"] == {"temperature": 2}
        h = study.run("gm")["history"]
        assert not np.array_equal(h["train_acc"][()], h["train_acc_clean"][()])
    assert main(args) == 0
    assert "already finished" in capsys.readouterr().out
    assert main(["info", str(out), "--tree"]) == 0
    text = capsys.readouterr().out
    assert "gm: finished (3/3 epochs)" in text and "/runs/gm/history/train_loss" in text
    assert load_model(out, "gm") is not None
    assert main(["compact", str(out)]) == 0
    assert f"{out}: " in capsys.readouterr().out
    assert main(args) == 0
    assert "already finished" in capsys.readouterr().out


def test_info_shows_every_stored_variant_and_how_far_it_is(tmp_path: Path, capsys) -> None:
    out = tmp_path / "s.h5"
    assert main(["train", "--dataset", "gaussian-mixture", "--epochs", "1", "--width", "4",
                 "--out", str(out), "--run", "gm", "--quiet"]) == 0
    for draws in ("2", "3"):
        assert main(["flatness", str(out), "--run", "gm", "--sigmas", "0,0.1,0.2", "--draws",
                     draws, "--quiet", "--plot", str(tmp_path / "le.png")]) == 0
    with Study(out, "a") as study:
        group = study.run("gm")["measurements"]["local_energy"]
        key = sorted(group)[0]
        group[key].attrs["complete"] = False  # as if killed
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "measurement" in ln]
    assert len(lines) == 2 and all("local_energy [" in ln for ln in lines)
    assert any("num_draws=2" in ln for ln in lines) and any("num_draws=3" in ln for ln in lines)
    assert sum("interrupted (the same call resumes it)" in ln for ln in lines) == 1
    assert all("sigmas=[0, 0.1, 0.2]" in ln and "on 1000 samples" in ln for ln in lines)


def test_objectives_lists_names_and_parameters(capsys) -> None:
    assert main(["objectives"]) == 0
    text = capsys.readouterr().out
    assert "ce" in text and "temperature=1.0" in text and "mse" in text


@pytest.mark.parametrize("argv,message", [
    (["train", "--dataset", "fashion-mnist", "--data-dir", "/nonexistent/fm"], "/nonexistent/fm"),
    (["train", "--dataset", "nope"], "unknown dataset"),
    (["train", "--dataset", "gaussian-mixture", "--objective", "nope"], "unknown objective"),
    (["train", "--dataset", "gaussian-mixture", "--label-noise", "sym"], "KIND:NUMBER"),
    (["info", "/nonexistent/file.h5"], "no study file"),
])
def test_errors_are_one_line_with_exit_status_2(argv: list[str], message: str, tmp_path: Path,
                                               capsys) -> None:
    assert main([*argv, *(["--out", str(tmp_path / "o.h5")] if argv[0] == "train" else [])]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_foreign_file_through_the_console_script(tmp_path: Path) -> None:
    path = tmp_path / "foreign.h5"
    with h5py.File(path, "w") as f:
        f["x"] = 1
    proc = run_python("import sys; from landscape.cli import main; sys.exit(main())", "info",
                      str(path))
    assert proc.returncode == 2
    assert "not a landscape study" in proc.stderr and "Traceback" not in proc.stderr


def test_python_dash_m_and_version() -> None:
    proc = run_python("import runpy, sys; sys.argv = ['landscape', '--version']; "
                      "runpy.run_module('landscape', run_name='__main__')")
    assert proc.returncode == 0 and "landscape 0.1.0" in proc.stdout


def test_demo_quick_writes_study_and_figures_and_keeps_other_measurements(
        tmp_path: Path, capsys) -> None:
    from landscape.cli.demo import DEMO_OBJECTIVES, DEMO_SEEDS
    from landscape.compare import DEFAULT_MEASURES
    from landscape.store.measurements import list_variants

    out, figs = tmp_path / "demo.h5", tmp_path / "figs"
    demo = ["demo", "--quick", "--epochs", "2", "--out", str(out), "--figures", str(figs),
            "--quiet"]
    assert main(demo) == 0
    printed = capsys.readouterr().out
    assert "Kendall" in printed and "| mlp-gce-seed1" in printed
    assert "measured 10 minima, read 0 back" in printed
    drawn = printed.split("figures: ")[-1].split("\n")[0].split(", ")
    assert [Path(f).name for f in drawn] == [
        "demo_training.png", "demo_local_energy.png", "demo_width.png", "demo_sharpness.png",
        "demo_local_entropy.png", "demo_lambda_max.png", "demo_trace.png", "demo_spectra.png",
        "demo_correlations.png"]
    for name in drawn:
        assert Path(name).stat().st_size > 10_000, name
    runs = sorted(f"mlp-{o}-seed{s}" for o in DEMO_OBJECTIVES for s in DEMO_SEEDS)
    assert {"ce", "mse", "hinge_cs", "label_smoothing", "gce"} <= set(DEMO_OBJECTIVES)
    with Study(out) as study:
        assert study.runs() == runs
        assert all(study.run_attrs(r)["status"] == "finished" for r in study.runs())
        assert study.run_attrs("mlp-ce-seed0")["dataset_id"] == "digits/train"
        for r in runs:
            stored = {v.measure for v in list_variants(study, r)}
            assert stored == set(DEFAULT_MEASURES) - {"gap"}
    # the same minimum measured another way, then the demo again: both kept, nothing recomputed
    assert main(["hessian", str(out), "--run", "mlp-ce-seed0", "--topk", "10", "--trace",
                 "--density", "--samples", "100"]) == 0
    assert main(demo) == 0
    assert "measured 0 minima, read 10 back" in capsys.readouterr().out
    with Study(out) as study:
        ks = sorted(v.settings["k"] for v in list_variants(study, "mlp-ce-seed0")
                    if v.measure == "hessian_top")
    assert ks == [2, 10]


def test_train_fills_class_counts_for_logit_adjustment(tmp_path: Path, capsys) -> None:
    out = tmp_path / "lt.h5"
    assert main(["train", "--dataset", "digits", "--long-tail", "exp:10", "--epochs", "1",
                 "--objective", "logit_adjusted", "--out", str(out), "--run", "la",
                 "--quiet"]) == 0
    with Study(out) as study:
        attrs = study.run_attrs("la")
        counts = attrs["objective_params"]["class_counts"]
        assert counts == attrs["dataset"]["class_counts"]
        assert (counts[0], counts[-1]) == (130, 13)  # smallest digits class 130, IF 10


def test_a_runs_data_is_rebuilt_from_its_provenance(tmp_path: Path) -> None:
    from landscape.store import load_run_data

    out = tmp_path / "s.h5"
    assert main(["train", "--dataset", "digits", "--subset", "300", "--label-noise",
                 "pairflip:0.3", "--epochs", "1", "--out", str(out), "--run", "r",
                 "--quiet"]) == 0
    train_data = load_run_data(out, "r")
    test_data = load_run_data(out, "r", "test")
    assert len(train_data) == 300 and len(test_data) == 449
    assert [t["kind"] for t in train_data.transforms] == ["subset", "pairflip_noise"]
    with Study(out) as study:
        np.testing.assert_array_equal(study.run("r")["data/train_index"][()],
                                      train_data.index.numpy())
    assert (train_data.y != train_data.y_clean).sum() == 90


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("m") / "s.h5"
    assert main(["train", "--dataset", "gaussian-mixture", "--width", "8", "--depth", "1",
                 "--epochs", "4", "--checkpoint-every", "1", "--out", str(out), "--run", "r",
                 "--quiet"]) == 0
    return out


def test_flatness_command_stores_a_curve_and_resumes(small_run: Path, tmp_path: Path,
                                                     capsys) -> None:
    from landscape.compare import load_minimum

    args = ["flatness", str(small_run), "--run", "r", "--sigmas", "0,0.1,0.3", "--draws", "8",
            "--width", "0.05", "--sharpness", "0.1", "--plot", str(tmp_path / "le.png"),
            "--local-entropy", "1e4,1e3", "--chains", "3", "--sgld-steps", "20", "--quiet"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "σ=0.3" in text and "width" in text and "sharpness" in text and "ΔΦ" in text
    assert (tmp_path / "le.png").stat().st_size > 10_000
    assert main(args) == 0  # stored: nothing recomputed, same numbers
    assert "computed nothing (all stored)" in capsys.readouterr().out
    stored = load_minimum(small_run, "r", measures=["local_energy", "local_entropy"],
                          settings={"local_energy": {"sigmas": [0.0, 0.1, 0.3], "num_draws": 8,
                                                     "reference_sigma": 0.3},
                                    "local_entropy": {"gammas": [1e4, 1e3], "num_chains": 3,
                                                      "num_steps": 20, "burn_in": 20,
                                                      "step_size": 0.01}}, dtype="float32")
    assert stored.local_energy.samples.shape == (3, 8) and stored.local_energy.delta[0] == 0
    entropy = stored.local_entropy
    assert entropy.gammas.tolist() == [1e3, 1e4] and np.isfinite(entropy.phi_excess).all()


def test_surface_command_random_pca_and_hessian(small_run: Path, tmp_path: Path,
                                                capsys) -> None:
    from landscape.store.measurements import list_variants

    args = ["surface", str(small_run), "--run", "r", "--points", "4", "--ypoints", "3",
            "--plot", str(tmp_path / "s.png"), "--quiet"]
    assert main(args) == 0
    assert "computed" in capsys.readouterr().out
    assert main(args) == 0  # stored: read back, not computed
    assert "read back from the study" in capsys.readouterr().out
    assert main(["surface", str(small_run), "--run", "r", "--plane", "pca", "--points", "3",
                 "--plot", str(tmp_path / "p.png"), "--quiet"]) == 0
    assert "explained variance ratio" in capsys.readouterr().out
    assert (tmp_path / "p.png").stat().st_size > 10_000
    assert main(["surface", str(small_run), "--run", "r", "--plane", "hessian", "--dim", "1",
                 "--points", "5", "--plot", str(tmp_path / "h.png"), "--quiet"]) == 0
    assert "Hessian plane: eigenvalues" in capsys.readouterr().out
    with Study(small_run) as study:
        planes = sorted(v.settings["plane"] for v in list_variants(study, "r")
                        if v.measure == "surface")
    assert planes == ["hessian", "pca", "random"]
