"""The command line: help for every command, one-line errors with exit 2, Ctrl-C with exit 130, never a partial
output."""

import json
import os
import re
import shutil
import subprocess
import textwrap

import pytest

from compress.engine.cli import build_parser, main
from compress.engine.commands import commands
from tests.conftest import cli

ALL_COMMANDS = sorted(commands())

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def write_split_dir(root, train="sentence\tlabel\ngood \t1\nbad \t0\nfine \t1\nawful \t0\n",
                    dev="sentence\tlabel\nnice \t1\nugly \t0\n"):
    """Train, dev and a labelled test split: dev is then the validation role, too small a train to carve one from."""
    root.mkdir()
    (root / "train.tsv").write_text(train)
    (root / "dev.tsv").write_text(dev)
    (root / "test.tsv").write_text("sentence\tlabel\nsplendid \t1\ndreadful \t0\n")
    return root


def finetune_args(model, data, out, *extra):
    return ["finetune", "--model", str(model), "--data", str(data), "-o", str(out), "--max-length", "16",
            "--batch-size", "2", *extra]


def stderr_lines(capsys):
    """What the command wrote to stderr, less the progress line that says how the data roles were resolved."""
    return [line for line in capsys.readouterr().err.strip().splitlines() if not line.startswith("data ")]


def assert_one_error_line(capsys, *fragments):
    lines = stderr_lines(capsys)
    err = "\n".join(lines)
    assert len(lines) == 1, err
    assert lines[0].startswith("compress finetune: error: ")
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0]


def entries(directory):
    return sorted(p.name for p in directory.iterdir())


# Help

def test_top_level_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["--help"])
    assert exit.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: compress")
    for name in ALL_COMMANDS:
        assert name in out


@pytest.mark.parametrize("command", ALL_COMMANDS)
def test_every_command_has_help_that_exits_0(capsys, command):
    with pytest.raises(SystemExit) as exit:
        main([command, "--help"])
    assert exit.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: compress {command}")


def option_helps():
    """(command, option, help as printed) for every option of every command."""
    commands = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction").choices
    for name, parser in commands.items():
        for action in parser._actions:
            if action.help:
                yield name, action.option_strings[-1] if action.option_strings else action.dest, \
                    parser._get_formatter()._expand_help(action)


def test_every_option_says_what_it_does_in_two_lines_without_measured_figures():
    # Two lines of a 100-column terminal: argparse leaves 74 columns of it to the help text.
    long = [(c, o) for c, o, text in option_helps() if len(textwrap.wrap(text, 74)) > 2]
    # Figures from particular runs ("ran 4.4x slower", "2.8 ms against 3.1", "97.8% agreement") go in reports/.
    figures = [(c, o) for c, o, text in option_helps()
               if re.search(r"\d\s*(x\b|ms\b)|\d% (agreement|apart|slower|faster)|SST-2|\bran\b|measured", text)]
    assert len(list(option_helps())) > 100
    assert long == [] and figures == []


def test_finetune_help_documents_data_training_and_output_options(capsys):
    with pytest.raises(SystemExit):
        main(["finetune", "--help"])
    out = capsys.readouterr().out
    for option in ("--data", "--text-pair-column", "--max-steps", "--learning-rate", "--allow-pickle", "--output",
                   "--overwrite"):
        assert option in out


def test_usage_errors_exit_2_through_argparse(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["finetune", "--data", "x.tsv"])
    assert exit.value.code == 2
    assert "the following arguments are required: -o/--output" in capsys.readouterr().err


# Bad input: exit 2, one line, no output directory

def test_missing_data_file(tiny_bert, tmp_path, capsys):
    assert main(finetune_args(tiny_bert, tmp_path / "missing.tsv", tmp_path / "out")) == 2
    assert_one_error_line(capsys, "missing.tsv not found")
    assert entries(tmp_path) == []


def test_unknown_column_lists_the_columns(tiny_bert, tmp_path, capsys):
    data = write_split_dir(tmp_path / "data")
    assert main(finetune_args(tiny_bert, data, tmp_path / "out", "--text-column", "review")) == 2
    assert_one_error_line(capsys, "no text column 'review'", "columns: sentence, label")
    assert entries(tmp_path) == ["data"]


def test_empty_dataset(tiny_bert, tmp_path, capsys):
    (tmp_path / "empty.tsv").write_text("sentence\tlabel\n")
    assert main(finetune_args(tiny_bert, tmp_path / "empty.tsv", tmp_path / "out")) == 2
    assert_one_error_line(capsys, "the dataset is empty")
    assert entries(tmp_path) == ["empty.tsv"]


