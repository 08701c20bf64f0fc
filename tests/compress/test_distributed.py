"""`compress finetune` under torchrun: two CPU processes (gloo) train together and write one output."""

import json
import os
import subprocess
import sys


def test_finetune_under_torchrun_with_two_processes_writes_one_output(tmp_path, data_dir):
    from tests.conftest import cut_bert

    model = cut_bert(tmp_path / "base", layers=2)
    out = tmp_path / "out"
    env = {**os.environ, "COMPRESS_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
               "-m", "compress.cli", "finetune", "--model", str(model), "--data", "sst2",
               "--max-train-examples", "256", "--max-eval-examples", "64", "--max-steps", "4", "--batch-size", "8",
               "--max-length", "32", "-o", str(out)]
    run = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base", "out"], "exactly one output, no temporary dirs"

    metrics = json.loads((out / "metrics.json").read_text())
    manifest = json.loads((out / "manifest.json").read_text())
    assert metrics["steps"] == 4
    assert metrics["processes"] == 2
    assert (metrics["train_examples"], metrics["eval_examples"]) == (256, 64)
    assert manifest["metrics"] == metrics
    assert manifest["settings"]["max_steps"] == 4
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
