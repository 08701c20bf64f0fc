"""Progress as a reader of the output can use it: bars that redraw on a terminal, a plain line now and then in a log
file or a CI log, and nothing but results and errors under --quiet."""

from __future__ import annotations

import sys
from typing import Any, Iterable, TextIO

# A redirected log gets a bar's state at most this often (and once at its end): enough to see a long step move.
LOG_INTERVAL_S = 15.0

_quiet = False
_said: set[str] = set()


def set_quiet(quiet: bool) -> None:
    """--quiet: no progress bars and no progress lines, only results and errors."""
    global _quiet
    _quiet = quiet


def is_quiet() -> bool:
    return _quiet


def note(line: str, once: str | None = None, file: TextIO | None = None) -> None:
    """A progress line, flushed at once so that a redirected log follows the work. `once`: a key; a line whose key
    this process has already printed (the data roles of each stage a search runs) is not printed again."""
    if _quiet or (once is not None and once in _said):
        return
    if once is not None:
        _said.add(once)
    print(line, file=file or sys.stderr, flush=True)


def warning(line: str) -> None:
    """A warning: printed once, --quiet or not."""
    if line not in _said:
        _said.add(line)
        print(line, file=sys.stderr, flush=True)


class _LineWriter:
    """A stream for tqdm off a terminal: each redraw becomes one line, blanking redraws none."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def write(self, text: str) -> None:
        text = text.replace("\r", "\n")
        for line in text.split("\n"):
            if line.strip():
                self.stream.write(line.rstrip() + "\n")

    def flush(self) -> None:
        self.stream.flush()


def bar(iterable: Iterable | None = None, *, total: float | None = None, desc: str | None = None, unit: str = "it",
        disable: bool = False, leave: bool = True, file: TextIO | None = None) -> Any:
    """A tqdm bar: redrawn in place on a terminal; elsewhere a line at most every LOG_INTERVAL_S seconds and one at
    the end; none under --quiet."""
    from tqdm.auto import tqdm

    stream = file or sys.stderr
    if disable or _quiet:
        return tqdm(iterable, total=total, disable=True)
    if getattr(stream, "isatty", lambda: False)():
        return tqdm(iterable, total=total, desc=desc, unit=unit, leave=leave, file=stream, dynamic_ncols=True)
    if not leave:  # a transient bar (one latency workload) has nothing to leave in a log
        return tqdm(iterable, total=total, disable=True)
    counted = "{n_fmt}/{total_fmt} {unit} ({percentage:.0f}%), {elapsed} elapsed, {remaining} left" if (
        total is not None or hasattr(iterable, "__len__")) else "{n_fmt} {unit}, {elapsed} elapsed"
    # miniters=1 keeps tqdm's monitor thread from forcing redraws between the intervals.
    return tqdm(iterable, total=total, desc=desc, unit=unit, file=_LineWriter(stream), mininterval=LOG_INTERVAL_S,
                miniters=1, bar_format="{desc}: " + counted + ", {rate_fmt}{postfix}", leave=leave, ascii=True)


def line(text: str) -> None:
    """A long command's progress line on standard output (none under --quiet), flushed at once so that a
    redirected log follows."""
    note(text, file=sys.stdout)