def test_dev_label_the_train_split_never_has(tiny_bert, tmp_path, capsys):
    data = write_split_dir(tmp_path / "data", dev="sentence\tlabel\nnice \t1\nmeh \t2\n")
    assert main(finetune_args(tiny_bert, data, tmp_path / "out")) == 2
    assert_one_error_line(capsys, "dev.tsv) has label(s) 2 that train never has")
    assert entries(tmp_path) == ["data"]


def test_unknown_model_path(tmp_path, capsys):
    data = write_split_dir(tmp_path / "data")
    assert main(finetune_args(tmp_path / "no-such-model", data, tmp_path / "out")) == 2
    assert_one_error_line(capsys, "no-such-model not found")
    assert entries(tmp_path) == ["data"]


def test_model_directory_without_tokenizer_files(tiny_bert, tmp_path, capsys):
    model = tmp_path / "model"
    model.mkdir()
    for name in ("config.json", "model.safetensors"):
        os.symlink(tiny_bert / name, model / name)
    data = write_split_dir(tmp_path / "data")
    assert main(finetune_args(model, data, tmp_path / "out")) == 2
    assert_one_error_line(capsys, "cannot load a tokenizer")
    assert entries(tmp_path) == ["data", "model"]


def test_pickled_weights_without_allow_pickle(tiny_bert, tmp_path, capsys):
    model = tmp_path / "model"
    shutil.copytree(tiny_bert, model, ignore=shutil.ignore_patterns("*.safetensors"))
    (model / "pytorch_model.bin").write_bytes(b"never unpickled")
    data = write_split_dir(tmp_path / "data")
    assert main(finetune_args(model, data, tmp_path / "out")) == 2
    assert_one_error_line(capsys, "pytorch_model.bin", "--allow-pickle")
    assert entries(tmp_path) == ["data", "model"]


@pytest.mark.parametrize("option, value, message", [
    ("--learning-rate", "-1", "--learning-rate must be above 0, got -1.0"),
    ("--batch-size", "0", "--batch-size must be at least 1, got 0"),
    ("--warmup-ratio", "1.5", "--warmup-ratio must be at least 0 and at most 1, got 1.5"),
    ("--seed", "-1", "--seed must be at least 0 and at most 4294967295, got -1"),
])
def test_a_number_outside_its_range_is_one_line_before_any_work(tiny_bert, tmp_path, capsys, option, value, message):
    data = write_split_dir(tmp_path / "data")
    assert main(finetune_args(tiny_bert, data, tmp_path / "out", option, value)) == 2
    assert_one_error_line(capsys, message)
    assert entries(tmp_path) == ["data"]


@pytest.mark.parametrize("argv, message", [
    (["distill", "--teacher", "t", "--temperature", "0", "-o", "out"], "--temperature must be above 0, got 0.0"),
    (["prune", "--model", "m", "--head-ratio", "1", "-o", "out"],
     "--head-ratio must be at least 0 and below 1, got 1.0"),
    (["export", "--model", "m", "--parity-batch-sizes", "8", "0", "-o", "out"],
     "--parity-batch-sizes must be at least 1, got 0"),
    (["quantize", "--model", "m", "--calibration-examples", "0", "-o", "out"],
     "--calibration-examples must be at least 1, got 0"),
    (["bench", "m", "--min-runs", "0"], "--min-runs must be at least 1, got 0"),
    (["check", "c.json", "--baseline", "b.json", "--max-flip-rate", "2"],
     "--max-flip-rate must be at least 0 and at most 1, got 2.0"),
])
def test_every_command_refuses_a_number_outside_its_range_in_one_line(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"compress {argv[0]}: error: {message}"]
    assert entries(tmp_path) == []


def test_existing_output_without_overwrite_is_left_untouched(tiny_bert, tmp_path, capsys):
    data = write_split_dir(tmp_path / "data")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep").write_text("precious")
    assert main(finetune_args(tiny_bert, data, tmp_path / "out")) == 2
    assert_one_error_line(capsys, "already exists", "--overwrite")
    assert entries(tmp_path) == ["data", "out"]
    assert entries(tmp_path / "out") == ["keep"]


# Success

def test_successful_run_prints_a_summary_and_writes_the_directory(tiny_bert, tmp_path, capsys):
    data = write_split_dir(tmp_path / "data")
    assert main(finetune_args(tiny_bert, data, tmp_path / "out", "--max-steps", "1")) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["steps"] == 1 and summary["eval"]["n"] == 2
    assert "history" not in summary
    assert (tmp_path / "out" / "manifest.json").exists()
    assert entries(tmp_path) == ["data", "out"]


