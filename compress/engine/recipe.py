"""`compress run`: a YAML recipe of stages, validated up front, each stage cached by what made it.

A recipe names a base model, data defaults and an ordered list of stages. Every stage's output
lands in `workdir/NAME-KEY`, where KEY hashes the stage type, its resolved settings, the key (or,
for the base model and data files, the content hash) of its inputs and the toolkit version. A
re-run finds unchanged stages already there; a changed setting changes that stage's key and, through
the chain, every later one. Stage outputs are written atomically, so an interrupted run resumes at
the stage that was cut off. This module sits at the top with the CLI: it writes bench records and reports through
the harness that compress.core.registry.harness() returns.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from compress.core.artifacts import VERSION, atomic_output_dir, hash_path
from compress.core.config import accepted, from_mapping, to_dict
from compress.core.data import DataConfig, data_location
from compress.core.errors import CompressError
from compress.core.models import resolve_model
from compress.core.progress import line as progress_line
from compress.core.registry import MODEL_KINDS, Command, harness, register
from compress.engine.commands import commands

RECIPE_KEYS = ("name", "workdir", "model", "data", "stages", "report")
STAGE_KEYS = ("stage", "name", "input", "variants")


class _LineLoader(yaml.SafeLoader):
    """Keeps each mapping key's line number so errors can point into the recipe file."""


def _mapping_with_lines(loader, node):
    mapping = LineDict(loader.construct_mapping(node, deep=True))
    mapping.lines = {k.value: k.start_mark.line + 1 for k, _ in node.value}
    return mapping


class LineDict(dict):
    lines: dict[str, int] = {}


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_with_lines)


@dataclass
class PlannedStage:
    index: int
    name: str
    type: str
    settings: Any                    # the stage's settings dataclass, input path filled in at run time
    inputs: list[str]                # names of earlier stages (or "model" for the base model)
    key: str = ""
    output: Path = Path()
    variants: list[tuple[str, str]] = field(default_factory=list)  # bench only: (stage name, model path)


@dataclass
class Recipe:
    name: str
    file: Path
    workdir: Path
    model: str
    report: Path | None
    stages: list[PlannedStage] = field(default_factory=list)


