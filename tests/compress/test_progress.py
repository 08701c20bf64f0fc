"""Progress output: redrawn bars on a terminal, plain lines in a log, nothing under --quiet."""

import io

import pytest

from compress.core import progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture(autouse=True)
def loud():
    progress.set_quiet(False)
    yield
    progress.set_quiet(False)


def test_a_log_file_gets_plain_lines_without_carriage_returns():
    log = io.StringIO()
    for _ in progress.bar(range(500), desc="train", unit="step", file=log):
        pass
    text = log.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    # A start line and an end line; a slow machine may add one per interval, never one per step.
    assert 2 <= len(lines) <= 4
    assert lines[0].startswith("train: 0/500 step") and lines[-1].startswith("train: 500/500 step (100%)")


def test_a_terminal_gets_a_bar_redrawn_in_place():
    screen = Terminal()
    for _ in progress.bar(range(50), desc="train", file=screen):
        pass
    assert "\r" in screen.getvalue()


def test_a_transient_bar_leaves_nothing_in_a_log():
    log = io.StringIO()
    for _ in progress.bar(range(50), desc="latency", leave=False, file=log):
        pass
    assert log.getvalue() == ""


def test_quiet_keeps_bars_and_progress_lines_out_but_warnings_in(capsys):
    progress.set_quiet(True)
    log = io.StringIO()
    for _ in progress.bar(range(50), desc="train", file=log):
        pass
    progress.note("step 1 of 3")
    progress.warning("warning: 3 test rows are duplicates")
    assert log.getvalue() == ""
    assert capsys.readouterr().err == "warning: 3 test rows are duplicates\n"


def test_a_line_said_once_is_not_repeated(capsys):
    for _ in range(3):
        progress.note("data sst2: train = 4000 rows (a line every stage of a search would print)", once="sst2")
        progress.warning("warning: 2 test rows duplicate train rows (every stage)")
    progress.note("epoch 1: loss 0.3")
    progress.note("epoch 1: loss 0.3")
    err = capsys.readouterr().err.splitlines()
    assert err.count("data sst2: train = 4000 rows (a line every stage of a search would print)") == 1
    assert err.count("warning: 2 test rows duplicate train rows (every stage)") == 1
    assert err.count("epoch 1: loss 0.3") == 2
