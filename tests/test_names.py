"""Unknown names: every registry suggests the close known names ("did you mean")."""

from __future__ import annotations

import pytest

from landscape._names import did_you_mean, unknown_name
from landscape.errors import ConfigError


def test_close_matches_or_nothing():
    assert did_you_mean("cee", ["ce", "mse", "focal"]) == "; did you mean ce?"
    assert did_you_mean("zzz", ["ce", "mse"]) == ""
    err = unknown_name("objective", "cee", ["mse", "ce"], "register one first")
    assert isinstance(err, ConfigError)
    assert str(err) == ("unknown objective 'cee'; did you mean ce? (choose one of: ce, mse; "
                        "register one first)")


def _objective(name: str) -> None:
    from landscape.objectives import get

    get(name)


def _model(name: str) -> None:
    from landscape.models import build

    build(name, (1, 8, 8), 10)


def _dataset(name: str) -> None:
    from landscape.data import load

    load(name)


def _measure(name: str) -> None:
    from landscape.compare import registry

    registry.get(name)


@pytest.mark.parametrize(("lookup", "typo", "meant"), [
    (_objective, "label_smothing", "label_smoothing"), (_model, "resnet2", "resnet20"),
    (_dataset, "fashion-mnis", "fashion-mnist"), (_measure, "hessian_trac", "hessian_trace")])
def test_every_registry_suggests_the_close_names(lookup, typo: str, meant: str):
    with pytest.raises(ConfigError, match=f"unknown .*{typo}'; did you mean .*{meant}"):
        lookup(typo)
