"""Data roles: train fits, validation makes every choice, test is reported and never chosen on.

Resolution, the same in every stage of a chain (the carve is seeded and stratified, never random per
stage, so no stage chooses on rows another stage trained on):
- the data has a labelled test split: it is the test role; validation is a validation/dev split if
  there is one, else carved from train;
- no labelled test split (GLUE publishes train and dev, its test is unlabelled): dev/validation is
  the test role and validation is carved from train;
- a single file: validation and test are both carved from it.
Data settings left unset are taken from the input model's lineage, then from `DEFAULTS`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TypeVar

from compress.core.artifacts import ancestors
from compress.core.data import (
    DataConfig,
    LabelledText,
    LabelSpace,
    UnlabelledSplit,
    label_sort_key,
    load_split,
    split_names,
)
from compress.core.errors import CompressError
from compress.core.metrics import Metric
from compress.core.progress import note, warning

T = TypeVar("T", bound=DataConfig)
# The data settings a stage takes from its input model's lineage, and their defaults after that: declared on the
# fields themselves (option(..., inherited=...)).
INHERITED = tuple(f.name for f in dataclasses.fields(DataConfig) if "inherited" in f.metadata)
DEFAULTS = {f.name: f.metadata["inherited"] for f in dataclasses.fields(DataConfig)
            if f.metadata.get("inherited") is not None}
VALIDATION_NAMES = ("validation", "valid", "val", "dev")
TEST_FALLBACK_NAMES = ("dev", "validation", "valid", "val")


@dataclass
class Roles:
    """The three roles' rows, the label space (from train) and the one-line account of how they were found."""

    train: LabelledText
    validation: LabelledText
    test: LabelledText
    labels: LabelSpace
    metric: Metric
    metric_name: str
    resolution: str
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """What a manifest records: how the roles were resolved, their sizes and a hash of their row ids."""
        return {"resolution": self.resolution, "metric": self.metric_name,
                **{role: {"rows": len(data), "origin": data.origin, "ids_sha256": ids_hash(data)}
                   for role, data in (("train", self.train), ("validation", self.validation), ("test", self.test))}}


def ids_hash(data: LabelledText) -> str:
    return hashlib.sha256("\n".join(sorted(data.ids)).encode()).hexdigest()[:16]


def resolve_data(config: T, model: str | Path | None) -> T:
    """`config` with every unset data setting taken from `model`'s lineage (nearest stage first), then defaults."""
    missing = {name for name in INHERITED if getattr(config, name) is None}
    found: dict[str, Any] = {}
    for _, manifest in ancestors(model) if model else ():
        settings = (manifest or {}).get("settings", {})
        for name in missing - found.keys():
            if settings.get(name) is not None:
                found[name] = settings[name]
        if not missing - found.keys():
            break
    filled = {name: found.get(name, DEFAULTS.get(name)) for name in missing}
    return dataclasses.replace(config, **filled)


def carve(data: LabelledText, fraction: float, cap: int, seed: int,
          whole: bool = False) -> tuple[LabelledText, LabelledText]:
    """(rest, carved): about `fraction` of the rows (at most `cap`), stratified by label, seeded.

    Every class with two or more rows gives at least one, so a small class is still validated on. With
    `whole`, only rows no other row contains are carved (the fraction is of those), and the rest loses every
    row inside a carved one: SST-2's train holds each sentence with its phrases, and a carve of phrases
    validates on something else than dev's sentences while train keeps the pieces of what it validates on.
    """
    keys = [_words(data, i) for i in range(len(data))] if whole else []
    pool = _whole_rows(keys) if whole else list(range(len(data)))
    chosen = {pool[i] for i in _stratified([data.labels[i] for i in pool], fraction, cap, seed)}
    inside = {span for i in chosen for span in (keys[i], *_spans(keys[i]))} if whole else set()
    return (data.take([i for i in range(len(data)) if i not in chosen and not (whole and keys[i] in inside)]),
            data.take(sorted(chosen), f"{data.origin} (carved)"))


