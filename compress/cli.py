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


def _output_options(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("-o", "--output", required=True, help=f"directory to write the {what} to; it appears "
                        "only once complete")
    parser.add_argument("--overwrite", action="store_true", help="replace the output directory if it exists")


@command("finetune")
def _finetune(sub) -> None:
    from compress.finetune import FinetuneConfig, finetune

    p = sub.add_parser("finetune", help="fine-tune a BERT-family checkpoint as a text classifier",
                       description="Fine-tune a checkpoint on labelled text. Writes an HF model directory with "
                       "tokenizer, metrics.json and manifest.json. Runs data-parallel under torchrun or "
                       "accelerate launch.")
    add_arguments(p, FinetuneConfig)
    _output_options(p, "fine-tuned model")
    p.set_defaults(run=lambda a: _show(finetune(from_args(FinetuneConfig, a), a.output, a.overwrite)))


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
