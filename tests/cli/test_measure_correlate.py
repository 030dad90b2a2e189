"""``landscape measure`` then ``landscape correlate`` on a small grid of stored runs."""

from __future__ import annotations

from pathlib import Path

from landscape.cli import main

GRID = [(objective, lr, seed) for objective in ("ce", "mse") for lr in ("0.05", "0.2")
        for seed in ("0", "1")]


def test_measure_then_correlate(tmp_path: Path, capsys) -> None:
    path = tmp_path / "s.h5"
    for objective, lr, seed in GRID:
        assert main(["train", "--dataset", "gaussian-mixture", "--width", "6", "--depth", "1",
                     "--epochs", "2", "--objective", objective, "--lr", lr, "--seed", seed,
                     "--out", str(path), "--run", f"{objective}-{lr}-{seed}", "--quiet"]) == 0
    measured = [f"{o}-{lr}-{s}" for o, lr, s in GRID[:6]]
    cfg = ["--quick", "--samples", "100"]
    # too few measured runs: a one-line error, not a traceback
    assert main(["correlate", str(path), *cfg, "--figures", str(tmp_path)]) == 2
    assert "0 run(s) of" in capsys.readouterr().err
    assert main(["measure", str(path), "--runs", *measured, *cfg, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert out.count("computed local_energy, width, sharpness, local_entropy, hessian") == 6
    assert main(["measure", str(path), "--runs", measured[0], *cfg, "--quiet"]) == 0
    assert f"{measured[0]}: stored; error gap" in capsys.readouterr().out
    assert main(["correlate", str(path), *cfg, "--figures", str(tmp_path),
                 "--bootstrap", "200"]) == 0
    out = capsys.readouterr().out
    assert "left out 2 run(s)" in out and "mse-0.2-1" in out
    assert "Kendall τ with the generalisation gap (6 runs" in out
    assert "granulated Kendall coefficient over objective, lr (seeds as replicates)" in out
    assert "ψ objective" in out and "ψ lr" in out
    for name in ("s_correlations.png", "s_granulated.png"):
        assert (tmp_path / name).stat().st_size > 10_000
    # settings other than those measured: every run is left out, with the reason
    assert main(["correlate", str(path), "--samples", "100", "--figures", str(tmp_path)]) == 2
    assert "measured with other settings" in capsys.readouterr().out