def _stratified(labels: list[str], fraction: float, cap: int, seed: int) -> list[int]:
    wanted = min(cap, round(fraction * len(labels)))
    by_class: dict[str, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        by_class[label].append(i)
    classes = sorted(by_class, key=label_sort_key)
    share = {c: wanted * len(by_class[c]) / max(len(labels), 1) for c in classes}
    take = {c: math.floor(share[c]) for c in classes}
    for c in sorted(classes, key=lambda c: share[c] - take[c], reverse=True)[:wanted - sum(take.values())]:
        take[c] += 1
    rng = random.Random(seed)
    picked = []
    for c in classes:
        rows = list(by_class[c])
        rng.shuffle(rows)
        count = min(max(take[c], 1 if wanted and len(rows) > 1 else 0), len(rows) - 1)
        picked += rows[:count]
    return picked


def _words(data: LabelledText, i: int) -> tuple[str, ...]:
    return tuple(data.texts[i].split()) + (("\t", *data.pairs[i].split()) if data.pairs is not None else ())


def _spans(key: tuple[str, ...]):
    """Every shorter run of consecutive words in `key`."""
    n = len(key)
    return (key[start:start + length] for length in range(1, n) for start in range(n - length + 1))


def _whole_rows(keys: list[tuple[str, ...]]) -> list[int]:
    present = set(keys)
    inside = {span for key in present for span in _spans(key) if span in present}
    return [i for i, key in enumerate(keys) if key not in inside]


def load_roles(config: DataConfig, log: Callable[[str], None] | None = None) -> Roles:
    """Train, validation and test rows of `config` (data settings already resolved); prints the resolution line."""
    source, columns = config.data, config.columns
    splits = split_names(source)
    notes: list[str] = []
    fraction, cap, seed, whole = (config.validation_fraction, config.validation_cap, config.split_seed,
                                  config.whole_rows)
    how = f"stratified, {fraction:g} capped at {cap}, seed {seed}" + (
        "; whole rows only, and the rows inside them left out of train" if whole else "")
    if splits is None:
        if config.validation_split or config.test_split:
            raise CompressError(f"{source} is a single file: it has no named splits; drop --validation-split and "
                                "--test-split (validation and test are carved from it)")
        pool = load_split(source, "all", columns)
        rest, test = carve(pool, fraction, cap, seed + 1, whole)
        train, validation = carve(rest, fraction, cap, seed, whole)
        described = (f"one file: test and validation both carved from it ({how}), train the rest", "carved",
                     "carved")
    else:
        train_name = config.train_split
        if train_name not in splits:
            raise CompressError(f"{source} has no {train_name!r} split (it has: {', '.join(splits)}); name it with "
                                "--train-split")
        test_name = config.test_split or _default_test(source, splits, train_name, config, notes)
        validation_name = config.validation_split or next(
            (s for s in VALIDATION_NAMES if s in splits and s not in (train_name, test_name)), None)
        for role, name in (("test", test_name), ("validation", validation_name)):
            if name is not None and name not in splits:
                raise CompressError(f"{source} has no {name!r} split for the {role} role (it has: "
                                    f"{', '.join(splits)})")
        if validation_name is not None and validation_name == test_name:
            raise CompressError(f"--validation-split and --test-split both name {test_name!r}: the split that "
                                "chooses must not be the one reported")
        train = load_split(source, train_name, columns)
        if test_name is None:
            train, test = carve(train, fraction, cap, seed + 1, whole)
        else:
            test = _labelled(source, test_name, columns, "test")
        if validation_name is None:
            train, validation = carve(train, fraction, cap, seed, whole)
        else:
            validation = _labelled(source, validation_name, columns, "validation")
        described = (f"split {train_name!r}" + (" less the carves" if not (test_name and validation_name) else ""),
                     f"split {validation_name!r}" if validation_name else f"carved from {train_name!r} ({how})",
                     f"split {test_name!r}" if test_name else f"carved from {train_name!r} ({how})")
    roles = _checked(config, train, validation, test, notes)
    roles.resolution = (f"data {source}: train = {described[0]} ({len(train)} rows), validation = {described[1]} "
                        f"({len(validation)} rows), test = {described[2]} ({len(test)} rows); choices on "
                        f"validation, {roles.metric_name}" + "".join(f"; {n}" for n in notes))
    roles.train = roles.train.sample(config.max_train_examples, seed)
    roles.validation = roles.validation.sample(config.max_eval_examples, seed)
    roles.test = roles.test.sample(config.max_eval_examples, seed)
    if config.max_train_examples or config.max_eval_examples:
        roles.resolution += (f"; subsets used: {len(roles.train)} train, {len(roles.validation)} validation, "
                             f"{len(roles.test)} test rows")
    # Every stage of a search or a recipe reads the same roles: their line and warnings are printed once.
    # Keyed without the subsets: a search's stages read the same roles, some of them fewer of the rows.
    (log or (lambda line: note(line, once=line.split("; subsets used")[0])))(roles.resolution)
    for line in roles.warnings:
        (log or warning)(f"warning: {line}")
    return roles


def _default_test(source, splits: list[str], train_name: str, config: DataConfig, notes: list[str]) -> str | None:
    """A labelled `test` split, else dev/validation (when validation is carved), else None (carve it)."""
    if "test" in splits and "test" != train_name:
        try:
            load_split(source, "test", config.columns)
            return "test"
        except UnlabelledSplit:
            notes.append("its 'test' split has no labels and is not used")
    if config.validation_split:
        return None
    return next((s for s in TEST_FALLBACK_NAMES if s in splits and s != train_name), None)


def _labelled(source, split: str, columns, role: str) -> LabelledText:
    try:
        return load_split(source, split, columns)
    except UnlabelledSplit as exc:
        raise CompressError(f"the {role} role needs labels: {exc}") from None


def _checked(config: DataConfig, train: LabelledText, validation: LabelledText, test: LabelledText,
             notes: list[str]) -> Roles:
    """Bad layouts as one-line errors: empty roles, missing classes, a single class, pairs mixed with singles."""
    classes = set(train.labels)
    fix = {"validation": "give a validation split (--validation-split) or raise --validation-fraction",
           "test": "give a labelled test split (--test-split) or raise --validation-fraction"}
    for role, data in (("train", train), ("validation", validation), ("test", test)):
        if not len(data):
            raise CompressError(f"the {role} role is empty ({data.origin}); "
                                + fix.get(role, "the data needs more rows"))
    if len(classes) < 2:
        raise CompressError(f"the training data has a single class ({', '.join(classes)}): a classifier needs two "
                            "or more")
    for role, data in (("validation", validation), ("test", test)):
        unseen = sorted(set(data.labels) - classes, key=label_sort_key)
        if unseen:
            raise CompressError(f"the {role} role ({data.origin}) has label(s) {', '.join(unseen)} that train never "
                                "has")
        absent = sorted(classes - set(data.labels), key=label_sort_key)
        if absent:
            raise CompressError(f"the {role} role ({data.origin}) lacks class(es) {', '.join(absent[:5])} that "
                                f"train has; {fix[role]}")
        if (data.pairs is None) != (train.pairs is None):
            raise CompressError(f"train and {role} disagree on whether examples are text pairs")
    labels = LabelSpace.from_data(train)
    metric = Metric.parse(config.metric, labels.names)
    warnings = []
    shared = _shared_texts([train, validation], test)
    if shared:
        warnings.append(f"{shared} test row(s) have exact duplicates among the train and validation rows "
                        f"({test.origin})")
    return Roles(train, validation, test, labels, metric, config.metric, "", warnings)


def _shared_texts(seen_in: list[LabelledText], test: LabelledText) -> int:
    seen = {key for data in seen_in for key in zip(data.texts, data.pairs or [None] * len(data))}
    return sum(1 for key in zip(test.texts, test.pairs or [None] * len(test)) if key in seen)
