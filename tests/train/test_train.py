"""Training: reproducible from the seed, resumable after a kill, stored with provenance."""

from __future__ import annotations

import signal
from pathlib import Path

import numpy as np
import pytest
import torch

from landscape.errors import ConfigError, NonFiniteError
from landscape.models import MLP, build
from landscape.objectives import get
from landscape.store import Study, load_model, param_hash
from landscape.train import TrainConfig, lr_factor, train
from tests.helpers import blobs, run_python

CONFIG = TrainConfig(epochs=6, batch_size=32, lr=0.05, seed=7, checkpoint_every=2)


def _model(seed: int = 0, **kw: object) -> torch.nn.Module:
    return build("mlp", (4,), 3, seed=seed, depth=2, width=16, **kw)


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_same_seed_same_weights_and_other_seed_differs(data) -> None:
    train_data, test_data = data
    runs = [train(_model(0, dropout=0.2), get("ce"), train_data, test_data, CONFIG,
                  progress=False) for _ in range(2)]
    _assert_same(_weights(runs[0].model), _weights(runs[1].model))
    np.testing.assert_array_equal(runs[0].history["train_loss"], runs[1].history["train_loss"])
    other = train(_model(0, dropout=0.2), get("ce"), train_data, test_data,
                  TrainConfig(**{**CONFIG.to_dict(), "seed": 8}), progress=False)
    assert not torch.equal(other.model.out.weight, runs[0].model.out.weight)


def test_history_is_complete_and_learning_happens(data) -> None:
    result = train(_model(), get("ce"), *data, CONFIG, progress=False)
    h = result.history
    assert set(h) >= {"train_loss", "train_acc", "test_loss", "test_acc", "train_acc_clean", "lr"}
    assert all(v.shape == (CONFIG.epochs + 1,) for v in h.values())
    assert np.isnan(h["lr"][0]) and np.isfinite(h["lr"][1:]).all()
    assert h["train_loss"][-1] < 0.5 * h["train_loss"][0]
    assert h["train_acc"][-1] > 0.9 and h["test_acc"][-1] > 0.9
    np.testing.assert_allclose(h["lr"][1:], [CONFIG.lr * lr_factor(e, CONFIG) for e in range(6)])


def test_stored_run_has_provenance_history_trajectory_and_model(data, study_path: Path) -> None:
    result = train(_model(), get("ce", temperature=2.0), *data, CONFIG, study=study_path,
                   run="r", progress=False)
    with Study(study_path) as study:
        attrs = study.run_attrs("r")
        for key in ("seed", "dtype", "device", "model_class", "model_kwargs", "num_params",
                    "init_param_hash", "dataset_id", "transforms", "num_samples",
                    "subset_indices_sha256", "objective", "objective_params", "config",
                    "torch_version", "numpy_version", "landscape_version", "git_commit",
                    "status"):
            assert key in attrs, key
        assert attrs["status"] == "finished" and attrs["epochs_done"] == CONFIG.epochs
        assert attrs["objective_params"] == {"temperature": 2.0}
        assert attrs["seed"] == 7 and attrs["dataset_id"] == "blobs/train"
        group = study.run("r")
        assert group["model"].attrs["param_hash"] == param_hash(result.model)
        np.testing.assert_array_equal(group["trajectory/epoch"][()], [0, 2, 4, 6])
        hist = group["history"]
        np.testing.assert_array_equal(hist["train_loss"][()], result.history["train_loss"])
        assert hist["train_loss.computed"][()].all()
        assert hist["train_loss"].dims[0][0].name.endswith("epoch")
        np.testing.assert_array_equal(group["data/train_index"][()], np.arange(120))
    last = load_model(study_path, "r", checkpoint=6)
    _assert_same(_weights(last), _weights(result.model))


def test_interrupted_run_resumes_to_the_same_weights(data, study_path: Path) -> None:
    reference = train(_model(), get("ce"), *data, CONFIG, progress=False)

    def stop_at_3(epoch: int, _: dict) -> None:
        if epoch == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(_model(), get("ce"), *data, CONFIG, study=study_path, run="r", progress=False,
              callback=stop_at_3)
    with Study(study_path) as study:
        assert study.run_attrs("r")["status"] == "running"
        assert study.run_attrs("r")["epochs_done"] == 3
    seen: list[int] = []
    resumed = train(_model(), get("ce"), *data, CONFIG, study=study_path, run="r",
                    progress=False, callback=lambda e, _: seen.append(e))
    assert resumed.resumed_from == 3 and seen == [4, 5, 6]
    _assert_same(_weights(resumed.model), _weights(reference.model))
    np.testing.assert_array_equal(resumed.history["train_loss"], reference.history["train_loss"])
    again = train(_model(), get("ce"), *data, CONFIG, study=study_path, run="r",
                  progress=False, callback=lambda e, _: seen.append(e))
    assert again.resumed_from == CONFIG.epochs and seen == [4, 5, 6]
    _assert_same(_weights(again.model), _weights(reference.model))


