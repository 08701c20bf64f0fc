"""`compress` command line: a thin layer that parses options and calls one stage function each."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Callable

from compress import __version__, progress
from compress.config import add_arguments, from_args
from compress.errors import CompressError
from compress.stages import STAGES

COMMANDS: dict[str, Callable[[argparse._SubParsersAction], None]] = {}


def command(name: str):
    """Register a function that adds subcommand `name` to the parser (keeps `main` free of if/elif chains)."""
    def register(fn):
        COMMANDS[name] = fn
        return fn
    return register


def _stage_command(sub, name: str) -> None:
    """A registered stage's subcommand: one option per accepted settings field, plus where to write its artifact."""
    stage = STAGES[name]
    settings, function = stage.load()
    parser = sub.add_parser(name, help=stage.help, description=stage.description)
    add_arguments(parser, settings)
    parser.add_argument("-o", "--output", required=True, help=f"directory for the {stage.writes}; it appears only "
                        "once complete")
    parser.add_argument("--overwrite", action="store_true", help="replace the output directory if it exists")

    def run(a):
        manifest = function(from_args(settings, a), a.output, a.overwrite)
        metrics = manifest.get("metrics", {})
        print(stage.summarize(metrics) or json.dumps({k: v for k, v in metrics.items() if k != "history"}, indent=2,
                                                     default=str))
    parser.set_defaults(run=run)


def _bench(sub) -> None:
    stage = STAGES["bench"]
    settings, _ = stage.load()
    p = sub.add_parser("bench", help=stage.help, description=stage.description)
    p.add_argument("models", nargs="+", metavar="MODEL", help="variants to measure, baseline first")
    add_arguments(p, settings)
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


@command("search")
def _search(sub) -> None:
    from compress.search import SearchConfig

    p = sub.add_parser("search", help="find the fastest compressed model within an accuracy budget",
                       description="From a fine-tuned checkpoint, try compression recipes cheapest first (int8 and "
                       "vocabulary pruning, then distilled students, then head/FFN pruning of the fastest student "
                       "within budget), choosing on the validation role and reporting on the test role; copy the "
                       "winner to --output. Stage outputs are cached in --workdir, so a re-run resumes.")
    add_arguments(p, SearchConfig)
    p.add_argument("-o", "--output", required=True, help="directory for the winning model; it appears only once "
                   "complete")
    p.add_argument("--overwrite", action="store_true", help="replace the output directory if it exists")
    p.add_argument("--dry-run", action="store_true", help="list the stages the search may run and which are cached")

    def run(a):
        from compress.search import search

        summary = search(from_args(SearchConfig, a), a.output, a.overwrite, a.dry_run, log=_log)
        _print_json({k: summary[k] for k in ("winner", "high_accuracy", "front", "skipped", "output")
                     if k in summary} if not a.dry_run else summary)
    p.set_defaults(run=run)


@command("predict")
def _predict(sub) -> None:
    from compress.predict import PredictConfig

    p = sub.add_parser("predict", help="label a file of texts with a model the toolkit wrote",
                       description="Run a PyTorch or ONNX model directory over a .tsv/.csv/.jsonl file (or standard "
                       "input) and write each row's label, label name and class probabilities as JSONL or CSV; with "
                       "a label column, also print the accuracy. Prints sequences per second on standard error.")
    add_arguments(p, PredictConfig)
    p.add_argument("-o", "--output", default="-", help="file for the predictions, .jsonl or .csv (default: - for "
                   "standard output)")

    def run(a):
        from compress.predict import predict

        predict(from_args(PredictConfig, a), a.output)
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
    """Progress lines of long commands (none under --quiet), flushed at once so that a redirected log follows."""
    progress.note(line, file=sys.stdout)


def _print_json(value) -> None:
    print(json.dumps(value, indent=2, default=str))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="compress", description="Distil, prune, quantize and export fine-tuned BERT classifiers to ONNX, "
        "and measure accuracy, latency and memory of every variant against the baseline.")
    parser.add_argument("--version", action="version", version=f"compress {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in STAGES:
        if name == "bench":
            _bench(sub)
        else:
            _stage_command(sub, name)
    for add in COMMANDS.values():
        add(sub)
    for command_parser in sub.choices.values():
        command_parser.add_argument("--quiet", action="store_true", help="print only results and errors: no "
                                    "progress bars or progress lines")
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = build_parser().parse_args(argv)
    progress.set_quiet(args.quiet)
    try:
        from huggingface_hub.utils import disable_progress_bars, enable_progress_bars
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        # transformers 5 draws a bar for every checkpoint it loads; the hub's download bars stay on a terminal
        # (redrawn into a log file, each would be thousands of lines).
        hf_logging.disable_progress_bar()
        (enable_progress_bars if sys.stderr.isatty() and not args.quiet else disable_progress_bars)()
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
