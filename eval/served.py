"""Served speed: how fast users get a model directory at batch 1 x 128 tokens, each way in its own fresh process,
interleaved over rounds, against the session `compress bench` times (its threads, spinning on, as in the
headline runs): a plain onnxruntime.InferenceSession with default options, Optimum's
ORTModelForSequenceClassification, a transformers text-classification pipeline over it (padding to 128 tokens),
and compress.load (the last two tokenizing the text; compress.load pads only to the text's length, as it serves).
Also the operator counts of the graph a default session runs.

    python -m eval.served MODEL_DIR [--rounds 3] [--runs 300] [-o served.json]
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from compress.core.errors import CompressError

WAYS = ("bench", "session", "optimum", "pipeline", "compress")
# Optimum's ORTModel (also behind the pipeline) comes with the serving extra, which needs transformers 4.57.
NEEDS_OPTIMUM = ("optimum", "pipeline")


def available_ways() -> tuple[str, ...]:
    import importlib.util

    optimum = importlib.util.find_spec("optimum") is not None and importlib.util.find_spec("optimum.onnxruntime")
    return tuple(way for way in WAYS if optimum or way not in NEEDS_OPTIMUM)
LENGTH = 128
# A short review padded to 128 tokens, as bench's b1xl128 workload pads real rows: the attention mask's padding
# is part of the cost (the SST-2 winner ran 2.83 ms with this row and 1.85 ms with 128 real tokens, 2026-12-01).
TEXT = "a gripping , funny film ."


def _inputs(directory: Path) -> dict[str, np.ndarray]:
    from compress.core.models import load_tokenizer

    tokens = load_tokenizer(str(directory))([TEXT], padding="max_length", truncation=True, max_length=LENGTH,
                                            return_tensors="np")
    return {k: v.astype(np.int64) for k, v in tokens.items()}


def _served(way: str, directory: Path) -> Callable[[], Any]:
    """One prediction at batch 1 x 128 tokens, the way `way` serves it."""
    model_file = str(directory / "model.onnx")
    inputs = _inputs(directory)
    if way == "bench":
        from compress.core.onnx_model import session
        from eval.machine import physical_cores

        runner = session(model_file, threads=physical_cores(), spinning=True)
    elif way == "session":
        import onnxruntime as ort

        runner = ort.InferenceSession(model_file, providers=["CPUExecutionProvider"])
    if way in ("bench", "session"):
        feed = {i.name: inputs[i.name] for i in runner.get_inputs()}
        return lambda: runner.run(None, feed)
    if way == "compress":
        from compress.core.serving import load

        classifier = load(directory)  # tokenization included, and padding only to the text's own length
        return lambda: classifier.probabilities([TEXT], max_length=LENGTH)
    import torch
    from optimum.onnxruntime import ORTModelForSequenceClassification

    model = ORTModelForSequenceClassification.from_pretrained(directory)
    if way == "optimum":
        tensors = {k: torch.from_numpy(v) for k, v in inputs.items()}
        return lambda: model(**tensors)
    from transformers import pipeline

    from compress.core.models import load_tokenizer

    classify = pipeline("text-classification", model=model, tokenizer=load_tokenizer(str(directory)))
    return lambda: classify(TEXT, truncation=True, padding="max_length", max_length=LENGTH)


def time_one(way: str, directory: Path, runs: int, warmup: int = 20) -> dict[str, float]:
    run = _served(way, directory)
    for _ in range(warmup):
        run()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    p50, p90, p99 = np.percentile(np.array(times) * 1e3, [50, 90, 99])
    return {"p50_ms": float(p50), "p90_ms": float(p90), "p99_ms": float(p99), "runs": runs}


def default_session_operators(directory: Path) -> collections.Counter:
    """Operator counts of the graph a plain InferenceSession with default options ends up running."""
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.optimized_model_filepath = str(Path(tmp) / "served.onnx")
        ort.InferenceSession(str(directory / "model.onnx"), options, providers=["CPUExecutionProvider"])
        return collections.Counter(n.op_type for n in onnx.load(options.optimized_model_filepath).graph.node)


def measure(directory: Path, rounds: int, runs: int) -> dict[str, Any]:
    """Every way in a fresh process, `rounds` times, interleaved; the median and range of each way's p50."""
    from eval.machine import cpu_model, physical_cores

    per_way: dict[str, list[dict[str, float]]] = {way: [] for way in available_ways()}
    for _ in range(rounds):
        for way in per_way:
            out = subprocess.run([sys.executable, "-m", "eval.served", str(directory), "--one", way, "--runs",
                                  str(runs)], capture_output=True, text=True, check=True)
            per_way[way].append(json.loads(out.stdout.strip().splitlines()[-1]))
    summary = {way: {"p50_ms_median": statistics.median(r["p50_ms"] for r in results),
                     "p50_ms_range": [min(r["p50_ms"] for r in results), max(r["p50_ms"] for r in results)],
                     "rounds": results} for way, results in per_way.items()}
    return {"model": str(directory), "shape": f"batch 1 x {LENGTH} tokens", "cpu": cpu_model(),
            "physical_cores": physical_cores(), "threads": "each library's default", "ways": summary,
            "default_session_operators": default_session_operators(directory)}


def markdown(result: dict[str, Any]) -> str:
    base = result["ways"]["bench"]["p50_ms_median"]
    lines = [f"{result['model']}, {result['shape']}, {result['cpu']} ({result['physical_cores']} cores); each way in "
             f"its own process, {len(result['ways']['bench']['rounds'])} rounds", "",
             "| way | p50 ms, median (range) | vs what bench reports |", "|---|---:|---:|"]
    for way, r in result["ways"].items():
        low, high = r["p50_ms_range"]
        lines.append(f"| {way} | {r['p50_ms_median']:.2f} ({low:.2f}-{high:.2f}) | {r['p50_ms_median'] / base:.2f}x |")
    fused = result["default_session_operators"].get("SkipLayerNormalization", 0)
    lines.append(f"\nA default session's graph: {fused} SkipLayerNormalization, "
                 f"{result['default_session_operators'].get('LayerNormalization', 0)} LayerNormalization.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.served", description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="an ONNX model directory the toolkit wrote")
    parser.add_argument("--rounds", type=int, default=3, help="fresh processes per way")
    parser.add_argument("--runs", type=int, default=300, help="timed predictions per process")
    parser.add_argument("--one", choices=WAYS, help=argparse.SUPPRESS)
    parser.add_argument("-o", "--output", help="write the JSON result here")
    args = parser.parse_args(argv)
    directory = Path(args.model)
    if args.one:
        print(json.dumps(time_one(args.one, directory, args.runs)))
        return 0
    # Imported here, not at the top: each timed child process imports only what its way needs.
    from compress.core.onnx_model import onnx_file

    try:
        onnx_file(directory)  # before the rounds: a child process's failure would only say that it failed
    except CompressError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    result = measure(directory, args.rounds, args.runs)
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=1) + "\n")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
