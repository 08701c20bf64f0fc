"""The harness as a compress plugin: importing this module (the `compress.plugins` entry point in pyproject.toml)
registers the harness's commands (bench, check, report) and the functions the search and the recipe runner measure
and report with, so those reach the harness through compress.core.registry without importing this package."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from compress.core.registry import Harness, register_harness
from eval import bench, check, record, report, search_report  # noqa: F401  (importing a command module registers it)
from eval.machine import physical_cores
from eval.profile import profile_against_floor


def _profile(model: str | Path, texts: list[str], threads: int | None, spinning: bool) -> dict[str, Any]:
    """The model's operator profile and compute floor at batch 1 x 128, timed as bench times (all physical cores
    unless told)."""
    return profile_against_floor(model, texts, threads or physical_cores(), spinning=spinning)


HARNESS = register_harness(Harness(
    bench=bench.bench, settings=bench.BenchConfig, write_record=record.write, write_report=report.write_report,
    summarize_search=search_report.summarize, write_search_report=search_report.write, profile=_profile))
