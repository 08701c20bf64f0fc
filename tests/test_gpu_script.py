"""reports/gpu/run_gpu_checks.sh: on a machine without a GPU its dry run stops cleanly, saying why in one line, and
without what prepare.sh makes it says what to prepare."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "reports" / "gpu" / "run_gpu_checks.sh"


def dry_run(carried: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), str(tmp_path / "out"), "--dry-run"], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHON": sys.executable, "GPU_CARRIED": str(carried)})


def carried(tmp_path: Path, model: Path | None, wheel: bool) -> Path:
    folder = tmp_path / "carried"
    (folder / "wheels").mkdir(parents=True)
    if model is not None:
        shutil.copytree(model, folder / "models" / "teacher")
    if wheel:
        (folder / "wheels" / "compress-0.1.0-py3-none-any.whl").write_bytes(b"")
    return folder


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="a GPU machine runs the real checks")
def test_the_dry_run_without_a_gpu_stops_in_one_line(tmp_path, tiny_bert):
    run = dry_run(carried(tmp_path, tiny_bert, wheel=True), tmp_path)
    assert run.returncode == 3, run.stdout + run.stderr
    assert run.stderr.strip().splitlines() == ["run_gpu_checks: no CUDA GPU visible: nothing to measure"]


def test_without_models_or_the_compress_wheel_it_says_what_to_prepare(tmp_path, tiny_bert):
    run = dry_run(carried(tmp_path / "a", None, wheel=True), tmp_path)
    assert run.returncode == 2 and "run reports/gpu/prepare.sh" in run.stderr
    run = dry_run(carried(tmp_path / "b", tiny_bert, wheel=False), tmp_path)
    assert run.returncode == 2 and "no compress wheel" in run.stderr
