"""Data parallelism under torchrun: two CPU processes (gloo) train together on disjoint shards, follow the same
learning-rate schedule as one process, agree on every evaluation and the kept checkpoint, and write one output."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.compress import torchrun_probe as probe

PROBE = Path(probe.__file__)


def torchrun(processes, *command):
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes), "--standalone",
            *command]


def environment(data_dir):
    return {**os.environ, "COMPRESS_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
            "PYTHONPATH": str(PROBE.parents[2])}


def test_finetune_under_torchrun_with_two_processes_writes_one_output(tmp_path, data_dir):
    from tests.conftest import cut_bert

    model = cut_bert(tmp_path / "base", layers=2)
    out = tmp_path / "out"
    command = torchrun(2, "-m", "compress.engine.cli", "finetune", "--model", str(model), "--data", "sst2",
                       "--max-train-examples", "256", "--max-eval-examples", "64", "--max-steps", "4",
                       "--batch-size", "8", "--max-length", "32", "-o", str(out))
    run = subprocess.run(command, cwd=tmp_path, env=environment(data_dir), capture_output=True, text=True, timeout=240)
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


def linear_schedule(steps, warmup_ratio, peak):
    """The learning rate each optimiser step runs at: linear warm-up from 0, then linear decay to 0 at the end."""
    warmup = int(warmup_ratio * steps)
    return [peak * (s / warmup if s < warmup else (steps - s) / (steps - warmup)) for s in range(steps)]


@pytest.fixture(scope="module")
def probes(tiny_bert, tmp_path_factory, data_dir):
    """Each process's record of a run with one and with two processes, started together."""
    runs = {}
    for processes in (1, 2):
        out = tmp_path_factory.mktemp(f"probe{processes}")
        runs[processes] = (out, subprocess.Popen(torchrun(processes, str(PROBE), str(tiny_bert), str(out)),
                                                 env=environment(data_dir), stdout=subprocess.PIPE,
                                                 stderr=subprocess.PIPE, text=True))
    records = {}
    for processes, (out, proc) in runs.items():
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        records[processes] = [json.loads((out / f"rank{r}.json").read_text()) for r in range(processes)]
    return records


def test_two_processes_follow_the_learning_rate_schedule_of_one(probes):
    expected = linear_schedule(probe.STEPS, probe.WARMUP, probe.PEAK)
    assert expected[1] > 0 and expected[-1] > 0, "the schedule under test rises and has not ended by the last step"
    for processes, ranks in probes.items():
        for rank in ranks:
            assert rank["processes"] == processes
            assert rank["learning_rates"] == pytest.approx(expected, rel=1e-6, abs=1e-12), f"{processes} process(es)"


def test_two_processes_see_disjoint_shards_that_cover_the_data(probes):
    first, second = probes[2]
    per_epoch = probe.TRAIN_ROWS // probe.BATCH // 2
    assert len(first["batches"]) == len(second["batches"]) == probe.STEPS == 2 * per_epoch
    for epoch in range(2):
        rows = [set(i for batch in rank["batches"][epoch * per_epoch:(epoch + 1) * per_epoch] for i in batch)
                for rank in (first, second)]
        assert not rows[0] & rows[1], f"epoch {epoch + 1}: a row went to both processes"
        assert rows[0] | rows[1] == set(range(probe.TRAIN_ROWS)), f"epoch {epoch + 1}: rows left out"
    one = probes[1][0]
    assert sorted(i for batch in one["batches"] for i in batch) == list(range(probe.TRAIN_ROWS)), \
        "one process covers the same rows in its one epoch"


def test_processes_agree_on_every_evaluation_and_the_checkpoint_they_keep(probes):
    first, second = probes[2]
    assert len(first["evaluations"]) == 2, "two epochs, two evaluations"
    assert first["evaluations"] == second["evaluations"]
    assert first["best_epoch"] == second["best_epoch"]
    assert first["weights"] == second["weights"]