def test_killed_subprocess_resumes_to_the_uninterrupted_weights(tmp_path: Path) -> None:
    code = """
import os, signal, sys, time
import torch
torch.set_num_threads(1)
from landscape.models import build
from landscape.objectives import get
from landscape.train import TrainConfig, train
from tests.helpers import blobs
path, run, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
def cb(epoch, row):
    if epoch == kill_at:
        print("epoch", epoch, flush=True)
        time.sleep(60)  # killed here, mid-training
res = train(build("mlp", (4,), 3, seed=1, depth=2, width=16, dropout=0.1), get("mse"),
            blobs(150, seed=0), blobs(60, seed=1, name="blobs/test"),
            TrainConfig(epochs=8, batch_size=16, seed=3, checkpoint_every=3),
            study=path, run=run, progress=False, callback=cb)
print("resumed_from", res.resumed_from, flush=True)
"""
    import subprocess
    import sys

    from tests.helpers import REPO

    path = tmp_path / "s.h5"
    env_code = f"import sys; sys.path.insert(0, {str(REPO)!r})\n" + code
    proc = subprocess.Popen([sys.executable, "-c", env_code, str(path), "killed", "4"],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "epoch 4"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    resumed = run_python(env_code, str(path), "killed", "-1")
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed_from 4" in resumed.stdout
    fresh = run_python(env_code, str(path), "fresh", "-1")
    assert fresh.returncode == 0, fresh.stderr
    a = load_model(path, "killed")
    b = load_model(path, "fresh")
    _assert_same(_weights(a), _weights(b))
    with Study(path) as study:
        ha = study.run("killed")["history/train_loss"][()]
        hb = study.run("fresh")["history/train_loss"][()]
        np.testing.assert_array_equal(ha, hb)
        np.testing.assert_array_equal(study.run("killed")["trajectory/epoch"][()], [0, 3, 6, 8])


def test_resuming_with_other_settings_is_refused(data, study_path: Path) -> None:
    train(_model(), get("ce"), *data, TrainConfig(epochs=1), study=study_path, run="r",
          progress=False)
    with pytest.raises(ConfigError, match="other settings"):
        train(_model(), get("ce"), *data, TrainConfig(epochs=2), study=study_path, run="r",
              progress=False)
    again = train(_model(), get("ce"), *data, TrainConfig(epochs=2), study=study_path, run="r",
                  overwrite=True, progress=False)
    assert again.resumed_from is None


def test_a_speed_only_setting_does_not_block_resuming(data, study_path: Path) -> None:
    """``eval_batch_size`` only chunks the evaluation passes: a run stored with one value
    resumes (and, finished, loads) with another, to the uninterrupted weights."""
    from dataclasses import replace

    reference = train(_model(), get("ce"), *data, CONFIG, progress=False)

    def stop_at_3(epoch: int, _: dict) -> None:
        if epoch == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(_model(), get("ce"), *data, replace(CONFIG, eval_batch_size=2048),
              study=study_path, run="r", progress=False, callback=stop_at_3)
    resumed = train(_model(), get("ce"), *data, replace(CONFIG, eval_batch_size=7),
                    study=study_path, run="r", progress=False)
    assert resumed.resumed_from == 3
    _assert_same(_weights(resumed.model), _weights(reference.model))
    with pytest.raises(ConfigError, match="other settings"):
        train(_model(), get("ce"), *data, replace(CONFIG, eval_batch_size=7, lr=0.1),
              study=study_path, run="r", progress=False)


def test_non_finite_loss_is_a_clear_error(data) -> None:
    train_data, _ = data
    bad = train_data.replace(x=train_data.x.clone().index_fill_(0, torch.tensor([5]), np.nan))
    with pytest.raises(NonFiniteError, match="ce loss became nan"):
        train(_model(), get("ce"), bad, config=TrainConfig(epochs=1), progress=False)


def test_bad_arguments(data, study_path: Path) -> None:
    train_data, _ = data
    with pytest.raises(ConfigError, match="both study= and run="):
        train(_model(), get("ce"), train_data, study=study_path)
    with pytest.raises(ConfigError, match="differ"):
        train(_model(), get("ce"), train_data, blobs(10, dim=5), progress=False)
    with pytest.raises(ConfigError):
        TrainConfig(lr=-1)
    with pytest.raises(ConfigError):
        TrainConfig(optimizer="lbfgs")  # type: ignore[arg-type]


def test_float64_models_train_in_float64(data) -> None:
    model = MLP(4, 3, depth=1, width=8).double()
    result = train(model, get("mse"), *data, TrainConfig(epochs=2, batch_size=40),
                   progress=False)
    assert result.model.out.weight.dtype == torch.float64
    assert np.isfinite(result.history["train_loss"]).all()


def test_batchnorm_buffers_round_trip(data, study_path: Path) -> None:
    result = train(_model(batchnorm=True), get("ce"), *data, TrainConfig(epochs=2),
                   study=study_path, run="bn", progress=False)
    rebuilt = load_model(study_path, "bn")
    x = data[1].x
    assert torch.equal(rebuilt(x), result.model(x))
    assert torch.equal(rebuilt.hidden[0].bn.running_mean, result.model.hidden[0].bn.running_mean)


def test_sampler_weights_hook_is_honoured(data) -> None:
    from landscape.objectives import CrossEntropy

    class OnlyClassZero(CrossEntropy):
        def sampler_weights(self, epoch, train_data):
            return (train_data.y == 0).double()

    seen: list[torch.Tensor] = []

    class Spy(OnlyClassZero):
        def loss(self, logits, batch, ctx):
            seen.append(batch.y)
            return super().loss(logits, batch, ctx)

    train(_model(), Spy(), data[0], config=TrainConfig(epochs=1, batch_size=30), progress=False)
    assert torch.cat(seen).eq(0).all() and len(torch.cat(seen)) == 120


def test_blobs_helper_is_separable() -> None:
    d = blobs(30)
    assert d.class_counts.tolist() == [10, 10, 10]


def test_rewriting_the_resume_state_does_not_grow_the_file(data, tmp_path: Path) -> None:
    sizes = []
    for epochs in (2, 12):
        path = tmp_path / f"{epochs}.h5"
        train(_model(), get("ce"), *data, TrainConfig(epochs=epochs), study=path, run="r",
              progress=False)
        sizes.append(path.stat().st_size)
    assert sizes[1] < 1.2 * sizes[0], sizes
