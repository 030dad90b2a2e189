"""Curvature tracked along training: exact against dense Hessians, NaN where not measured,
resumed bit for bit, settings recorded, training unchanged."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.func import functional_call

from landscape.data import subset
from landscape.errors import ConfigError
from landscape.models import build
from landscape.objectives import get
from landscape.store import Study
from landscape.store.commit import digest
from landscape.train import TrainConfig, train
from landscape.train.tracking import STEP_GROUP, TRACKED, CurvatureTracker, tracked_loss

CONFIG = TrainConfig(epochs=5, batch_size=32, lr=0.05, seed=3, track_curvature=2,
                     track_samples=50)
REPRODUCIBLE = [k for k in TRACKED if k != "track_seconds"]


def _model(seed: int = 0, dtype: torch.dtype = torch.float64, **kw: object) -> torch.nn.Module:
    return build("mlp", (4,), 3, seed=seed, depth=1, width=6, **kw).to(dtype)


def _dense_hessian(model: torch.nn.Module, loss_fn, x: torch.Tensor, y: torch.Tensor
                   ) -> torch.Tensor:
    """The float64 Hessian of the mean loss over all parameters, by autograd (eval mode)."""
    model = model.eval()
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    flat = torch.cat([p.detach().reshape(-1) for _, p in model.named_parameters()])

    def loss_of(theta: torch.Tensor) -> torch.Tensor:
        params, i = {}, 0
        for n, s in zip(names, shapes):
            params[n] = theta[i: i + s.numel()].reshape(s)
            i += s.numel()
        return loss_fn(functional_call(model, params, (x,)), y)

    return torch.autograd.functional.hessian(loss_of, flat)


def test_tracked_values_equal_the_dense_hessian_at_each_measured_epoch(data) -> None:
    train_data, _ = data
    config = replace(CONFIG, track_tol=1e-6, track_trace_matvecs=3 * 51)  # 51 parameters
    sub = subset(train_data, config.track_samples, seed=config.seed)
    loss_fn = get("mse")
    dense: dict[int, torch.Tensor] = {}
    holder: dict[str, torch.nn.Module] = {}

    def record(epoch: int, row: dict) -> None:
        dense[epoch] = _dense_hessian(holder["model"], loss_fn, sub.x.double(), sub.y)
        holder["model"].train()

    holder["model"] = model = _model()
    result = train(model, loss_fn, train_data, config=config, progress=False, callback=record)
    h = result.history
    for epoch in (0, 2, 4, 5):
        H = dense[epoch]
        assert H.shape == (51, 51)
        top = float(torch.linalg.eigvalsh(H)[-1])
        assert h["lambda_max"][epoch] == pytest.approx(top, rel=1e-9, abs=1e-12)
        # >= P trace probes: the scaled unit vectors, so the trace is exact
        assert h["hessian_trace"][epoch] == pytest.approx(float(torch.trace(H)), rel=1e-9)
        assert h["lambda_max_residual"][epoch] <= 1e-6 * abs(top)
        assert h["hvp_count"][epoch] == h["lambda_max_matvecs"][epoch] + 51
    # the eigenvalue changed along training, so agreement at every epoch is not a coincidence
    assert len({round(float(h["lambda_max"][e]), 6) for e in (0, 2, 4, 5)}) == 4


def test_nan_at_epochs_not_measured_and_the_warm_start_saves_products(data) -> None:
    result = train(_model(), get("ce"), *data, replace(CONFIG, epochs=9), progress=False)
    h = result.history
    measured = [0, 2, 4, 6, 8, 9]
    for k in REPRODUCIBLE:
        if k in ("local_energy",):  # not asked for
            assert np.isnan(h[k]).all()
            continue
        assert np.isfinite(h[k][measured]).all(), k
        assert np.isnan(np.delete(h[k], measured)).all(), k
    # a cold start (epoch 0) needs more Lanczos products than the warm starts after it
    assert h["lambda_max_matvecs"][0] > np.median(h["lambda_max_matvecs"][measured[1:]])
    assert (h["hvp_count"][measured] == h["lambda_max_matvecs"][measured]
            + CONFIG.track_trace_matvecs).all()


def test_tracking_leaves_the_training_trajectory_unchanged(data) -> None:
    plain = train(_model(dropout=0.2, dtype=torch.float32), get("ce"), *data,
                  replace(CONFIG, track_curvature=0), progress=False)
    tracked = train(_model(dropout=0.2, dtype=torch.float32), get("ce"), *data,
                    replace(CONFIG, track_curvature=1, track_local_energy=0.1), progress=False)
    for a, b in zip(plain.model.state_dict().values(), tracked.model.state_dict().values()):
        assert torch.equal(a, b)
    np.testing.assert_array_equal(plain.history["train_loss"], tracked.history["train_loss"])
    assert np.isfinite(tracked.history["local_energy"]).all()
    assert "lambda_max" not in plain.history


def _interrupted(config: TrainConfig, data, path: Path, at: int, objective: str = "ce",
                 drop_vector: bool = False):
    def stop(epoch: int, _: dict) -> None:
        if epoch == at:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(_model(), get(objective), *data, config, study=path, run="r", progress=False,
              callback=stop)
    if drop_vector:
        with Study(path, "a") as study:
            del study.run("r")["resume/track_vector"]
            resume = study.run("r")["resume"]
            resume.attrs["digest"] = digest(resume)  # a changed state is read only when sealed
    return train(_model(), get(objective), *data, config, study=path, run="r", progress=False)


def test_an_interrupted_run_resumes_bit_identical_tracked_values_included(data,
                                                                          tmp_path: Path) -> None:
    config = replace(CONFIG, epochs=7, track_curvature=1, track_local_energy=0.05)
    reference = train(_model(), get("ce"), *data, config, progress=False)
    resumed = _interrupted(config, data, tmp_path / "a.h5", at=3)
    assert resumed.resumed_from == 3
    for k in REPRODUCIBLE:
        np.testing.assert_array_equal(resumed.history[k], reference.history[k], err_msg=k)
    loaded = train(_model(), get("ce"), *data, config, study=tmp_path / "a.h5", run="r",
                   progress=False)
    np.testing.assert_array_equal(loaded.history["lambda_max"], reference.history["lambda_max"])
    # the warm-start vector is what makes it exact: resuming without it changes the values
    cold = _interrupted(config, data, tmp_path / "b.h5", at=3, drop_vector=True)
    assert not np.array_equal(cold.history["lambda_max_matvecs"],
                              reference.history["lambda_max_matvecs"]) or not np.array_equal(
        cold.history["lambda_max"], reference.history["lambda_max"])
    np.testing.assert_allclose(cold.history["lambda_max"], reference.history["lambda_max"],
                               rtol=1e-4)


def test_step_unit_full_batch_gd_resumes_and_is_stored_on_a_step_axis(data,
                                                                       tmp_path: Path) -> None:
    gd = replace(CONFIG, epochs=6, batch_size=120, momentum=0.0, schedule="constant",
                 track_curvature=2, track_unit="step", track_samples=0)
    reference = train(_model(), get("mse"), *data, gd, progress=False)
    t = reference.tracking
    np.testing.assert_array_equal(t["step"], np.arange(7))
    np.testing.assert_array_equal(np.flatnonzero(np.isfinite(t["lambda_max"])), [0, 2, 4, 6])
    assert "lambda_max" not in reference.history
    resumed = _interrupted(gd, data, tmp_path / "gd.h5", at=3, objective="mse")
    for k in REPRODUCIBLE:
        np.testing.assert_array_equal(resumed.tracking[k], t[k], err_msg=k)
    with Study(tmp_path / "gd.h5") as study:
        group = study.run("r")[STEP_GROUP]
        np.testing.assert_array_equal(group["lambda_max"][()], t["lambda_max"])
        assert group["lambda_max"].dims[0][0].name.endswith("step")
    # SGD with 4 steps per epoch, every 3 steps: measured inside epochs, and at the end
    sgd = train(_model(), get("ce"), *data, replace(gd, batch_size=32, epochs=2,
                                                    track_curvature=3), progress=False)
    np.testing.assert_array_equal(np.flatnonzero(np.isfinite(sgd.tracking["lambda_max"])),
                                  [0, 3, 6, 8])
    np.testing.assert_allclose(sgd.tracking["epoch"][[4, 8]], [1.0, 2.0])


def test_settings_are_recorded_with_the_run(data, study_path: Path) -> None:
    train(_model(), get("sam", rho=0.05, base="mse"), *data, CONFIG, study=study_path,
          run="r", progress=False)
    with Study(study_path) as study:
        attrs = study.run_attrs("r")
        history = study.run("r")["history"]
        assert {"lambda_max", "hessian_trace", "hvp_count"} <= set(history)
    tracking = attrs["tracking"]
    assert tracking["every"] == 2 and tracking["unit"] == "epoch"
    assert tracking["num_samples"] == 50 and tracking["loss"] == "mse"  # SAM's base loss
    assert tracking["lambda_max"]["tol"] == CONFIG.track_tol
    assert tracking["trace"] == {"method": "hutch++, Lanczos sketch", "probes": "rademacher",
                                 "num_matvecs": CONFIG.track_trace_matvecs}
    assert tracking["lambda_max"]["block"] == CONFIG.track_top_k
    assert attrs["config"]["track_curvature"] == 2
    with pytest.raises(ConfigError, match="other settings"):
        train(_model(), get("sam", rho=0.05, base="mse"), *data,
              replace(CONFIG, track_curvature=1), study=study_path, run="r", progress=False)


def test_tracked_loss_and_bad_settings() -> None:
    assert tracked_loss(get("focal"))[1] == "focal"
    assert tracked_loss(get("sam"))[1] == "ce"
    for bad in ({"track_unit": "batch"}, {"track_trace_matvecs": 1}, {"track_curvature": -1},
                {"track_tol": 0.0}, {"track_local_energy": -0.1}):
        with pytest.raises(ConfigError):
            TrainConfig(**{"track_curvature": 1, **bad})  # type: ignore[arg-type]
    assert CurvatureTracker  # exported for the loop and for users


def test_a_run_stored_before_tracking_existed_still_loads(data, study_path: Path) -> None:
    """Stored signatures lack the tracking settings; they read as their defaults (off)."""
    import json

    train(_model(), get("ce"), *data, replace(CONFIG, track_curvature=0), study=study_path,
          run="r", progress=False)
    with Study(study_path, "a") as study:
        group = study.run("r")
        signature = json.loads(group.attrs["signature"])
        for key in [k for k in signature["config"] if k.startswith("track_")]:
            del signature["config"][key]
        group.attrs["signature"] = json.dumps(signature)
    again = train(_model(), get("ce"), *data, replace(CONFIG, track_curvature=0),
                  study=study_path, run="r", progress=False)
    assert again.resumed_from == CONFIG.epochs


def test_a_structured_forward_is_tracked_over_its_tokens() -> None:
    """With ``forward=``, λ_max is that of the token-level loss the run trains."""
    from landscape.hessian import HessianOperator
    from tests.padded import Tagger
    from tests.train.test_train_forward import _sequences, tokens

    data = _sequences()
    torch.manual_seed(0)
    model = Tagger(dim=3, hidden=4, classes=3).double()
    config = TrainConfig(epochs=2, batch_size=8, lr=0.5, track_curvature=2, track_samples=0,
                         track_tol=1e-8, track_trace_matvecs=0)
    res = train(model, get("ce"), data, config=config, progress=False, forward=tokens)
    H = HessianOperator(res.model, get("ce"), (data.x.double(), data.y), forward=tokens)
    top = float(torch.linalg.eigvalsh(H @ torch.eye(H.num_params, dtype=torch.float64))[-1])
    assert res.history["lambda_max"][2] == pytest.approx(top, rel=1e-9)
    with_energy = train(Tagger(dim=3, hidden=4, classes=3).double(), get("ce"), data,
                        config=replace(config, track_local_energy=0.1), progress=False,
                        forward=tokens)
    assert np.isfinite(with_energy.history["local_energy"][[0, 2]]).all()


def test_a_killed_process_resumes_its_tracked_values_bit_for_bit(tmp_path: Path) -> None:
    """SIGKILL while the run sleeps after epoch 2 (mid-training), then rerun: the weights and
    every tracked value (step unit, SGD with 4 steps per epoch) equal an uninterrupted run's."""
    import signal
    import subprocess
    import sys

    from landscape.store import load_model
    from tests.helpers import REPO, run_python

    code = f"""import sys; sys.path.insert(0, {str(REPO)!r})
import time, torch
torch.set_num_threads(1)
from landscape.models import build
from landscape.objectives import get
from landscape.train import TrainConfig, train
from tests.helpers import blobs
path, run, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
def cb(epoch, row):
    if epoch == kill_at:
        print("epoch", epoch, flush=True)
        time.sleep(60)
train(build("mlp", (4,), 3, seed=1, depth=1, width=8), get("ce"), blobs(120, seed=0), None,
      TrainConfig(epochs=5, batch_size=32, seed=3, track_curvature=3, track_unit="step",
                  track_local_energy=0.05),
      study=path, run=run, progress=False, callback=cb)
"""
    path = tmp_path / "s.h5"
    proc = subprocess.Popen([sys.executable, "-c", code, str(path), "killed", "2"],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "epoch 2"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    for run in ("killed", "fresh"):
        done = run_python(code, str(path), run, "-1")
        assert done.returncode == 0, done.stderr
    a, b = load_model(path, "killed"), load_model(path, "fresh")
    for x, y in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(x, y)
    with Study(path) as study:
        for k in REPRODUCIBLE:
            killed = study.run("killed")[f"{STEP_GROUP}/{k}"][()]
            np.testing.assert_array_equal(killed, study.run("fresh")[f"{STEP_GROUP}/{k}"][()],
                                          err_msg=k)
        lam = study.run("killed")[f"{STEP_GROUP}/lambda_max"][()]
        assert np.flatnonzero(np.isfinite(lam)).tolist() == [0, 3, 6, 9, 12, 15, 18, 20]


class _Quadratic(torch.nn.Module):
    """Outputs ``θ ⊙ s`` for every sample, so ``½‖output‖²`` has the Hessian ``diag(s²)``."""

    def __init__(self, scales: list[float]) -> None:
        super().__init__()
        self.theta = torch.nn.Parameter(torch.ones(len(scales), dtype=torch.float64))
        self.register_buffer("scale", torch.tensor(scales, dtype=torch.float64).sqrt())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.theta * self.scale).expand(len(x), -1)


