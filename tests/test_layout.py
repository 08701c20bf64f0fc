"""The architecture the layout promises: stages independent of each other, imports flowing one way, small modules."""

from __future__ import annotations

import ast
from pathlib import Path

from compress.stages import STAGES

ROOT = Path(__file__).resolve().parents[1]
# The callers at the top, which may use every stage and the harness.
TOP = {"compress.cli", "compress.recipe", "compress.search", "compress.candidates", "compress.stages"}


def imports(module: str) -> set[str]:
    """Every module `module` imports, at the top or inside a function."""
    tree = ast.parse((ROOT / (module.replace(".", "/") + ".py")).read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def modules(package: str) -> list[str]:
    return [f"{package}.{p.stem}" for p in sorted((ROOT / package).glob("*.py")) if p.stem != "__init__"]


def test_no_stage_module_imports_another_stage():
    stages = {s.module for s in STAGES.values() if s.module.startswith("compress.")}
    assert len(stages) == 6
    crossing = {(m, other) for m in stages for other in stages - {m} if other in imports(m)}
    assert crossing == set()


def test_only_the_top_of_compress_uses_eval():
    below = [m for m in modules("compress") if m not in TOP]
    assert [m for m in below if any(i == "eval" or i.startswith("eval.") for i in imports(m))] == []


def test_the_harness_never_reaches_into_a_stage():
    stages = {s.module for s in STAGES.values() if s.module.startswith("compress.")}
    assert {(m, i) for m in modules("eval") for i in imports(m) if i in stages} == set()


def test_no_module_is_much_over_400_lines():
    sizes = {m: len((ROOT / (m.replace(".", "/") + ".py")).read_text().splitlines())
             for m in modules("compress") + modules("eval")}
    # quantize.py (437 lines: its guard and calibration) is the largest; split the guard out before it grows.
    assert {m: n for m, n in sizes.items() if n > 440} == {}
