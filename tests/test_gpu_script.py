"""reports/gpu/run_gpu_checks.sh: on a machine without a GPU its dry run stops cleanly, saying why in one line."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="a GPU machine runs the real checks")
def test_the_dry_run_without_a_gpu_stops_in_one_line(tmp_path, tiny_bert):
    shutil.copytree(tiny_bert, tmp_path / "models" / "tiny")
    run = subprocess.run(["bash", str(ROOT / "reports" / "gpu" / "run_gpu_checks.sh"), str(tmp_path / "out"),
                          "--dry-run"], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHON": sys.executable, "GPU_MODELS": str(tmp_path / "models")})
    assert run.returncode == 3, run.stdout + run.stderr
    assert run.stderr.strip().splitlines() == ["run_gpu_checks: no CUDA GPU visible: nothing to measure"]


def test_without_models_it_says_what_to_prepare(tmp_path):
    run = subprocess.run(["bash", str(ROOT / "reports" / "gpu" / "run_gpu_checks.sh"), str(tmp_path / "out"),
                          "--dry-run"], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHON": sys.executable, "GPU_MODELS": str(tmp_path / "none")})
    assert run.returncode == 2 and "run reports/gpu/prepare.sh" in run.stderr
