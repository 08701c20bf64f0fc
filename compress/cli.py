"""`compress` command line: a thin layer that parses options and calls one stage function each."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Callable

from compress import __version__
from compress.config import add_arguments, from_args
from compress.errors import CompressError

COMMANDS: dict[str, Callable[[argparse._SubParsersAction], None]] = {}


def command(name: str):
    """Register a function that adds subcommand `name` to the parser (keeps `main` free of if/elif chains)."""
    def register(fn):
        COMMANDS[name] = fn
        return fn
    return register


def _stage_parser(sub, name: str, settings: type, help: str, description: str, what: str,
                  skip: tuple[str, ...] = ()) -> argparse.ArgumentParser:
    """A stage's subcommand: one option per settings field, plus where to write its artifact."""
    parser = sub.add_parser(name, help=help, description=description)
    add_arguments(parser, settings, skip)
    parser.add_argument("-o", "--output", required=True, help=f"directory to write the {what} to; it appears "
                        "only once complete")
    parser.add_argument("--overwrite", action="store_true", help="replace the output directory if it exists")
    return parser


def _runs(settings: type, stage: Callable) -> Callable[[argparse.Namespace], None]:
    return lambda a: _show(stage(from_args(settings, a), a.output, a.overwrite))


@command("finetune")
def _finetune(sub) -> None:
    from compress.finetune import FinetuneConfig, finetune

    p = _stage_parser(sub, "finetune", FinetuneConfig, "fine-tune a BERT-family checkpoint as a text classifier",
                      "Fine-tune a checkpoint on labelled text. Writes an HF model directory with tokenizer, "
                      "metrics.json and manifest.json. Runs data-parallel under torchrun or accelerate launch.",
                      "fine-tuned model")
    p.set_defaults(run=_runs(FinetuneConfig, finetune))


@command("distill")
def _distill(sub) -> None:
    from compress.distill import DistillConfig, distill

    p = _stage_parser(sub, "distill", DistillConfig, "distil a fine-tuned classifier into a student with fewer layers",
                      "Distil a fine-tuned teacher into a student cut from its own layers: fewer encoder layers, "
                      "the teacher's embeddings, pooler and classifier. Trains on hard labels and the teacher's "
                      "soft targets, optionally hidden states and attentions. Writes an HF model directory with "
                      "tokenizer, metrics.json and manifest.json. Runs data-parallel under torchrun or accelerate "
                      "launch.", "student model")
    p.set_defaults(run=_runs(DistillConfig, distill))


@command("prune")
def _prune(sub) -> None:
    from compress.prune import PruneConfig, analyze, prune, sensitivity_markdown

    # Recovery runs --recovery-epochs after each pruning step; a second --epochs would only confuse.
    p = _stage_parser(sub, "prune", PruneConfig, "remove attention heads, FFN neurons and layers, then recover accuracy",
                      "Remove the least important attention heads, FFN intermediate neurons and (optionally) whole "
                      "layers of a fine-tuned classifier, ranked on task data, in --steps steps each followed by "
                      "recovery fine-tuning, optionally distilled from the unpruned model. Writes an HF model "
                      "directory that plain transformers reloads, with tokenizer, metrics.json and manifest.json. "
                      "With --analyze, writes only the per-head and per-layer sensitivity table.",
                      "pruned model (with --analyze: the sensitivity table)", skip=("epochs",))
    p.add_argument("--analyze", action="store_true", help="instead of pruning, measure the dev accuracy drop when "
                   "each single head is masked and each whole layer removed; prints the table and writes it as "
                   "sensitivity.json and sensitivity.md")

    def run(a):
        config = from_args(PruneConfig, a)
        if a.analyze:
            print(sensitivity_markdown(analyze(config, a.output, a.overwrite)["metrics"]))
        else:
            _show(prune(config, a.output, a.overwrite))
    p.set_defaults(run=run)


@command("bench")
def _bench(sub) -> None:
    from eval.bench import BenchConfig

    p = sub.add_parser("bench", help="measure accuracy, latency and memory of model variants side by side",
                       description="Bench variants side by side: each MODEL is an HF directory (optionally "
                       "@fp32/@fp16/@bf16) or an ONNX file/directory (optionally @cpu/@cuda/@tensorrt). The first "
                       "is the baseline; variants are timed interleaved, and every ratio refers to the baseline.")
    p.add_argument("models", nargs="+", metavar="MODEL", help="variants to measure, baseline first")
    add_arguments(p, BenchConfig)
    p.add_argument("-o", "--output", help="write the JSON record (schema compress.bench/1) here")
    p.set_defaults(run=_run_bench)


def _run_bench(args) -> None:
    from eval import record
    from eval.bench import BenchConfig, bench, summary_table

    result = bench(args.models, from_args(BenchConfig, args))
    if args.output:
        record.write(result, args.output)
        print(f"wrote {args.output}")
    print(summary_table(result))


@command("export")
def _export(sub) -> None:
    from compress.export import ExportConfig, export

    # Parity reads only the validation role.
    p = _stage_parser(sub, "export", ExportConfig, "export a fine-tuned checkpoint to ONNX, checked against PyTorch",
                      "Export an HF checkpoint directory to ONNX with dynamic batch and sequence axes. Compares the "
                      "ONNX logits with PyTorch's on real examples and fails above tolerance; optionally fuses "
                      "transformer operators (--optimize) and converts to float16 (--fp16). Writes model.onnx, "
                      "config.json, the tokenizer and manifest.json.", "ONNX model",
                      skip=("train_split", "max_train_examples"))
    p.set_defaults(run=_runs(ExportConfig, export))


