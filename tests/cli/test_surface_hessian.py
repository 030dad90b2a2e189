"""``landscape surface --plane hessian`` on a stored run."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from landscape.cli import main


def test_surface_command_hessian_plane(tmp_path: Path, capsys) -> None:
    from landscape.compare import load_minimum

    path = tmp_path / "s.h5"
    assert main(["train", "--dataset", "gaussian-mixture", "--width", "8", "--depth", "1",
                 "--epochs", "2", "--out", str(path), "--run", "r", "--quiet"]) == 0
    assert main(["surface", str(path), "--run", "r", "--plane", "hessian", "--points", "5",
                 "--dtype", "float64", "--plot", str(tmp_path / "h.png"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "Hessian plane: eigenvalues" in out
    top = load_minimum(path, "r", measures=["hessian_top"], dtype="float64",
                       settings={"hessian_top": {"k": 2}}).spectrum.top
    lam = top.eigenvalues
    assert lam[0] >= lam[1]
    # the default range: the quadratic model rises by 1 at the ends of the top direction
    half = float(np.sqrt(2 / abs(lam[0])))
    xs = np.linspace(-half, half, 5).tolist()
    grid = load_minimum(path, "r", measures=["surface"], dtype="float64",
                        settings={"surface": {"plane": "hessian", "xs": xs, "ys": xs}})
    surface = grid["surface"]
    assert surface.kind == "hessian" and surface.xs[-1] == -surface.xs[0] == half
    assert surface.loss.shape == (5, 5) and np.isfinite(surface.loss).all()
    assert (tmp_path / "h.png").stat().st_size > 10_000
    assert main(["surface", str(path), "--run", "r", "--plane", "hessian", "--dim", "1",
                 "--points", "3", "--dtype", "float64", "--plot", str(tmp_path / "l.png"),
                 "--quiet"]) == 0
    line = load_minimum(path, "r", measures=["surface"], dtype="float64", settings={
        "surface": {"plane": "hessian", "dim": 1, "ys": None,
                    "xs": np.linspace(-half, half, 3).tolist()}})["surface"]
    assert line.loss.shape == (3,) and line.kind == "hessian"