def load_recipe(path: str | os.PathLike) -> Recipe:
    """Parse and validate a recipe completely; nothing runs until every stage checks out."""
    file = Path(path)
    if not file.exists():
        raise CompressError(f"recipe {file} not found")
    try:
        raw = yaml.load(file.read_text(), Loader=_LineLoader)
    except yaml.YAMLError as exc:
        raise CompressError(f"{file}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise CompressError(f"{file}: a recipe is a mapping with keys {', '.join(RECIPE_KEYS)}")
    lines = getattr(raw, "lines", {})
    for key in raw:
        if key not in RECIPE_KEYS:
            raise CompressError(f"{file}, line {lines.get(key)}: unknown key {key!r}; allowed: "
                                f"{', '.join(RECIPE_KEYS)}")
    stages = raw.get("stages")
    if not isinstance(stages, list) or not stages:
        raise CompressError(f"{file}: 'stages' must be a non-empty list")
    model = str(raw.get("model", "default"))
    try:
        resolve_model(model)
    except CompressError as exc:
        raise CompressError(f"{file}, line {lines.get('model')}: {exc}") from None
    data_defaults = raw.get("data") or {}
    if isinstance(data_defaults, str):
        data_defaults = {"data": data_defaults}
    from_mapping(DataConfig, data_defaults, f"{file}: data", getattr(data_defaults, "lines", None))
    recipe = Recipe(str(raw.get("name", file.stem)), file, Path(raw.get("workdir", f"artifacts/{file.stem}")),
                    model, Path(raw["report"]) if raw.get("report") else None)
    made: dict[str, str] = {"model": "hf"}  # what each stage so far makes, by name
    for index, entry in enumerate(stages, 1):
        recipe.stages.append(_plan_stage(file, index, entry, made, data_defaults))
    return recipe


def _plan_stage(file: Path, index: int, entry: Any, made: dict[str, str], data_defaults: dict) -> PlannedStage:
    where = f"{file}: stage {index}"
    runnable = _runnable()
    if not isinstance(entry, dict) or "stage" not in entry:
        raise CompressError(f"{where}: each stage is a mapping with a 'stage' key ({', '.join(runnable)})")
    lines = getattr(entry, "lines", {})
    kind = entry["stage"]
    if kind not in runnable:
        raise CompressError(f"{where}, line {lines.get('stage')}: unknown stage {kind!r}; known: "
                            f"{', '.join(runnable)}")
    spec = runnable[kind]
    name = str(entry.get("name", kind))
    if name in made:
        raise CompressError(f"{where}, line {lines.get('name', lines.get('stage'))}: a stage named {name!r} exists "
                            "already; give this one a distinct 'name'")
    config_cls = spec.settings
    settings_keys = {k: v for k, v in entry.items() if k not in STAGE_KEYS}
    fields = {f.name for f in accepted(config_cls)}
    defaults = {k: v for k, v in data_defaults.items() if k in fields and k not in settings_keys}
    if spec.input_field and spec.input_field in settings_keys:
        raise CompressError(f"{where}, line {lines.get(spec.input_field)}: set the input with 'input: STAGE', "
                            f"not {spec.input_field!r}")
    settings = from_mapping(config_cls, {**defaults, **settings_keys}, where, lines)
    if spec.form == "variants":
        inputs = entry.get("variants") or [n for n, k in made.items() if _fits(k, spec)]
        for variant in inputs:
            if not _fits(made.get(variant), spec):
                earlier = ", ".join(n for n, k in made.items() if k in MODEL_KINDS)
                raise CompressError(f"{where}, line {lines.get('variants')}: variant {variant!r} is not a model made "
                                    f"by an earlier stage ({earlier})")
    else:
        wanted = entry.get("input")
        if wanted is None:
            wanted = next((n for n in reversed(made) if _fits(made[n], spec)), None)
        if wanted is None or not _fits(made.get(wanted), spec):
            raise CompressError(f"{where}, line {lines.get('input', lines.get('stage'))}: {kind} needs "
                                f"{' or '.join(MODEL_KINDS[k] for k in spec.accepts)} as input, and no earlier stage "
                                f"{'named ' + repr(wanted) + ' ' if wanted else ''}makes one")
        inputs = [wanted]
    made[name] = spec.produces
    return PlannedStage(index, name, kind, settings, list(inputs))


def _runnable() -> dict[str, Command]:
    return {name: c for name, c in commands().items() if c.in_recipes}


def _fits(made: str | None, command: Command) -> bool:
    """Whether an output of kind `made` can be `command`'s input; a search's winner ("model") is either kind."""
    return made in command.accepts or (made == "model" and any(k in MODEL_KINDS for k in command.accepts))


def _content_key(settings: Any) -> dict[str, Any]:
    """Content hashes of data files a stage reads (its data and any unlabelled text), so edited data invalidates
    the cache."""
    key: dict[str, Any] = {}
    value = getattr(settings, "data", None)
    if value is not None:
        location = data_location(value)
        key["data"] = hash_path(location) if location else str(value)
    if getattr(settings, "unlabelled", None):
        key["unlabelled"] = [hash_path(Path(f)) if Path(f).is_file() else f for f in settings.unlabelled]
    return key


def stage_key(stage: PlannedStage, input_keys: list[str]) -> str:
    settings = to_dict(stage.settings)
    spec = commands()[stage.type]
    if spec.input_field:
        settings.pop(spec.input_field, None)
    payload = {"stage": stage.type, "settings": settings, "inputs": input_keys, "data": _content_key(stage.settings),
               "version": VERSION}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def place(stage: PlannedStage, input_keys: list[str], input_paths: list[str], workdir: Path) -> PlannedStage:
    """Fill in the stage's cache key, its output directory under `workdir` and the paths of its inputs."""
    stage.key = stage_key(stage, input_keys)
    stage.output = workdir / f"{stage.name}-{stage.key[:12]}"
    spec = commands()[stage.type]
    if spec.input_field:
        stage.settings = dataclasses.replace(stage.settings, **{spec.input_field: input_paths[0]})
    else:
        stage.variants = list(zip(stage.inputs, input_paths))
    return stage


def plan(recipe: Recipe) -> list[PlannedStage]:
    """Place every stage: its cache key, output directory and inputs."""
    keys = {"model": hash_path(resolve_model(recipe.model))}
    paths = {"model": resolve_model(recipe.model)}
    for stage in recipe.stages:
        place(stage, [keys[i] for i in stage.inputs], [paths[i] for i in stage.inputs], recipe.workdir)
        keys[stage.name], paths[stage.name] = stage.key, str(stage.output)
    return recipe.stages


def run_cached(stage: PlannedStage, label: str, dry_run: bool, log: Callable[[str], None],
               hold: Callable[[], str | None] = lambda: None) -> str:
    """Run `stage` unless its output exists; return "cached", "planned" (a dry run), "held" or "ran".

    `hold` gives a reason not to start the stage now (the search's time budget), or None."""
    if stage.output.exists():
        log(f"{label}: cached at {stage.output}")
        return "cached"
    if dry_run:
        log(f"{label}: would run -> {stage.output}")
        return "planned"
    reason = hold()
    if reason:
        log(f"{label}: skipped, {reason}")
        return "held"
    log(f"{label}: running -> {stage.output}")
    started = time.time()
    run_stage(stage, log)
    log(f"{label}: done in {time.time() - started:.0f} s")
    return "ran"


def run_recipe(path: str | os.PathLike, dry_run: bool = False, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run every stage that is not cached yet; return {stage name: output directory, ...}."""
    recipe = load_recipe(path)
    stages = plan(recipe)
    outputs, ran = {}, []
    for stage in stages:
        outputs[stage.name] = str(stage.output)
        if run_cached(stage, f"[{stage.index}/{len(stages)}] {stage.name} ({stage.type})", dry_run, log) == "ran":
            ran.append(stage.name)
    result = {"recipe": recipe.name, "outputs": outputs, "ran": ran}
    benches = [s for s in stages if commands()[s.type].form == "variants"]
    record_file = Path(outputs[benches[-1].name]) / commands()["bench"].output_file if benches else None
    if record_file and recipe.report and not dry_run:
        harness().write_report([record_file], recipe.report, title=f"compress run {recipe.file}")
        log(f"report: {recipe.report / 'README.md'} and {recipe.report / 'index.html'}")
        result["report"] = str(recipe.report)
    result["record"] = str(record_file) if record_file else None
    return result


def run_stage(stage: PlannedStage, log: Callable[[str], None] = print) -> None:
    """Run one planned stage into its output directory, whatever the form of its command."""
    command = commands()[stage.type]
    if command.form == "stage":
        command.run(stage.settings, stage.output, **({"log": log} if command.logs else {}))
        return
    if command.form == "file":
        with atomic_output_dir(stage.output) as tmp:
            command.run(stage.settings, str(tmp / command.output_file))
        return
    names = [n for n, _ in stage.variants]
    result = command.run([p for _, p in stage.variants], dataclasses.replace(stage.settings, names=names))
    with atomic_output_dir(stage.output) as tmp:
        harness().write_record(result, tmp / command.output_file)
        (tmp / "summary.md").write_text(command.summary(result) + "\n")


def _arguments(parser: argparse.ArgumentParser):
    parser.add_argument("recipe", help="recipe file, e.g. configs/quick.yaml")
    parser.add_argument("--dry-run", action="store_true", help="validate and show what would run or is cached")

    def run(args: argparse.Namespace) -> None:
        print(json.dumps(run_recipe(args.recipe, args.dry_run, log=progress_line), indent=2, default=str))
    return run


register(Command(
    "run", None, run_recipe, "run a YAML recipe of stages, reusing cached stage outputs",
    "Run the stages of a recipe (configs/*.yaml) in order. Each stage's output is cached under a key of its settings "
    "and inputs, so a re-run does only what changed and an interrupted run resumes where it stopped. The whole recipe "
    "is validated before any work.", form="tool", arguments=_arguments))
