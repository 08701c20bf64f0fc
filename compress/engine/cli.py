"""`compress` command line: a thin layer over the command registry that parses options and calls one command."""

from __future__ import annotations

import argparse
import json
import os
import sys

from compress.core import progress
from compress.core.artifacts import VERSION
from compress.core.config import add_arguments, from_args
from compress.core.errors import CompressError
from compress.core.registry import Command, harness
from compress.engine.commands import commands

# The order `compress --help` lists the commands in: the pipeline, then the tools; any other registered one after.
LISTED = ("finetune", "distill", "prune", "analyze", "export", "quantize", "bench", "search", "predict", "run",
          "report", "check")


def _add(sub: argparse._SubParsersAction, command: Command) -> None:
    """A command's subcommand: a tool adds its own arguments; any other form takes one option per settings field
    and the output its form writes."""
    parser = sub.add_parser(command.name, help=command.help, description=command.description)
    if command.form == "tool":
        parser.set_defaults(run=command.arguments(parser))
        return
    if command.form == "variants":
        parser.add_argument("models", nargs="+", metavar="MODEL", help="variants to measure, baseline first")
    add_arguments(parser, command.settings)
    if command.form == "stage":
        parser.add_argument("-o", "--output", required=True, help=f"directory for the {command.writes}; it appears "
                            "only once complete")
        parser.add_argument("--overwrite", action="store_true", help="replace the output directory if it exists")
        if command.logs:
            parser.add_argument("--dry-run", action="store_true", help="list the stages it may run and which are "
                                "cached; screens the input model once to price them")
    else:
        parser.add_argument("-o", "--output", default="-" if command.form == "file" else None,
                            help=f"where to write {command.writes}")
    parser.set_defaults(run=lambda args: _run(command, args))


def _run(command: Command, args: argparse.Namespace) -> None:
    settings = from_args(command.settings, args)
    if command.form == "file":
        command.run(settings, args.output)
        return
    if command.form == "variants":
        result = command.run(args.models, settings)
        if args.output:
            harness().write_record(result, args.output)
            print(f"wrote {args.output}")
    else:
        extra = {"dry_run": args.dry_run, "log": progress.line} if command.logs else {}
        result = command.run(settings, args.output, args.overwrite, **extra)
    if command.summary:
        print(command.summary(result))
    else:
        metrics = result.get("metrics", {})
        _print_json({k: v for k, v in metrics.items() if k != "history"})


def _print_json(value) -> None:
    print(json.dumps(value, indent=2, default=str))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="compress", description="Distil, prune, quantize and export fine-tuned BERT classifiers to ONNX, "
        "and measure accuracy, latency and memory of every variant against the baseline.")
    parser.add_argument("--version", action="version", version=f"compress {VERSION}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    registered = commands()
    for name in [*[n for n in LISTED if n in registered], *[n for n in registered if n not in LISTED]]:
        _add(sub, registered[name])
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
