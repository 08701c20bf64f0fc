"""`compress search` killed with SIGKILL mid-stage, from the command line in a subprocess: the stage cut off leaves
nothing under its own name, and the re-run takes the finished stages from the cache and completes."""

import json
import os
import subprocess

from tests.compress.test_recipe import killed_when
from tests.conftest import cli

TINY = ["--student-layers", "0", "--prune-ratios", "0", "--hidden-fractions", "0", "--no-vocabulary",
        "--embedding-bits", "8", "--no-optimize", "--screen-seconds", "0.1", "--final-seconds", "0.1",
        "--final-min-runs", "3", "--no-scorecard", "--no-memory",
        "--no-ort-spinning", "--threads", "1", "--max-eval-examples", "32"]


def test_kill_9_mid_stage_then_rerun_resumes_from_the_finished_stages(trained_tiny_bert, tmp_path, data_dir):
    env = {**os.environ, "COMPRESS_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1"}
    command = cli("search", "--model", trained_tiny_bert, "-o", "winner", "--workdir", "work", "--report", "report",
                  *TINY)
    work = tmp_path / "work"
    search = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    killed_when(search, lambda: work.is_dir() and any(work.glob(".model-int8-*.tmp-*")), "the int8 stage writing")
    assert [p.name.rsplit("-", 1)[0] for p in work.iterdir() if not p.name.startswith(".")] == ["model-onnx"]
    assert (next(work.glob("model-onnx-*")) / "manifest.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"], "no winner and no report from a killed search"

    rerun = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "model-onnx (export): cached" in rerun.stdout and "model-int8 (quantize): running" in rerun.stdout
    summary = json.loads(rerun.stdout[rerun.stdout.index("\n{") + 1:])
    assert summary["output"] == "winner" and (tmp_path / "winner" / "model.onnx").is_file()
    leftovers = [str(p.relative_to(tmp_path)) for p in tmp_path.rglob(".*")]
    assert leftovers == [], "the killed stage's temporary directory is gone, and nothing else is left half-written"
    assert all((p / "manifest.json").is_file() for p in work.iterdir() if p.is_dir())
