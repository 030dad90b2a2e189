"""Every comparison figure is drawn and saved."""

from __future__ import annotations

from pathlib import Path

from landscape.compare import GAPS, SCALAR_MEASURES, rank_correlations
from landscape.compare import plots as P
from tests.compare.conftest import RUNS


def _ok(path: Path) -> bool:
    return path.stat().st_size > 10_000


def test_every_figure_is_written(measured: list, tiny_study: Path, tmp_path: Path) -> None:
    P.plot_training(tiny_study, [f"{o}-{s}" for o, s in RUNS], out=tmp_path / "t.png",
                    title="tiny")
    P.plot_local_energy(measured, out=tmp_path / "le.png")
    for m in SCALAR_MEASURES:
        P.plot_measure(measured, m.key, out=tmp_path / f"{m.key}.png")
    P.plot_local_entropy(measured, out=tmp_path / "ent.png")
    P.plot_spectra(measured, out=tmp_path / "spec.pdf")
    s = [r.scalars() for r in measured]
    corr = rank_correlations({m.key: [x[m.key] for x in s] for m in SCALAR_MEASURES},
                             {g.key: [x[g.key] for x in s] for g in GAPS}, num_bootstrap=50)
    P.plot_correlations(corr, out=tmp_path / "corr.png")
    names = ["t.png", "le.png", "ent.png", "corr.png", *(f"{m.key}.png" for m in SCALAR_MEASURES)]
    assert all(_ok(tmp_path / n) for n in names)
    assert (tmp_path / "spec.pdf").stat().st_size > 5_000


def test_objective_colours_are_fixed_and_distinct() -> None:
    demo = ["ce", "mse", "hinge_cs", "label_smoothing", "gce", "sce"]
    colours = [P.objective_color(o) for o in demo]
    assert len(set(colours)) == len(demo)
    assert P.objective_color("ce") == P.OBJECTIVE_COLORS["ce"]
    assert P.objective_color("unknown-loss") == P.objective_color("unknown-loss")
    assert P.objective_label("hinge_cs").startswith("hinge")
