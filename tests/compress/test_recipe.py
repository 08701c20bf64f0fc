"""`compress run`: validation before any work, caching by content and settings, resumption."""

import json
import os
import signal
import subprocess
import textwrap
import time

import pytest

from compress.core.errors import CompressError
from compress.engine.recipe import load_recipe, run_recipe
from tests.conftest import cli


def write(tmp_path, body: str, name="recipe.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def pipeline(tmp_path, model, opset=17, dynamic_mode="dynamic"):
    return write(tmp_path, f"""\
        workdir: {tmp_path / 'work'}
        model: {model}
        data:
          data: sst2
          max_train_examples: 64
          max_eval_examples: 32
        stages:
          - stage: finetune
            max_steps: 2
            batch_size: 8
            max_length: 32
          - stage: export
            opset: {opset}
            max_eval_examples: 8
            parity_batch_sizes: [4]
          - stage: quantize
            mode: {dynamic_mode}
        """)


def test_unchanged_rerun_runs_nothing_and_a_changed_setting_reruns_that_stage_and_later(tmp_path, tiny_bert):
    logs = []
    first = run_recipe(pipeline(tmp_path, tiny_bert), log=logs.append)
    assert first["ran"] == ["finetune", "export", "quantize"]
    again = run_recipe(pipeline(tmp_path, tiny_bert), log=logs.append)
    assert again["ran"] == [] and again["outputs"] == first["outputs"]
    assert sum("cached" in line for line in logs) == 3
    changed = run_recipe(pipeline(tmp_path, tiny_bert, opset=18), log=logs.append)
    assert changed["ran"] == ["export", "quantize"]
    assert changed["outputs"]["finetune"] == first["outputs"]["finetune"]
    assert changed["outputs"]["export"] != first["outputs"]["export"]


def test_an_interrupted_run_resumes_at_the_stage_that_was_cut_off(tmp_path, tiny_bert, monkeypatch):
    import dataclasses

    from compress.core.registry import COMMANDS
    from compress.engine.commands import commands

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setitem(COMMANDS, "export", dataclasses.replace(commands()["export"], run=interrupted))
    with pytest.raises(KeyboardInterrupt):
        run_recipe(pipeline(tmp_path, tiny_bert), log=lambda _: None)
    monkeypatch.undo()
    leftovers = [p.name for p in (tmp_path / "work").iterdir()]
    assert len(leftovers) == 1 and leftovers[0].startswith("finetune-")
    resumed = run_recipe(pipeline(tmp_path, tiny_bert), log=lambda _: None)
    assert resumed["ran"] == ["export", "quantize"]


@pytest.mark.parametrize("body, message", [
    ("stages:\n  - stage: compile\n", "line 3: unknown stage 'compile'"),
    ("stages:\n  - stage: finetune\n    epoch: 3\n", "line 4: unknown key 'epoch'"),
    ("stages:\n  - stage: finetune\n    epochs: three\n", "line 4: 'epochs' must be float"),
    ("stages:\n  - stage: finetune\n    learning_rate: -1\n", "line 4: 'learning_rate' must be above 0, got -1.0"),
    ("stages:\n  - stage: finetune\n  - stage: export\n    parity_batch_sizes: [4, 0]\n",
     "stage 2, line 5: 'parity_batch_sizes' must be at least 1, got 0"),
    ("model: /nowhere/model\nstages:\n  - stage: finetune\n", "line 2: model /nowhere/model not found"),
    ("stages:\n  - stage: quantize\n", "quantize needs an ONNX model as input, and no earlier stage makes one"),
    ("stages:\n  - stage: export\n    input: student\n", "no earlier stage named 'student' makes one"),
    ("stages:\n  - stage: finetune\n  - stage: bench\n    variants: [teacher]\n", "variant 'teacher' is not a model"),
    ("stage: finetune\n", "unknown key 'stage'"),
    ("stages: []\n", "'stages' must be a non-empty list"),
])
def test_bad_recipes_fail_before_any_work(tmp_path, body, message):
    path = write(tmp_path, f"workdir: {tmp_path / 'work'}\n" + body)
    with pytest.raises(CompressError, match=message.replace("(", r"\(").replace("[", r"\[")):
        run_recipe(path, log=lambda _: None)
    assert not (tmp_path / "work").exists()


def test_shipped_recipes_validate(data_dir):
    from pathlib import Path

    for name in ("quick.yaml", "sst2-minilm.yaml"):
        recipe = load_recipe(Path(__file__).resolve().parents[2] / "configs" / name)
        assert recipe.stages and recipe.report is not None


def killed_when(proc, ready, what, timeout=300):
    """SIGKILL `proc` as soon as `ready()` holds; fails if the process ends first or `timeout` passes."""
    deadline = time.time() + timeout
    while not ready():
        assert proc.poll() is None, f"the run ended before {what}: {proc.communicate()[1][-2000:]}"
        assert time.time() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL


def test_kill_9_in_the_middle_of_a_stage_leaves_no_output_for_it_and_the_rerun_resumes_there(tmp_path, tiny_bert,
                                                                                            data_dir):
    recipe, work = pipeline(tmp_path, tiny_bert), tmp_path / "work"
    env = {**os.environ, "COMPRESS_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1"}
    run = subprocess.Popen(cli("run", recipe), cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    killed_when(run, lambda: work.is_dir() and any(work.glob(".export-*.tmp-*")), "the export stage writing")
    finished = [p.name.split("-")[0] for p in work.iterdir() if not p.name.startswith(".")]
    assert finished == ["finetune"], "the stage cut off left no directory under its own name"
    assert json.loads((next(work.glob("finetune-*")) / "manifest.json").read_text())["stage"] == "finetune"

    rerun = subprocess.run(cli("run", recipe), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert json.loads(rerun.stdout[rerun.stdout.index("{"):])["ran"] == ["export", "quantize"]
    assert "finetune (finetune): cached" in rerun.stdout
    assert sorted(p.name.split("-")[0] for p in work.iterdir()) == ["export", "finetune", "quantize"], \
        "the killed run's temporary directory is gone"
    assert all((p / "manifest.json").is_file() for p in work.iterdir())


def test_editing_the_unlabelled_text_invalidates_the_cached_stage(tmp_path):
    from compress.engine.recipe import PlannedStage, stage_key
    from compress.stages.distill import DistillConfig

    text = tmp_path / "text.tsv"
    text.write_text("sentence\na warm film\n")

    def key(**settings) -> str:
        return stage_key(PlannedStage(0, "s", "distill", DistillConfig(teacher="t", data="sst2", **settings),
                                      ["model"]), ["k"])

    first = key(unlabelled=[str(text)])
    assert key(unlabelled=[str(text)]) == first
    text.write_text("sentence\na cold film\n")
    assert key(unlabelled=[str(text)]) != first


def test_a_recipe_runs_a_search_and_labels_a_file_with_its_winner(tmp_path, trained_tiny_bert, monkeypatch):
    """search and predict are stages like the others: the search gets its input model, its output directory and
    the run's log; predict writes its file inside its stage directory. The search itself is replaced here by one
    that copies its input (tests/compress/test_search*.py run the real one)."""
    import dataclasses
    import shutil

    from compress.core.registry import COMMANDS
    from compress.engine.commands import commands

    seen = {}

    def search(config, output_dir, overwrite=False, dry_run=False, log=print):
        seen.update(model=config.model, budget=config.max_accuracy_drop, logged=log)
        log("searching")
        shutil.copytree(config.model, output_dir)
        return {"winner": {"name": "copy"}}

    monkeypatch.setitem(COMMANDS, "search", dataclasses.replace(commands()["search"], run=search))
    texts = tmp_path / "texts.jsonl"
    texts.write_text('{"text": "a gripping, funny film"}\n{"text": "dull and far too long"}\n')
    recipe = write(tmp_path, f"""\
        workdir: {tmp_path / 'work'}
        model: {trained_tiny_bert}
        stages:
          - stage: search
            max_accuracy_drop: 1.5
          - stage: predict
            data: {texts}
        """)
    logs = []
    result = run_recipe(recipe, log=logs.append)
    assert result["ran"] == ["search", "predict"] and "searching" in logs
    assert seen["model"] == str(trained_tiny_bert) and seen["budget"] == 1.5
    rows = [json.loads(line) for line in (tmp_path / result["outputs"]["predict"] / "predictions.jsonl").open()]
    assert [r["row"] for r in rows] == [0, 1] and {r["label_name"] for r in rows} <= {"negative", "positive"}


def test_a_search_needs_a_checkpoint_and_bench_a_model_before_it(tmp_path, tiny_bert):
    recipe = write(tmp_path, f"""\
        model: {tiny_bert}
        stages:
          - stage: export
          - stage: search
            input: export
        """)
    with pytest.raises(CompressError, match="search needs a Hugging Face checkpoint as input"):
        load_recipe(recipe)
