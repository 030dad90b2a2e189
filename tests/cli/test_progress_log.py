"""Commands writing into a log (stderr not a terminal): plain progress lines, no ``\\r``."""

from __future__ import annotations

from pathlib import Path

from landscape.cli import main


def test_train_hessian_flatness_write_plain_progress_lines(tmp_path: Path, capsys) -> None:
    out = str(tmp_path / "s.h5")
    assert main(["train", "--dataset", "gaussian-mixture", "--epochs", "3", "--width", "4",
                 "--out", out, "--run", "gm"]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err
    assert [ln.split(",")[0] for ln in err.splitlines() if ln.startswith("train gm")] == [
        "train gm: 33% (1/3 epoch)", "train gm: 67% (2/3 epoch)", "train gm: 100% (3/3 epoch)"]
    assert main(["hessian", out, "--run", "gm", "--topk", "2", "--trace", "--trace-matvecs",
                 "6", "--samples", "100", "--plot", str(tmp_path / "h.png")]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("hessian gm")]
    assert [ln.split(",")[0] for ln in lines] == ["hessian gm: 50% (1/2 measure)",
                                                  "hessian gm: 100% (2/2 measure)"]
    assert lines[0].endswith("hessian_top") and lines[1].endswith("hessian_trace")
    assert main(["flatness", out, "--run", "gm", "--sigmas", "0,0.1", "--draws", "2",
                 "--samples", "100", "--plot", str(tmp_path / "f.png")]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and "local energy: 100%" in err
    assert main(["flatness", out, "--run", "gm", "--sigmas", "0,0.1", "--draws", "2",
                 "--samples", "100", "--quiet", "--plot", str(tmp_path / "f.png")]) == 0
    assert capsys.readouterr().err == ""


def test_shallow_local_entropy_writes_a_line_per_coupling(tmp_path: Path, capsys) -> None:
    out = str(tmp_path / "s.h5")
    assert main(["shallow", "solve", "--N", "51", "--alpha", "0.3", "--out", out,
                 "--run", "a"]) == 0
    assert main(["shallow", "local-entropy", out, "--run", "a", "--points", "4"]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err
    assert [ln.split(",")[0] for ln in err.splitlines()] == [
        f"local entropy (BP): {25 * k}% ({k}/4 coupling)" for k in range(1, 5)]
