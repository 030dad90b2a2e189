"""Progress: a tqdm bar on a terminal, plain lines (no carriage returns) in a log."""

from __future__ import annotations

import io

import numpy as np

from landscape._progress import LineProgress, interactive, progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_one_plain_line_per_tenth_and_one_at_the_end():
    log = io.StringIO()
    with progress(total=25, desc="stage", unit="step", stream=log) as bar:
        for _ in range(25):
            bar.set_postfix_str("ok")
            bar.update(1)
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    # marks at 2.5, 5, ..., 25 steps: passed at steps 3, 5, 8, 10, 13, 15, 18, 20, 23, 25
    assert [ln.split(" (")[0] for ln in lines] == [f"stage: {100 * n / 25:.0f}%" for n in
                                                  (3, 5, 8, 10, 13, 15, 18, 20, 23, 25)]
    assert all(ln.endswith(", ok") and "/25 step)" in ln for ln in lines)


def test_few_items_get_a_line_each_a_resumed_loop_counts_on_and_close_prints_the_rest():
    log = io.StringIO()
    for _ in progress(range(3, 5), initial=2, total=4, desc="train", unit="epoch", stream=log):
        pass
    assert [ln.split(",")[0] for ln in log.getvalue().splitlines()] == [
        "train: 75% (3/4 epoch)", "train: 100% (4/4 epoch)"]
    log = io.StringIO()
    bar = LineProgress(total=100, desc="x", stream=log)
    bar.update(3)
    assert log.getvalue() == ""
    bar.close()
    bar.close()
    assert log.getvalue().startswith("x: 3% (3/100 it)") and log.getvalue().count("\n") == 1


def test_quiet_shows_nothing_and_a_terminal_gets_a_bar():
    log = io.StringIO()
    assert list(progress(range(3), quiet=True, stream=log)) == [0, 1, 2]
    assert log.getvalue() == ""
    term = _Terminal()
    assert interactive(term) and not interactive(io.StringIO())
    assert not isinstance(progress(range(3), stream=term), LineProgress)
    assert isinstance(progress(range(3), stream=io.StringIO()), LineProgress)


def test_an_empty_update_prints_nothing_again():
    log = io.StringIO()
    with progress(total=2, desc="x", stream=log) as bar:
        bar.update(2)
        bar.update(0)
    assert log.getvalue().count("\n") == 1
    assert list(progress(np.arange(3), stream=log)) == [0, 1, 2]  # an array iterates too