def test_two_tracked_eigenpairs_see_a_crossing_that_one_would_miss() -> None:
    """Between two measurements the top two eigenvalues of ``diag(3, 2.99, 1, ...)`` swap. A warm
    start from the old top eigenvector alone stays on it (an exact eigenvector: its residual is
    zero) and reports 2.99; the sum of the two tracked Ritz vectors spans both and finds 3."""
    from landscape.objectives.base import LossObjective
    from tests.helpers import blobs

    class HalfSquare(LossObjective):
        name = "half_square"

        def per_sample(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
            return 0.5 * (logits ** 2).sum(1)

    before = [3.0, 2.99, 1.0, 0.5, 0.25, 0.1]
    after = [2.99, 3.0, 1.0, 0.5, 0.25, 0.1]
    found = {}
    for k in (1, 2):
        model = _Quadratic(before)
        tracker = CurvatureTracker(TrainConfig(track_curvature=1, track_top_k=k,
                                               track_trace_matvecs=0, track_tol=1e-8),
                                   model, HalfSquare(), blobs(30))
        assert tracker.measure(model)["lambda_max"] == pytest.approx(3.0, rel=1e-10)
        model.scale.copy_(torch.tensor(after, dtype=torch.float64).sqrt())
        found[k] = tracker.measure(model)["lambda_max"]
    assert found[1] == pytest.approx(2.99, rel=1e-10)  # locked onto the former top
    assert found[2] == pytest.approx(3.0, rel=1e-10)


def test_the_training_plot_draws_lambda_max_against_the_stability_threshold(
        data, study_path: Path) -> None:
    from landscape.plot import training_curves

    train(_model(), get("ce"), *data, replace(CONFIG, momentum=0.5, schedule="constant"),
          study=study_path, run="r", progress=False)
    train(_model(), get("ce"), *data, replace(CONFIG, track_curvature=0), study=study_path,
          run="plain", progress=False)
    fig = training_curves(study_path)
    ax = fig.axes[2]
    assert "λ_max" in ax.get_ylabel() and ax.get_yscale() == "log"
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"r λ_max", "r (2+2β)/η, β = 0.5"}  # the untracked run has none
    np.testing.assert_allclose(lines["r (2+2β)/η, β = 0.5"].get_ydata(), 3.0 / CONFIG.lr)
    np.testing.assert_array_equal(lines["r λ_max"].get_xdata(), [0, 2, 4, 5])
    assert len(training_curves(study_path, ["plain"]).axes) == 2


def test_a_single_stored_warm_start_vector_is_padded_to_a_block(data) -> None:
    """A resume state written before blocks holds one vector ``[P]``: it starts the block with
    seeded random columns beside it, and the measurement still converges to the dense λ_max."""
    train_data, _ = data
    model = _model()
    config = replace(CONFIG, track_curvature=1, track_tol=1e-8, track_trace_matvecs=0)
    tracker = CurvatureTracker(config, model, get("ce"), train_data)
    sub = subset(train_data, config.track_samples, seed=config.seed)
    dense = _dense_hessian(model, get("ce"), sub.x.double(), sub.y)
    noise = torch.randn(51, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    tracker.vector = torch.linalg.eigh(dense)[1][:, -2] + 0.1 * noise  # near the second one
    row = tracker.measure(model)
    top = float(torch.linalg.eigvalsh(dense)[-1])
    assert row["lambda_max"] == pytest.approx(top, rel=1e-9)
    assert tracker.vector is not None and tracker.vector.shape == (51, config.track_top_k)
