"""Loss landscapes: 1D/2D surfaces, interpolation, PCA planes, study files and plots."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from landscape._checkpoint import MemoryCheckpoint
from landscape.errors import ConfigError
from landscape.flatness import (
    Directions,
    interpolation,
    local_energy,
    pca_plane,
    random_direction,
    random_plane,
    surface_1d,
    surface_2d,
)
from landscape.flatness.plots import (
    plot_contour,
    plot_local_energy,
    plot_surface_1d,
    plot_surface_3d,
)
from landscape.store import Study, append_trajectory, write_state
from landscape.store.measurements import GroupCheckpoint
from landscape.store.trajectories import read_trajectory
from tests.flatness._util import (
    CountingLoss,
    Killed,
    cls_data,
    full_loss,
    mean_out,
    mlp,
    quad_data,
    quadratic,
)

CE = nn.CrossEntropyLoss()
XS = np.array([-0.5, 0.0, 1.0])                    # 3 × 5: non-square on purpose
YS = np.array([-1.0, -0.25, 0.0, 0.5, 2.0])



def _given_plane(model: nn.Module, seed: int = 0) -> Directions:
    gen = torch.Generator().manual_seed(seed)
    parts = [{n: torch.randn(p.shape, generator=gen, dtype=p.dtype)
              for n, p in model.named_parameters()} for _ in range(2)]
    return Directions(x=parts[0], y=parts[1])


def test_2d_quadratic_matches_closed_form_on_non_square_grid() -> None:
    model = quadratic(p=4)
    dirs = _given_plane(model)
    r = surface_2d(model, mean_out, quad_data(), xs=XS, ys=YS, directions=dirs)
    assert r.loss.shape == (3, 5) and r.error.shape == (3, 5)
    w, dx, dy = model.w.detach(), dirs.x["w"], dirs.y["w"]
    for i, x in enumerate(XS):
        for j, y in enumerate(YS):
            v = w + x * dx + y * dy
            expected = float(0.5 * v @ (model.A @ v) + model.b @ v)
            assert r.loss[i, j] == pytest.approx(expected, rel=1e-12, abs=1e-12)
    # x varies along axis 0: L is quadratic in x along a row, so the second difference along
    # axis 0 is the constant dxᵀA dx times the spacings (not dyᵀA dy)
    cxx, cyy = float(dx @ (model.A @ dx)), float(dy @ (model.A @ dy))
    assert abs(cxx - cyy) > 1e-3 * abs(cxx)      # so the check below tells x from y
    along_x = r.loss[:, 2]                         # y = 0
    fit = np.polyfit(XS, along_x, 2)
    assert fit[0] == pytest.approx(0.5 * cxx, rel=1e-9)
    assert np.isnan(r.error).all()                 # not a classification problem


def test_origin_is_the_unperturbed_loss_exactly() -> None:
    model, data = mlp(), cls_data()
    r2 = surface_2d(model, CE, data, xs=XS, ys=YS, seed=3)
    r1 = surface_1d(model, CE, data, alphas=[-1.0, 0.0, 0.5], seed=3)
    plain, plain_err = full_loss(model, CE, [data])
    assert r2.loss[1, 2] == r2.base and r2.error[1, 2] == r2.base_error
    assert r1.loss[1] == r1.base == r2.base
    assert r2.base == pytest.approx(plain, rel=1e-13) and r2.base_error == plain_err
    assert (r2.loss[np.arange(3) != 1] != r2.base).all()


def test_batched_evaluation_equals_naive_loop() -> None:
    model, data = mlp(), cls_data(30)
    dirs = random_plane(model, seed=1)
    data3 = [(data[0][:7], data[1][:7]), (data[0][7:], data[1][7:])]
    r = surface_2d(model, CE, data3, xs=XS, ys=YS, directions=dirs, chunk_size=4)
    r_loop = surface_2d(model, CE, data3, xs=XS, ys=YS, directions=dirs, batched=False)
    for i, x in enumerate(XS):
        for j, y in enumerate(YS):
            m = copy.deepcopy(model)
            params = dict(m.named_parameters())
            with torch.no_grad():
                for n in dirs.names:
                    params[n].add_(x * dirs.x[n] + y * dirs.y[n])
            lo, er = full_loss(m, CE, data3)
            assert r.loss[i, j] == pytest.approx(lo, rel=1e-12)
            assert r.error[i, j] == pytest.approx(er, abs=1e-12)
    np.testing.assert_allclose(r_loop.loss, r.loss, rtol=1e-12)


def test_1d_surface_uses_the_plane_x_direction_and_given_mappings() -> None:
    model, data = mlp(), cls_data()
    line = random_direction(model, seed=5)
    plane = random_plane(model, seed=5)
    for n in line.names:
        assert torch.equal(line.x[n], plane.x[n])
    a = surface_1d(model, CE, data, alphas=XS, seed=5)
    b = surface_1d(model, CE, data, alphas=XS, direction=dict(line.x))
    c = surface_2d(model, CE, data, xs=XS, ys=[0.0], seed=5)
    np.testing.assert_allclose(a.loss, b.loss, rtol=1e-13)
    np.testing.assert_allclose(a.loss, c.loss[:, 0], rtol=1e-13)
    with pytest.raises(ConfigError):
        surface_2d(model, CE, data, xs=XS, ys=YS, directions=line)
    with pytest.raises(ConfigError):
        surface_1d(model, CE, data, alphas=[])


def test_filter_normalisation_matches_weight_filters() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.Flatten(), nn.Linear(3 * 2 * 2, 4)).double()
    d = random_plane(model, seed=2)
    assert sorted(d.names) == ["0.weight", "2.weight"]        # biases ignored by default
    params = dict(model.named_parameters())
    for part in (d.x, d.y):
        for n, t in part.items():
            w = params[n].detach()
            np.testing.assert_allclose(t.reshape(t.shape[0], -1).norm(dim=1),
                                       w.reshape(w.shape[0], -1).norm(dim=1), rtol=1e-10)
    assert not torch.equal(d.x["0.weight"], d.y["0.weight"])
    with_bias = random_plane(model, seed=2, biasbn="perturb")
    assert "0.bias" in with_bias.names
    assert torch.equal(random_plane(model, seed=2).x["0.weight"], d.x["0.weight"])


def _bn_pair() -> tuple[nn.Module, nn.Module, tuple[torch.Tensor, torch.Tensor]]:
    data = cls_data(32)
    models = []
    for seed in (2, 3):
        m = mlp(seed=seed, batchnorm=True)
        m.train()
        with torch.no_grad():
            m(data[0] * (1 + seed))                # different running statistics
        models.append(m.eval())
    return models[0], models[1], data


def test_interpolation_endpoints_and_interpolated_statistics() -> None:
    ma, mb, data = _bn_pair()
    r = interpolation(ma, mb, CE, data, alphas=[0.0, 0.3, 1.0], chunk_size=2)
    assert r.loss[0] == pytest.approx(full_loss(ma, CE, [data])[0], rel=1e-12)
    assert r.loss[2] == pytest.approx(full_loss(mb, CE, [data])[0], rel=1e-12)
    assert r.base == pytest.approx(r.loss[0], rel=1e-12) and r.kind == "interpolation"
    mid = copy.deepcopy(ma)
    sa, sb = ma.state_dict(), mb.state_dict()
    mid.load_state_dict({k: (0.7 * v + 0.3 * sb[k]) if v.is_floating_point() else v
                         for k, v in sa.items()})
    assert r.loss[1] == pytest.approx(full_loss(mid, CE, [data])[0], rel=1e-12)
    rc = interpolation(ma, mb, CE, data, alphas=[0.0, 0.3], bn="recalibrate")
    recal = copy.deepcopy(ma)
    recal.train()
    for m in recal.modules():
        if isinstance(m, nn.BatchNorm1d):
            m.reset_running_stats()
            m.momentum = None
    with torch.no_grad():
        recal(data[0])
    recal.eval()
    assert rc.loss[0] == pytest.approx(full_loss(recal, CE, [data])[0], rel=1e-12)
    assert rc.loss[0] != pytest.approx(r.loss[0], rel=1e-6)
    with pytest.raises(ConfigError):
        interpolation(ma, mlp(), CE, data, alphas=[0.5])


def _trajectory_study(path: Path) -> tuple[nn.Module, np.ndarray]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double().eval()
    final = {n: p.detach().clone() for n, p in model.named_parameters()}
    gen = torch.Generator().manual_seed(1)
    u = {n: torch.randn(p.shape, generator=gen, dtype=torch.float64) for n, p in final.items()}
    v = {n: torch.randn(p.shape, generator=gen, dtype=torch.float64) for n, p in final.items()}
    ab = np.array([[2.0, 1.0], [1.5, -0.5], [0.7, 0.4], [0.2, -0.1], [0.0, 0.0]])
    with Study(path, "a") as study:
        group = study.create_run("r0")
        for epoch, (a, b) in enumerate(ab):
            with torch.no_grad():
                for n, p in model.named_parameters():
                    p.copy_(final[n] + a * u[n] + b * v[n])
            append_trajectory(group, model, epoch)
        write_state(group.require_group("model"), model)
    return model, ab


def test_pca_plane_recovers_a_planar_trajectory(study_path: Path) -> None:
    model, _ab = _trajectory_study(study_path)
    plane = pca_plane(read_trajectory(study_path, "r0"))
    assert plane.explained_variance_ratio.sum() == pytest.approx(1.0, abs=1e-12)
    assert plane.coords.shape == (5, 2) and plane.epochs.tolist() == [0, 1, 2, 3, 4]
    d = plane.directions
    with Study(study_path) as study:
        state = study.run("r0")["trajectory/state"]
        for k in range(5):
            for n in d.names:
                rebuilt = plane.center[n] + plane.coords[k, 0] * d.x[n] \
                    + plane.coords[k, 1] * d.y[n]
                np.testing.assert_allclose(rebuilt.numpy(), state[n][k], atol=1e-12)
    flat = [torch.cat([t.reshape(-1) for t in p.values()]) for p in (d.x, d.y)]
    assert float(flat[0] @ flat[1]) == pytest.approx(0.0, abs=1e-12)
    assert float(flat[0].norm()) == pytest.approx(1.0, rel=1e-12)
    r = surface_2d(model, CE, cls_data(20, classes=2), xs=[-1.0, 0.0, 1.0], ys=[0.0, 1.0],
                   directions=d)
    assert r.explained_variance_ratio is not None and r.kind == "pca"
    ignored = pca_plane(read_trajectory(study_path, "r0"), biasbn="ignore")
    assert sorted(ignored.directions.names) == ["0.weight", "2.weight"]


def _run(path: Path) -> None:
    with Study(path, "a") as study:
        study.create_run("r0")


def test_kill_and_resume_row_by_row_from_a_checkpoint(study_path: Path) -> None:
    model, data = mlp(), cls_data(24)
    _run(study_path)
    full = surface_2d(model, CE, data, xs=XS, ys=YS, seed=4, chunk_size=1)
    ck = GroupCheckpoint(study_path, "r0", "surface", "k", settings={}, identity={})
    killer = CountingLoss(kill_at=1 + 6)           # the base, then 5 points, then dies
    with pytest.raises(Killed):
        surface_2d(model, killer, data, xs=XS, ys=YS, seed=4, chunk_size=1, checkpoint=ck)
    saved = ck.load()
    assert saved["done"].tolist() == [1, 0, 0]      # row 0 (5 points) kept, row 1 in flight
    np.testing.assert_allclose(saved["loss"][0], full.loss[0], rtol=1e-13)
    counter = CountingLoss()
    res = surface_2d(model, counter, data, xs=XS, ys=YS, seed=4, chunk_size=1, checkpoint=ck)
    assert counter.calls == 1 + 2 * len(YS) - 1     # the base, rows 1 and 2 but the origin
    np.testing.assert_allclose(res.loss, full.loss, rtol=1e-13)
    np.testing.assert_array_equal(res.error, full.error)
    assert res.base == full.base and res.loss.shape == (3, 5)
    again = CountingLoss()
    surface_2d(model, again, data, xs=XS, ys=YS, seed=4, chunk_size=1, checkpoint=ck)
    assert again.calls == 1                          # only the base: every row is kept
    with pytest.raises(ConfigError, match="another grid"):
        surface_2d(model, CE, data, xs=XS, ys=YS[:4], seed=4, checkpoint=ck)
    line = surface_1d(model, CE, data, alphas=XS, seed=4, checkpoint=MemoryCheckpoint())
    np.testing.assert_allclose(line.loss, surface_1d(model, CE, data, alphas=XS,
                                                     seed=4).loss, rtol=1e-13)


def test_plots_write_png_files(tmp_path: Path) -> None:
    model, data = mlp(), cls_data(20)
    r2 = surface_2d(model, CE, data, xs=XS, ys=YS)
    r1 = surface_1d(model, CE, data, alphas=XS)
    le = local_energy(model, CE, data, [0.0, 0.05, 0.1], 4)
    traj = np.array([[1.0, -1.0], [0.5, -0.2], [0.0, 0.0]])
    paths = {"one": plot_surface_1d, "contour": plot_contour, "three": plot_surface_3d,
             "le": plot_local_energy}
    plot_surface_1d(r1, path=tmp_path / "one.png")
    plot_contour(r2, trajectory=traj, path=tmp_path / "contour.png")
    plot_surface_3d(r2, quantity="error", path=tmp_path / "three.png")
    plot_local_energy(le, path=tmp_path / "le.png")
    for name in paths:
        p = tmp_path / f"{name}.png"
        assert p.stat().st_size > 1000
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ConfigError):
        plot_contour(r2, trajectory=np.zeros((3, 3)))
    with pytest.raises(ConfigError):
        plot_local_energy(le, ax=plot_surface_1d(r1).axes[0], quantity="both")
