"""A study file never chooses code: models and result classes come from registries only."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import h5py
import pytest
import torch
from torch import nn

from landscape.errors import ConfigError, StoreError
from landscape.models import MLP, build, build_from_config, record_config, register_model
from landscape.store import Study, load_model, load_result, save_result, write_state
from landscape.store.commit import digest
from landscape.store.results import register_result
from tests.helpers import run_python


def _store(path: Path, model: nn.Module, run: str = "r") -> None:
    with Study(path, "a") as study:
        write_state(study.create_run(run).create_group("model"), model)


def _poison(path: Path, marker: Path) -> None:
    with h5py.File(path, "a") as f:
        for where in ("runs/r/model", "runs/r"):
            f[where].attrs["model_class"] = "subprocess.getoutput"
            f[where].attrs["model_name"] = ""
            f[where].attrs["model_kwargs"] = json.dumps({"cmd": f"touch {marker}"})
        if "digest" in f["runs/r/model"].attrs:  # an attacker reseals the digest too
            f["runs/r/model"].attrs["digest"] = digest(f["runs/r/model"])


def test_a_study_naming_a_function_runs_nothing(study_path: Path, tmp_path: Path) -> None:
    _store(study_path, build("mlp", (4,), 3, seed=0, width=8))
    marker = tmp_path / "MARKER"
    _poison(study_path, marker)
    with pytest.raises(ConfigError, match=r"subprocess\.getoutput.*model=") as err:
        load_model(study_path, "r")
    assert "\n" not in str(err.value)
    assert not marker.exists()


def test_cli_measure_of_a_malicious_study_runs_nothing(tmp_path: Path) -> None:
    path, marker = tmp_path / "s.h5", tmp_path / "MARKER"
    code = ("import sys; from landscape.cli import main; "
            "sys.exit(main(['train', '--out', sys.argv[1], '--run', 'r', '--epochs', '1', "
            "'--subset', '100', '--width', '8', '--depth', '1', '--quiet']))")
    assert run_python(code, str(path)).returncode == 0
    _poison(path, marker)
    measure = ["measure", str(path), "--quick", "--quiet", "--runs", "r"]
    for command in (measure, ["info", str(path)]):
        out = run_python("import sys; from landscape.cli import main; "
                         "sys.exit(main(sys.argv[1:]))", *command)
        assert not marker.exists(), command
        assert "Traceback" not in out.stderr, out.stderr
    assert out.returncode == 0  # info lists the run
    bad = run_python("import sys; from landscape.cli import main; sys.exit(main(sys.argv[1:]))",
                     "measure", str(path), "--quick", "--quiet", "--runs", "r")
    assert bad.returncode == 2 and "subprocess.getoutput" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr


def test_old_files_naming_a_registered_class_by_path_still_load(study_path: Path) -> None:
    model = build("mlp", (4,), 3, seed=0, width=8)
    _store(study_path, model)
    with h5py.File(study_path, "a") as f:  # as written before the registry
        del f["runs/r/model"].attrs["model_name"]
        assert f["runs/r/model"].attrs["model_class"] == "landscape.models.mlp.MLP"
    x = torch.randn(3, 4)
    assert torch.equal(load_model(study_path, "r")(x), model.eval()(x))


class _Registered(nn.Module):
    def __init__(self, n: int = 2) -> None:
        super().__init__()
        self.lin = nn.Linear(n, 2)
        record_config(self, n=n)


def test_registered_user_model_is_rebuilt_and_recorded_by_name(study_path: Path) -> None:
    register_model("test-registered", _Registered, overwrite=True)
    model = _Registered(5)
    _store(study_path, model)
    with h5py.File(study_path) as f:
        assert f["runs/r/model"].attrs["model_name"] == "test-registered"
    assert load_model(study_path, "r").lin.in_features == 5
    with pytest.raises(ConfigError, match="registered as 'mlp' already"):
        register_model("mlp", _Registered)


def test_build_from_config_imports_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    marker = tmp_path / "IMPORTED"
    (tmp_path / "evil_module_for_test.py").write_text(
        f"open({str(marker)!r}, 'w').close()\nclass Model: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError, match="not a registered model"):
        build_from_config({"class": "evil_module_for_test.Model", "kwargs": {}})
    assert not marker.exists() and "evil_module_for_test" not in sys.modules
    assert isinstance(build_from_config({"class": "mlp", "kwargs": {"in_features": 4,
                                                                    "num_classes": 2}}), MLP)


class _Result:
    def __init__(self, v: float = 0.0) -> None:
        self.v = v

    def to_arrays(self) -> tuple[dict, dict]:
        return {"v": torch.tensor([self.v]).numpy()}, {}

    @classmethod
    def from_arrays(cls, arrays: dict, attrs: dict) -> _Result:
        return cls(float(arrays["v"][0]))


def test_result_class_comes_from_a_registry(study_path: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "IMPORTED"
    (tmp_path / "evil_result_for_test.py").write_text(
        f"open({str(marker)!r}, 'w').close()\nclass R:\n    from_arrays = print\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with Study(study_path, "a") as study:
        group = save_result(study.file, "res", _Result(2.5))
        with pytest.raises(StoreError, match="never chooses code"):
            load_result(group)  # not registered
        register_result(_Result)
        assert load_result(group).v == 2.5
        for path in ("evil_result_for_test.R", "landscape.__main__.main", "os.system"):
            group.attrs["result_class"] = path
            with pytest.raises(StoreError, match="never chooses code"):
                load_result(group)
    assert not marker.exists() and "evil_result_for_test" not in sys.modules


def test_every_toolkit_result_class_can_be_read_back() -> None:
    import landscape.compare
    import landscape.flatness
    import landscape.hessian
    import landscape.shallow  # noqa: F401  (defines the result classes)
    from landscape.flatness import SharpnessResult
    from landscape.hessian._results import ArraysMixin
    from landscape.store.results import RESULT_MODULES, result_class

    def subclasses(cls: type) -> list[type]:
        return [s for c in cls.__subclasses__() for s in (c, *subclasses(c))]

    for cls in (*subclasses(ArraysMixin), SharpnessResult):
        if not cls.__module__.startswith("tests."):
            assert cls.__module__ in RESULT_MODULES, cls
            assert result_class(f"{cls.__module__}.{cls.__qualname__}") is cls
