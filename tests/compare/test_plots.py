"""Every comparison figure is drawn and saved."""

from __future__ import annotations

from pathlib import Path

from landscape.compare import DEFAULT_MEASURES, rank_correlations, scalars
from landscape.compare import plots as P
from tests.compare.conftest import RUNS

SCALAR_MEASURES = scalars(DEFAULT_MEASURES, flatness=True)
GAPS = scalars(DEFAULT_MEASURES, flatness=False)


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


def test_measure_by_condition_shares_objectives_and_scale(measured: list, tmp_path: Path
                                                          ) -> None:
    import pytest

    from landscape.errors import ConfigError

    groups = {"all runs": measured, "CE only": [r for r in measured if r.objective == "ce"]}
    for key in ("width", "lambda_max", "error_gap"):
        fig = P.plot_measure_by_condition(groups, key)
        axes = fig.axes[:2]
        # the same objective slots in every panel, even where an objective is missing
        assert [t.get_text() for t in axes[0].get_xticklabels()] == \
            [t.get_text() for t in axes[1].get_xticklabels()]
        assert axes[0].get_ylim() == axes[1].get_ylim()
        P.plt.close(fig)
    P.plot_measure_by_condition(groups, "trace", out=tmp_path / "trace.png")
    assert _ok(tmp_path / "trace.png")
    with pytest.raises(ConfigError):
        P.plot_measure_by_condition(groups, "no-such-measure")
    with pytest.raises(ConfigError):
        P.plot_measure_by_condition({}, "width")


def test_auto_log_scale_only_when_values_span_decades() -> None:
    fig, (a, b, c) = P.plt.subplots(1, 3)
    P.auto_log_scale([a], [1.0, 2.0, 5.0])
    P.auto_log_scale([b], [0.01, 1.0, 50.0])
    P.auto_log_scale([c], [-0.5, 0.01, 30.0])
    assert (a.get_yscale(), b.get_yscale(), c.get_yscale()) == ("linear", "log", "symlog")
    P.plt.close(fig)


def test_granulated_figure_one_marker_series_per_axis(tmp_path: Path) -> None:
    import numpy as np
    import pytest

    from landscape.compare import granulated_correlations
    from landscape.errors import ConfigError

    rng = np.random.default_rng(0)
    axes = {"objective": ["ce", "mse"] * 8, "lr": ([0.01] * 2 + [0.05] * 2) * 4,
            "batch_size": ([32] * 4 + [256] * 4) * 2}
    seeds = [0] * 8 + [1] * 8
    measures = {m.key: rng.normal(size=16) for m in SCALAR_MEASURES}
    gaps = {g.key: rng.normal(size=16) for g in GAPS}
    res = granulated_correlations(measures, gaps, axes, strata={"seed": seeds}, num_bootstrap=50)
    one = [r for r in res if r.gap == "error_gap"]
    fig = P.plot_granulated(one, out=tmp_path / "g.png", axis_labels={"lr": "learning rate"})
    assert _ok(tmp_path / "g.png")
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["Ψ (mean over the axes)", "ψ: only the objective varies",
                      "ψ: only the learning rate varies", "ψ: only the batch_size varies"]
    with pytest.raises(ConfigError, match="one gap at a time"):
        P.plot_granulated(res)


def test_own_unit_measures_get_a_panel_per_objective(measured: list) -> None:
    objectives = list(dict.fromkeys(r.objective for r in measured))
    fig = P.plot_measure(measured, "sharpness")
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == [P.objective_label(o) for o in objectives]
    assert "no interval" in fig._suptitle.get_text()  # one ascent per run: said, not hidden
    P.plt.close(fig)
    fig = P.plot_measure(measured, "width")  # a comparable measure: one shared axis
    assert len([ax for ax in fig.axes if ax.get_title()]) == 2
    P.plt.close(fig)


def test_degenerate_intervals_are_marked(tmp_path: Path) -> None:
    import numpy as np

    corr = rank_correlations({"sharpness": np.arange(8.0)}, {"error_gap": np.arange(8.0)},
                             num_bootstrap=50)
    assert corr[0].degenerate
    fig = P.plot_correlations(corr)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert any("point interval" in t for t in texts)
    P.plt.close(fig)
    corr = rank_correlations({"sharpness": np.arange(8.0)},
                             {"error_gap": [0, 2, 1, 3, 5, 4, 7, 6]}, num_bootstrap=50)
    fig = P.plot_correlations(corr, out=tmp_path / "c.png")
    assert not any("point interval" in t.get_text() for t in fig.axes[0].texts)
