"""`compress predict`: predictions for every row of a file or standard input, as JSONL or CSV, with accuracy when
labels are given, and bad input refused."""

from __future__ import annotations

import csv
import json
import os
import subprocess

import numpy as np
import pytest

from compress.engine.cli import main
from tests.conftest import cli

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def sentences(tmp_path_factory, data_dir):
    """Forty labelled SST-2 dev sentences of varied length, as a TSV file."""
    rows = (data_dir / "sst2" / "dev.tsv").read_text().splitlines()
    path = tmp_path_factory.mktemp("predict_data") / "dev.tsv"
    path.write_text("\n".join(rows[:41]) + "\n")
    return path


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_predictions_for_every_row_with_probabilities_and_accuracy(trained_tiny_bert, sentences, tmp_path, capsys):
    out = tmp_path / "predictions.jsonl"
    assert main(["predict", "--model", str(trained_tiny_bert), "--data", str(sentences), "-o", str(out)]) == 0
    rows = read_jsonl(out)
    assert [r["row"] for r in rows] == list(range(40)), "one line per input row, in input order"
    for r in rows:
        assert set(r["probabilities"]) == {"negative", "positive"}
        assert sum(r["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
        assert r["label_name"] == max(r["probabilities"], key=r["probabilities"].get)
        assert r["label_name"] == ("negative", "positive")[r["label"]]
    labels = [int(line.split("\t")[1]) for line in sentences.read_text().splitlines()[1:]]
    accuracy = np.mean([r["label"] == y for r, y in zip(rows, labels)])
    err = capsys.readouterr().err
    assert f"accuracy {accuracy:.4f}" in err and "sequences/s" in err


def test_csv_output_from_the_suffix_and_no_accuracy_without_labels(trained_tiny_onnx, tmp_path, capsys):
    data = tmp_path / "texts.csv"
    data.write_text('text\n"a gripping, funny film"\n"dull, flat and far too long"\n')
    out = tmp_path / "predictions.csv"
    assert main(["predict", "--model", str(trained_tiny_onnx), "--data", str(data), "-o", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert [r["row"] for r in rows] == ["0", "1"]
    assert set(rows[0]) == {"row", "label", "label_name", "p_negative", "p_positive"}
    assert "accuracy" not in capsys.readouterr().err


def test_standard_input_to_standard_output_in_a_pipe(trained_tiny_onnx, sentences):
    run = subprocess.run(cli("predict", "--model", trained_tiny_onnx, "--input-format", "tsv"),
                         input=sentences.read_text(), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == 40 and json.loads(lines[0])["row"] == 0
    assert "predict: 40 rows" in run.stderr


@pytest.mark.parametrize("args, message", [
    (["--model", "no/such-dir", "--data", "x.tsv"], "model no/such-dir not found"),
    (["--data", "x.tsv"], "predict needs --model"),
])
def test_bad_input_is_one_error_line_and_writes_nothing(args, message, tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    assert main(["predict", *args, "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and not out.exists()


def test_a_missing_data_file_or_unknown_output_format_fails_before_any_output(trained_tiny_bert, sentences, tmp_path,
                                                                              capsys):
    assert main(["predict", "--model", str(trained_tiny_bert), "--data", str(tmp_path / "none.tsv"),
                 "-o", str(tmp_path / "p.jsonl")]) == 2
    assert "is not a file" in capsys.readouterr().err
    assert main(["predict", "--model", str(trained_tiny_bert), "--data", str(sentences),
                 "-o", str(tmp_path / "p.txt")]) == 2
    assert "cannot tell the output format" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == []
