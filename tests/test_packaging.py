"""What pyproject.toml declares: every import of the package is declared, every declared package is imported,
each extra pins versions that exist on the package index, and the CI constraints files pin both ends of the
declared ranges."""

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
    for file in [*ROOT.glob("compress/**/*.py"), *ROOT.glob("eval/*.py")]:
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
    extras = {distribution(r) for extra in ("cpu", "gpu", "serving", "minilm")
              for r in PROJECT["optional-dependencies"][extra]}
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


CONSTRAINTS = sorted((ROOT / ".ci" / "constraints").glob("*.txt"))


def pins(file: Path) -> dict[str, str]:
    lines = [line.split("#")[0].strip() for line in file.read_text().splitlines()]
    return {distribution(line): line.split("==", 1)[1] for line in lines if "==" in line}


def test_the_package_declares_ranges_never_one_version():
    for requirement in PROJECT["dependencies"] + [r for extra in PROJECT["optional-dependencies"].values()
                                                  for r in extra]:
        assert "==" not in requirement, f"{requirement}: exact versions belong in .ci/constraints, not the package"
    torch = next(r for r in PROJECT["dependencies"] if distribution(r) == "torch")
    assert "<" not in torch, "any newer torch (CPU or CUDA) a user already has must satisfy compress"


@pytest.mark.parametrize("file", CONSTRAINTS, ids=lambda f: f.stem)
def test_each_constraints_file_pins_versions_inside_the_declared_ranges(file):
    from packaging.requirements import Requirement

    pinned = pins(file)
    declared = [Requirement(r) for r in PROJECT["dependencies"] + PROJECT["optional-dependencies"]["cpu"]]
    for requirement in declared:
        name = distribution(requirement.name)
        assert name in pinned, f"{file.name} leaves {name} free"
        assert requirement.specifier.contains(pinned[name], prereleases=True), f"{file.name}: {name} {pinned[name]}"


def test_the_constraints_files_test_both_majors_of_transformers_and_huggingface_hub():
    majors = {key: {pins(f)[key].split(".")[0] for f in CONSTRAINTS} for key in ("transformers", "huggingface-hub")}
    assert majors == {"transformers": {"4", "5"}, "huggingface-hub": {"0", "2"}}