@pytest.mark.parametrize("command", ALL_COMMANDS)
def test_every_command_takes_quiet(command):
    parser = build_parser()
    required = {"bench": ["m"], "report": ["r", "-o", "o"], "check": ["c", "--baseline", "b"], "run": ["r.yaml"],
                "predict": []}
    argv = [command, *required.get(command, ["-o", "out"]), "--quiet"]
    assert parser.parse_args(argv).quiet is True


def test_quiet_prints_the_result_alone(tiny_bert, tmp_path, capsys):
    from compress.core import progress

    data = write_split_dir(tmp_path / "data")
    try:
        assert main(finetune_args(tiny_bert, data, tmp_path / "out", "--max-steps", "2", "--quiet")) == 0
    finally:
        progress.set_quiet(False)
    captured = capsys.readouterr()
    assert json.loads(captured.out)["steps"] == 2
    assert captured.err == "", "no roles line, no bar, no epoch line"


# Ctrl-C: exit 130, nothing written

def main_catching_interrupts(argv):
    try:
        return main(argv)
    except KeyboardInterrupt:
        pytest.fail("KeyboardInterrupt escaped compress.engine.cli.main")


def assert_interrupted(capsys, tmp_path):
    assert stderr_lines(capsys) == ["compress finetune: interrupted; no output was written"]
    assert entries(tmp_path) == ["data"], "neither the output nor a .out.tmp-* directory may remain"


def test_ctrl_c_during_training_exits_130_without_output(tiny_bert, tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("compress.stages.finetune.train", interrupted)
    data = write_split_dir(tmp_path / "data")
    assert main_catching_interrupts(finetune_args(tiny_bert, data, tmp_path / "out")) == 130
    assert_interrupted(capsys, tmp_path)


def test_ctrl_c_while_writing_the_output_removes_the_partial_directory(tiny_bert, tmp_path, capsys, monkeypatch):
    from transformers import PreTrainedTokenizerBase

    from compress.core.training import TrainResult

    written = []

    def interrupted_save(self, directory, *args, **kwargs):
        written.extend(os.listdir(directory))
        raise KeyboardInterrupt

    monkeypatch.setattr("compress.stages.finetune.train", lambda *args, **kwargs: TrainResult())
    monkeypatch.setattr(PreTrainedTokenizerBase, "save_pretrained", interrupted_save)
    data = write_split_dir(tmp_path / "data")
    assert main_catching_interrupts(finetune_args(tiny_bert, data, tmp_path / "out")) == 130
    assert "model.safetensors" in written, "the interrupt must come after weights were written"
    assert_interrupted(capsys, tmp_path)


# Run as an installed user runs it: from a working directory outside the repository

def test_relative_paths_are_read_from_the_users_working_directory_and_recorded_relative_to_it(tiny_bert, tmp_path,
                                                                                              data_dir):
    work = tmp_path / "elsewhere"
    work.mkdir()
    shutil.copytree(tiny_bert, work / "my-base")
    env = {**os.environ, "COMPRESS_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1"}

    def run(*argv):
        done = subprocess.run(cli(*argv), cwd=work, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]

    run("finetune", "--model", "my-base", "--data", "sst2", "--max-train-examples", "32", "--max-eval-examples", "32",
        "--max-steps", "1", "--batch-size", "8", "--max-length", "32", "-o", "my-teacher")
    # The memory probe runs in a subprocess of its own: it must load my-teacher from here, not read it as a hub id.
    run("bench", "my-teacher", "--max-eval-examples", "16", "--batch-sizes", "1", "--lengths", "16",
        "--real-batch-sizes", "4", "--real-examples", "8", "--warmup", "0", "--min-runs", "2", "--real-min-runs", "1",
        "--workload-seconds", "0", "--min-time", "0", "--threads", "1", "--perturbations", "none", "-o", "bench.json")
    manifest = json.loads((work / "my-teacher" / "manifest.json").read_text())
    assert manifest["inputs"]["model"]["path"] == "my-base"
    (variant,) = json.loads((work / "bench.json").read_text())["variants"]
    assert variant["memory"]["peak_rss_mb"] >= variant["memory"]["loaded_rss_mb"] > 0
    assert variant["path"] == "my-teacher"
    assert [(s["stage"], s["path"]) for s in variant["lineage"]] == [("finetune", "my-teacher"), ("source", "my-base")]