@command("quantize")
def _quantize(sub) -> None:
    from compress.quantize import QuantizeConfig, quantize

    # --calibration-examples sets how many training examples are read.
    p = _stage_parser(sub, "quantize", QuantizeConfig, "quantize an ONNX classifier to int8, guarded by its accuracy",
                      "Quantize an exported ONNX model to int8 with ONNX Runtime: dynamic (default) or static QDQ "
                      "with calibration on training examples. Scores the result against the source model on the "
                      "validation role; with --max-accuracy-drop keeps the most sensitive layers in float32 until the "
                      "drop is within budget, or fails. Writes model.onnx, config.json, the tokenizer and "
                      "manifest.json.", "quantized model", skip=("max_train_examples",))
    p.set_defaults(run=_runs(QuantizeConfig, quantize))


@command("search")
def _search(sub) -> None:
    from compress.search import SearchConfig

    p = _stage_parser(sub, "search", SearchConfig, "find the fastest compressed model within an accuracy budget",
                      "From a fine-tuned checkpoint, try compression recipes cheapest first (ONNX, int8, vocabulary "
                      "pruning; then distilled students, deepest first; then head/FFN pruning of the fastest student "
                      "within budget), screen every candidate with the harness, measure the Pareto front side by "
                      "side with the input model, copy the fastest candidate within --max-accuracy-drop to --output "
                      "and write the report. Stage outputs are cached in --workdir, so a re-run resumes.",
                      "winning model (ONNX model, config, tokenizer, manifest)")
    p.add_argument("--dry-run", action="store_true", help="list the stages the search may run and which are cached")

    def run(a):
        from compress.search import search

        summary = search(from_args(SearchConfig, a), a.output, a.overwrite, a.dry_run, log=_log)
        _print_json({k: summary[k] for k in ("winner", "high_accuracy", "front", "skipped", "output")
                     if k in summary} if not a.dry_run else summary)
    p.set_defaults(run=run)


@command("run")
def _run(sub) -> None:
    p = sub.add_parser("run", help="run a YAML recipe of stages, reusing cached stage outputs",
                       description="Run the stages of a recipe (configs/*.yaml) in order. Each stage's output is "
                       "cached under a key of its settings and inputs, so a re-run does only what changed and an "
                       "interrupted run resumes where it stopped. The whole recipe is validated before any work.")
    p.add_argument("recipe", help="recipe file, e.g. configs/quick.yaml")
    p.add_argument("--dry-run", action="store_true", help="validate and show what would run or is cached")

    def run(a):
        from compress.recipe import run_recipe

        _print_json(run_recipe(a.recipe, a.dry_run, log=_log))
    p.set_defaults(run=run)


@command("report")
def _report(sub) -> None:
    p = sub.add_parser("report", help="turn bench records into a Markdown + HTML report with plots",
                       description="Write README.md, a self-contained index.html and PNG plots (accuracy vs "
                       "latency with the Pareto front, latency per shape, size per variant) from bench records.")
    p.add_argument("records", nargs="+", metavar="RESULTS", help="bench JSON records (compress bench -o)")
    p.add_argument("-o", "--output", required=True, help="report directory (replaced as a whole)")
    p.add_argument("--title", default="compress report", help="report title")

    def run(a):
        from eval.report import write_report

        print(f"wrote {write_report(a.records, a.output, a.title)}/README.md and index.html")
    p.set_defaults(run=run)


@command("check")
def _check(sub) -> None:
    from eval.check import Tolerances

    p = sub.add_parser("check", help="regression gate: fail when a candidate is slower, larger or less accurate",
                       description="Compare a candidate bench record with a committed baseline record. Exits 1 and "
                       "names each regressed metric; latency is compared relative to a reference variant measured "
                       "in the same run, never as absolute times, and only against a baseline from the same kind "
                       "of CPU.")
    p.add_argument("candidate", help="bench record of the change under test")
    p.add_argument("--baseline", required=True, nargs="+", help="committed bench records to compare with, one per "
                   "kind of CPU; the one from the candidate's CPU is used")
    add_arguments(p, Tolerances)
    p.add_argument("--summary", help="also write the machine-readable summary (JSON) here")

    def run(a):
        from eval import record
        from eval.check import check, describe, pick_baseline

        tolerances = from_args(Tolerances, a)
        candidate = record.load(a.candidate)
        baseline, same_cpu = pick_baseline(candidate, [record.load(b) for b in a.baseline])
        summary = check(candidate, baseline, tolerances, compare_latency=same_cpu)
        if a.summary:
            with open(a.summary, "w") as fh:
                json.dump(summary, fh, indent=1)
        print("\n".join(describe(summary)))
        if not summary["passed"]:
            raise SystemExit(1)
    p.set_defaults(run=run)


def _log(line: str) -> None:
    """Progress lines of long commands, flushed at once so that a redirected log follows the work."""
    print(line, flush=True)


def _print_json(value) -> None:
    print(json.dumps(value, indent=2, default=str))


def _show(manifest: dict) -> None:
    metrics = manifest.get("metrics", {})
    summary = {k: v for k, v in metrics.items() if k != "history"}
    print(json.dumps(summary, indent=2, default=str))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="compress", description="Distil, prune, quantize and export fine-tuned BERT classifiers to ONNX, "
        "and measure accuracy, latency and memory of every variant against the baseline.")
    parser.add_argument("--version", action="version", version=f"compress {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS.values():
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = build_parser().parse_args(argv)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        args.run(args)
    except CompressError as exc:
        print(f"compress {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"compress {args.command}: interrupted; no output was written", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
