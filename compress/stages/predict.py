"""`compress predict`: run a model the toolkit wrote (PyTorch checkpoint or ONNX) over a file of texts or pairs and
write one prediction per row (label id, label name, class probabilities) as JSONL or CSV; with labels in the input,
also its accuracy. Reads standard input and writes standard output when given "-", for pipes."""

from __future__ import annotations

import csv
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from compress.core.artifacts import atomic_file
from compress.core.config import option
from compress.core.data import ColumnsConfig, read_texts
from compress.core.errors import CompressError
from compress.core.metrics import Metric, classification_metrics
from compress.core.models import LoadSettings
from compress.core.progress import note
from compress.core.registry import Command, register
from compress.core.serving import Classifier, softmax

FORMATS = ("jsonl", "csv")


@dataclass
class PredictConfig(LoadSettings, ColumnsConfig):
    """Settings of `compress predict`."""

    model: str | None = option(None, "model directory the toolkit wrote: a checkpoint or an ONNX model")
    data: str = option("-", "a .tsv/.csv/.jsonl file of texts, or - for standard input")
    input_format: str = option("jsonl", "format of standard input", choices=("jsonl", "csv", "tsv"))
    output_format: str | None = option(None, "jsonl or csv (default: the output file's suffix, jsonl on standard "
                                             "output)", choices=FORMATS)
    batch_size: int = option(32, "texts per batch; batches hold texts of similar length", interval="[1, inf)")
    max_length: int = option(128, "tokens per text; longer texts are truncated", interval="[5, inf)")
    threads: int | None = option(None, "intra-op threads (default: the library's own choice)", interval="[1, inf)")


def predict(config: PredictConfig, output: str = "-", log=note) -> dict[str, Any]:
    """Predict every row of `config.data`; write the predictions to `output` (a file, or "-" for standard output)
    and return a summary: rows, seconds, sequences per second and, with labels, the accuracy."""
    if not config.model:
        raise CompressError("predict needs --model, a model directory the toolkit wrote")
    fmt = config.output_format or (Path(output).suffix.lstrip(".").lower() if output != "-" else "jsonl")
    if fmt not in FORMATS:
        raise CompressError(f"cannot tell the output format from {output!r}: name it .jsonl or .csv, or give "
                            "--output-format")
    classifier = Classifier(config.model, config.threads, config.allow_pickle, revision=config.revision)
    data = read_texts(config.data, config.columns, config.input_format)
    features = classifier.features(data, config.max_length)
    started = time.perf_counter()
    logits = classifier.logits(features, config.batch_size, progress="predict")
    seconds = time.perf_counter() - started
    probabilities = softmax(logits)
    summary: dict[str, Any] = {"rows": len(data), "seconds": round(seconds, 3),
                               "sequences_per_second": round(len(data) / max(seconds, 1e-9), 1),
                               "backend": classifier.backend}
    if data.labels:
        scores = classification_metrics(features.labels, logits.argmax(-1), len(classifier.labels.names), Metric())
        summary["accuracy"] = scores["accuracy"]
    _write(probabilities, classifier.labels.names, fmt, output)
    log(f"predict: {len(data)} rows in {seconds:.2f} s ({summary['sequences_per_second']:.0f} sequences/s, "
        f"{classifier.backend})" + (f"; accuracy {summary['accuracy']:.4f}" if "accuracy" in summary else ""))
    return summary


def _write(probabilities: np.ndarray, names: tuple[str, ...], fmt: str, output: str) -> None:
    if output == "-":
        _rows(sys.stdout, probabilities, names, fmt)
        sys.stdout.flush()
        return
    with atomic_file(output, newline="") as fh:
        _rows(fh, probabilities, names, fmt)


def _rows(fh: TextIO, probabilities: np.ndarray, names: tuple[str, ...], fmt: str) -> None:
    best = probabilities.argmax(-1)
    if fmt == "jsonl":
        for row, (label, p) in enumerate(zip(best, probabilities)):
            fh.write(json.dumps({"row": row, "label": int(label), "label_name": names[label],
                                 "probabilities": {n: round(float(v), 6) for n, v in zip(names, p)}}) + "\n")
        return
    writer = csv.writer(fh)
    writer.writerow(["row", "label", "label_name", *(f"p_{n}" for n in names)])
    for row, (label, p) in enumerate(zip(best, probabilities)):
        writer.writerow([row, int(label), names[label], *(f"{float(v):.6f}" for v in p)])


register(Command(
    "predict", PredictConfig, predict, "label a file of texts with a model the toolkit wrote",
    "Run a PyTorch or ONNX model directory over a .tsv/.csv/.jsonl file (or standard input) and write each row's "
    "label, label name and class probabilities as JSONL or CSV; with a label column, also print the accuracy. Prints "
    "sequences per second on standard error.",
    form="file", input_field="model", accepts=("hf", "onnx"), produces="predictions",
    writes="the predictions, .jsonl or .csv (default: - for standard output)", output_file="predictions.jsonl"))
