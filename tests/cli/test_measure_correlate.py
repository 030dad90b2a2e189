"""``landscape measure`` then ``landscape correlate`` on a small grid of stored runs."""

from __future__ import annotations

from pathlib import Path

import pytest

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
    assert main(["measure", str(path), "--runs", *measured, *cfg, "--quiet", "--workers",
                 "2"]) == 0
    out = capsys.readouterr().out
    assert "measuring 6 runs in 2 processes" in out
    assert out.count("measured local_energy, width, sharpness, local_entropy, hessian_top, "
                     "hessian_trace, hessian_density") == 6
    assert not (tmp_path / "s.h5.shards").exists()  # every shard merged back and removed
    assert main(["measure", str(path), "--runs", measured[0], *cfg, "--quiet"]) == 0
    assert f"{measured[0]}: read back from the study" in capsys.readouterr().out
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
    assert "no result with the asked settings" in capsys.readouterr().out


def test_a_plugin_measure_from_the_command_line(tmp_path: Path, capsys,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my_measures.py").write_text(
        "from landscape.compare import register_measure\n"
        "CALLS = []\n"
        "def weight_sum(model, loss_fn, batches, *, p=1.0):\n"
        "    CALLS.append(p)\n"
        "    return float(sum(w.detach().abs().pow(p).sum() for w in model.parameters()))\n"
        "register_measure('weight_sum', weight_sum, flatter='lower', replace=True)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / "s.h5"
    for objective, lr, seed in GRID[:4]:
        assert main(["train", "--dataset", "gaussian-mixture", "--width", "6", "--depth", "1",
                     "--epochs", "2", "--objective", objective, "--lr", lr, "--seed", seed,
                     "--out", str(path), "--run", f"{objective}-{lr}-{seed}", "--quiet"]) == 0
    plug = ["--plugin", "my_measures", "--measures", "weight_sum,gap", "--samples", "100"]
    assert main(["measure", str(path), *plug, "--set", "weight_sum.p=2", "--quiet"]) == 0
    import my_measures

    assert my_measures.CALLS == [2.0] * 4
    assert main(["measure", str(path), *plug, "--set", "weight_sum.p=2", "--quiet"]) == 0
    assert my_measures.CALLS == [2.0] * 4  # stored: not computed again
    capsys.readouterr()
    assert main(["correlate", str(path), *plug, "--set", "weight_sum.p=2", "--figures",
                 str(tmp_path), "--bootstrap", "50"]) == 0
    assert "| weight_sum" in capsys.readouterr().out
    assert main(["measure", str(path), *plug, "--set", "weight_sum.q=2"]) == 2
    assert "no setting(s) ['q']" in capsys.readouterr().err
    from landscape.compare import registry

    registry.MEASURES.pop("weight_sum")  # as in a process that did not import the plugin
    assert main(["measure", str(path), "--measures", "weight_sum"]) == 2
    assert "--plugin" in capsys.readouterr().err
