"""What pyproject.toml declares: every import of the package is declared, every declared package is imported,
and each extra pins versions that exist on the package index."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def distribution(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def imported_distributions() -> set[str]:
    """Distributions that the code in compress/ and eval/ imports, at the top or inside functions."""
    # pynvml comes from nvidia-ml-py, which only the gpu extra installs.
    owners = {"pynvml": ["nvidia-ml-py"], **importlib.metadata.packages_distributions()}
    found = set()
    for file in [*ROOT.glob("compress/*.py"), *ROOT.glob("eval/*.py")]:
        for node in ast.walk(ast.parse(file.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else [])
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ("compress", "eval"):
                    found |= {distribution(d) for d in owners.get(top, [top])}
    return found


def test_every_import_is_declared_and_every_declared_package_imported():
    runtime = {distribution(r) for r in PROJECT["dependencies"]}
    extras = {distribution(r) for extra in ("cpu", "gpu", "serving") for r in PROJECT["optional-dependencies"][extra]}
    imported = imported_distributions()
    # onnxruntime comes from an extra (cpu or gpu: the same module, two distributions).
    assert imported - runtime - extras - {"onnxruntime-gpu"} == set()
    # onnx-ir: imported by onnxruntime's 4-bit quantizer, which does not declare it.
    assert runtime - imported - {"onnx-ir"} == set()


def test_the_gpu_extra_pins_an_onnxruntime_gpu_release_that_exists():
    (requirement,) = [r for r in PROJECT["optional-dependencies"]["gpu"] if r.startswith("onnxruntime-gpu")]
    run = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--ignore-installed",
                          "--only-binary=:all:", "--python-version", "3.11", "--target", "/nonexistent",
                          requirement], capture_output=True, text=True, timeout=240)
    if "No matching distribution" not in run.stderr and run.returncode != 0:
        pytest.skip(f"the package index cannot be reached: {run.stderr.strip().splitlines()[-1]}")
    assert run.returncode == 0, run.stderr
    assert "Would install onnxruntime-gpu-1.31" in run.stdout
