from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "landscape.shallow",
    "landscape.shallow.data",
    "landscape.shallow.models",
    "landscape.shallow.losses",
    "landscape.shallow.enumeration",
    "landscape.shallow.bp",
    "landscape.shallow.fbp",
    "landscape.shallow.local_energy",
    "landscape.shallow.learners",
    "landscape.shallow.replicated",
    "landscape.shallow.rsgd",
    "landscape.shallow.continuous_replicas",
    "landscape.shallow.greedy",
    "landscape.store.shallow",
    "landscape.shallow.plots",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
