"""The command registry: every command registers itself once, in the module that defines it, with its settings class.

The command line, the recipe runner and the Python API read this table (compress.engine.commands imports the
modules that register), so adding a command means writing its module and its one `register` call, as an Olive
pass registers itself by name. It lives at the bottom layer so that stages and the harness can register without
importing what sits above them.

The harness (the `eval` package) is a plugin: it declares itself under the `compress.plugins` entry point, and
loading it registers its commands and the `Harness` the orchestration measures with. So the search, the recipe
runner and the command line, which sit above the harness but inside the `compress` package, reach it through this
table, and the two packages do not import each other; any installed package can add commands the same way.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Callable

from compress.core.errors import CompressError

PLUGINS = "compress.plugins"

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


@dataclass(frozen=True)
class Harness:
    """What the orchestration asks of the measuring harness; the harness plugin registers one."""

    bench: Callable[..., dict[str, Any]]      # (models, settings, progress=True) -> record; the baseline first
    settings: type                            # bench's settings class
    write_record: Callable[[dict[str, Any], Any], None]     # (record, path)
    write_report: Callable[..., Any]          # (record files, directory, title=..., ...) -> the report directory
    summarize_search: Callable[..., dict[str, Any]]         # the search's summary from its final record
    write_search_report: Callable[..., None]  # (summary, record file, report directory, workdir, log)
    profile: Callable[..., dict[str, Any]]    # (ONNX model, texts, threads or None, spinning) -> operator profile


HARNESS: Harness | None = None
_loaded = False


def register_harness(harness: Harness) -> Harness:
    global HARNESS
    HARNESS = harness
    return harness


def load_plugins() -> None:
    """Import every installed plugin once (importing one registers what it provides)."""
    global _loaded
    if not _loaded:
        _loaded = True
        for entry in entry_points(group=PLUGINS):
            entry.load()


def harness() -> Harness:
    """The registered harness; a one-line error when none is installed."""
    if HARNESS is None:
        load_plugins()
    if HARNESS is None:
        raise CompressError(f"no measuring harness is installed (the `eval` package registers one under the "
                            f"{PLUGINS} entry point): reinstall compress, e.g. pip install -e .")
    return HARNESS
