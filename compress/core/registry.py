"""The command registry: every command registers itself once, in the module that defines it, with its settings class.

The command line, the recipe runner and the Python API read this table (compress.engine.commands imports the
modules that register), so adding a command means writing its module and its one `register` call, as an Olive
pass registers itself by name. It lives at the bottom layer so that stages and the harness can register without
importing what sits above them.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any, Callable

# What a command takes or makes, in a recipe's terms.
MODEL_KINDS = {"hf": "a Hugging Face checkpoint", "onnx": "an ONNX model"}


@dataclass(frozen=True)
class Command:
    """One command: its settings, the function that runs it, what it takes and makes, and its help."""

    name: str
    settings: type | None        # its settings class: one option per field on the command line, one key in a recipe
    run: Callable[..., Any]      # see `form`
    help: str                    # one line in `compress --help`
    description: str             # the paragraph at the top of `compress NAME --help`
    # How it is called:
    #   "stage":    run(settings, output_dir, overwrite) -> manifest; -o names the directory it writes
    #   "file":     run(settings, output_file) -> metrics; -o names a file, "-" for standard output
    #   "variants": run(models, settings) -> record; the models are positional, the baseline first
    #   "tool":     the command line only: `arguments(parser)` adds its options and returns the runner of `args`
    form: str = "stage"
    input_field: str = ""        # the settings field that receives the input model ("" when it takes none)
    accepts: tuple[str, ...] = ()  # kinds of model it takes (MODEL_KINDS)
    produces: str = ""           # "hf", "onnx", "model" (either), "table", "record" or "predictions"
    writes: str = ""             # what --output receives
    output_file: str = ""        # in a recipe, the file it writes inside its stage directory
    logs: bool = False           # run() also takes log= and dry_run= (the search)
    summary: Callable[[Any], str] | None = None          # the text printed at the end, from what run() returned
    arguments: Callable[[argparse.ArgumentParser], Callable[[argparse.Namespace], None]] | None = None

    @property
    def in_recipes(self) -> bool:
        return self.form != "tool"


COMMANDS: dict[str, Command] = {}


def register(command: Command) -> Command:
    """Add `command` to the registry (its module calls this once, at its end)."""
    COMMANDS[command.name] = command
    return command
