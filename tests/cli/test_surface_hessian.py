"""``landscape surface --plane hessian`` on a stored run."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from landscape.cli import main


def test_surface_command_hessian_plane(tmp_path: Path, capsys) -> None:
    from landscape.flatness import read_surface, read_surface_directions

    path = tmp_path / "s.h5"
    assert main(["train", "--dataset", "gaussian-mixture", "--width", "8", "--depth", "1",
                 "--epochs", "2", "--out", str(path), "--run", "r", "--quiet"]) == 0
    assert main(["surface", str(path), "--run", "r", "--plane", "hessian", "--points", "5",
                 "--dtype", "float64", "--plot", str(tmp_path / "h.png"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "Hessian plane: eigenvalues" in out
    grid = read_surface(path, "r", "surface-hessian-2d")
    dirs = read_surface_directions(path, "r", "surface-hessian-2d")
    lam = dirs.eigenvalues
    assert dirs.kind == "hessian" and lam is not None and lam[0] >= lam[1]
    # the default range: the quadratic model rises by 1 at the ends of the top direction
    assert grid.xs[-1] == -grid.xs[0] == np.sqrt(2 / abs(lam[0]))
    assert grid.loss.shape == (5, 5) and np.isfinite(grid.loss).all()
    assert (tmp_path / "h.png").stat().st_size > 10_000
    assert main(["surface", str(path), "--run", "r", "--plane", "hessian", "--dim", "1",
                 "--points", "3", "--dtype", "float64", "--plot", str(tmp_path / "l.png"),
                 "--quiet"]) == 0
    line = read_surface_directions(path, "r", "surface-hessian-1d")
    assert line.y is None and line.eigenvalues is not None and line.eigenvalues.shape == (1,)
