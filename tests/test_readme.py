"""The README's test command says how to run the Fashion-MNIST tests, as their skip reason does."""

from __future__ import annotations

from tests.helpers import FASHION_MNIST_INSTALL, FASHION_MNIST_SKIP, REPO


def test_the_test_command_says_how_to_run_the_fashion_mnist_tests():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    command = 'pip install -e ".[test]" && python -m pytest\n```\n'
    assert command in readme
    after = readme.split(command, 1)[1].strip().split("\n\n")[0]  # the paragraph below it
    assert "dataset-fashion-mnist" in after
    assert FASHION_MNIST_INSTALL in " ".join(after.split())
    assert FASHION_MNIST_INSTALL in FASHION_MNIST_SKIP and "dataset-fashion-mnist" in \
        FASHION_MNIST_SKIP
