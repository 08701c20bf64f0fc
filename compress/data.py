"""Labelled text-classification data from TSV, CSV, JSONL, saved HF datasets, or a named dataset.

Everything downstream sees one `LabelledText` per split and one `LabelSpace` that fixes label ids,
so finetune, distil, prune, quantize and the harness all encode labels the same way.
"""

from __future__ import annotations

import csv
import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from compress.config import option
from compress.errors import CompressError

TEXT_COLUMNS = ("sentence", "text", "sentence1", "text_a", "premise", "question1", "question")
PAIR_COLUMNS = {"sentence1": "sentence2", "text_a": "text_b", "premise": "hypothesis", "question1": "question2",
                "question": "sentence"}
LABEL_COLUMNS = ("label", "labels", "label_id", "class")
SPLIT_ALIASES = {"dev": ("dev", "validation", "valid", "val"), "validation": ("validation", "dev", "valid", "val"),
                 "train": ("train",), "test": ("test",)}
FILE_SUFFIXES = (".tsv", ".csv", ".jsonl")
NAMED = {"sst2": {"hub": ("glue", "sst2"), "names": {"0": "negative", "1": "positive"}}}


@dataclass(frozen=True)
class Columns:
    """Which columns hold the text, the optional second text of a pair, and the label (None: detect)."""

    text: str | None = None
    text_pair: str | None = None
    label: str | None = None


@dataclass
class DataConfig:
    """Where the labelled data comes from and which columns hold what."""

    data: str = option("sst2", "dataset: a .tsv/.csv/.jsonl file, a folder of split files, a saved HF dataset, "
                               "or a name (sst2: $COMPRESS_DATA_DIR/sst2 if set, else the hub)")
    text_column: str | None = option(None, "column with the text (default: detect sentence/text/sentence1)")
    text_pair_column: str | None = option(None, "column with the second text of a pair (default: detect sentence2)")
    label_column: str | None = option(None, "column with the label (default: detect label)")
    train_split: str = option("train", "split to train on (or to calibrate/score importance on)")
    eval_split: str = option("dev", "split to evaluate on (dev and validation are aliases)")
    max_train_examples: int | None = option(None, "use a seeded random subset of this many training examples")
    max_eval_examples: int | None = option(None, "use a seeded random subset of this many evaluation examples")

    @property
    def columns(self) -> "Columns":
        return Columns(self.text_column, self.text_pair_column, self.label_column)


@dataclass
class LabelledText:
    """One split: texts, optional paired texts, raw labels as strings, and human names for raw labels."""

    texts: list[str]
    pairs: list[str] | None
    labels: list[str]
    names: dict[str, str] = field(default_factory=dict)
    origin: str = ""

    def __len__(self) -> int:
        return len(self.texts)

    def sample(self, n: int | None, seed: int = 0) -> "LabelledText":
        """A seeded random subset of n rows (all rows when n is None or not smaller)."""
        if n is None or n >= len(self):
            return self
        idx = sorted(random.Random(seed).sample(range(len(self)), n))
        return LabelledText([self.texts[i] for i in idx], [self.pairs[i] for i in idx] if self.pairs else None,
                            [self.labels[i] for i in idx], self.names, f"{self.origin}[{n} of {len(self)}]")


@dataclass(frozen=True)
class LabelSpace:
    """The ordered label set of a task: id i has raw value raw[i] and display name names[i]."""

    raw: tuple[str, ...]
    names: tuple[str, ...]

    @classmethod
    def from_data(cls, data: LabelledText) -> "LabelSpace":
        values = sorted(set(data.labels), key=_label_sort_key)
        return cls(tuple(values), tuple(data.names.get(v, v) for v in values))

    @classmethod
    def from_id2label(cls, id2label: Mapping[Any, str]) -> "LabelSpace":
        names = tuple(str(id2label[k]) for k in sorted(id2label, key=int))
        return cls(names, names)

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.names))

    @property
    def label2id(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.names)}

    def encode(self, data: LabelledText) -> list[int]:
        """Label ids for `data`, matched by display name, then by raw value, then (unnamed integers) as ids."""
        by_name = {n: i for i, n in enumerate(self.names)}
        by_raw = {r: i for i, r in enumerate(self.raw)}
        ids = []
        for raw in data.labels:
            name = data.names.get(raw, raw)
            if name in by_name:
                ids.append(by_name[name])
            elif raw in by_raw:
                ids.append(by_raw[raw])
            elif raw.isdigit() and int(raw) < len(self.names) and raw not in data.names:
                ids.append(int(raw))  # an unnamed integer label is a class id, as in datasets' ClassLabel
            else:
                known = ", ".join(self.names)
                raise CompressError(f"label {raw!r} in {data.origin or 'the data'} is not one of the model's "
                                    f"labels ({known}); was it absent from the training split?")
        return ids


def _label_sort_key(value: str) -> tuple[int, Any]:
    try:
        return (0, float(value))
    except ValueError:
        return (1, value)


def data_location(source: str | os.PathLike) -> Path | None:
    """The local file or folder a data source reads, if any (named datasets under $COMPRESS_DATA_DIR too)."""
    if str(source) in NAMED and os.environ.get("COMPRESS_DATA_DIR"):
        local = Path(os.environ["COMPRESS_DATA_DIR"]) / str(source)
        return local if local.is_dir() else None
    return Path(source) if Path(source).exists() else None


def load_split(source: str | os.PathLike, split: str = "train", columns: Columns = Columns()) -> LabelledText:
    """Read one split. `source` is a file, a directory of split files, a saved HF dataset, or a name (sst2)."""
    names: dict[str, str] = {}
    if str(source) in NAMED:
        spec = NAMED[str(source)]
        names = spec["names"]
        local = Path(os.environ.get("COMPRESS_DATA_DIR", "")) / str(source)
        if os.environ.get("COMPRESS_DATA_DIR") and local.is_dir():
            rows, origin = _rows_from_directory(local, split)
        else:
            rows, origin = _rows_from_hub(spec["hub"], split)
    else:
        path = Path(source)
        if not path.exists():
            raise CompressError(f"dataset {source} not found (a file, a directory, or one of: {', '.join(NAMED)})")
        if path.is_dir() and _is_saved_hf_dataset(path):
            rows, origin, names = _rows_from_saved_hf(path, split)
        elif path.is_dir():
            rows, origin = _rows_from_directory(path, split)
        else:
            rows, origin = _rows_from_file(path), str(path)
    return _to_labelled(rows, columns, names, origin)


def load_task(source: str | os.PathLike, columns: Columns = Columns(), train_split: str = "train",
              eval_split: str = "dev", max_train: int | None = None, max_eval: int | None = None,
              seed: int = 0) -> tuple[LabelledText, LabelledText, LabelSpace]:
    """Train and eval splits plus the label space taken from train; eval labels must all occur in train."""
    train = load_split(source, train_split, columns).sample(max_train, seed)
    dev = load_split(source, eval_split, columns).sample(max_eval, seed)
    space = LabelSpace.from_data(train)
    unseen = sorted(set(dev.labels) - set(train.labels), key=_label_sort_key)
    if unseen:
        raise CompressError(f"{eval_split} split has label(s) {', '.join(unseen)} that the {train_split} split "
                            f"never has ({dev.origin})")
    if (dev.pairs is None) != (train.pairs is None):
        raise CompressError(f"{train_split} and {eval_split} splits disagree on whether examples are text pairs")
    return train, dev, space


def load_task_from(config: DataConfig, seed: int = 0) -> tuple[LabelledText, LabelledText, LabelSpace]:
    return load_task(config.data, config.columns, config.train_split, config.eval_split,
                     config.max_train_examples, config.max_eval_examples, seed)


def _is_saved_hf_dataset(path: Path) -> bool:
    return (path / "dataset_dict.json").exists() or (path / "state.json").exists()


def _rows_from_saved_hf(path: Path, split: str) -> tuple[list[dict], str, dict[str, str]]:
    import datasets

    loaded = datasets.load_from_disk(str(path))
    if isinstance(loaded, datasets.DatasetDict):
        name = next((s for s in SPLIT_ALIASES.get(split, (split,)) if s in loaded), None)
        if name is None:
            raise CompressError(f"saved dataset {path} has no {split!r} split (it has: {', '.join(loaded)})")
        loaded = loaded[name]
    names = {}
    for feature in loaded.features.values():
        if isinstance(feature, datasets.ClassLabel):
            names = {str(i): n for i, n in enumerate(feature.names)}
    return list(loaded), f"{path}[{split}]", names


def _rows_from_hub(hub: tuple[str, str], split: str) -> tuple[list[dict], str]:
    import datasets

    hub_split = {"dev": "validation"}.get(split, split)
    try:
        loaded = datasets.load_dataset(*hub, split=hub_split)
    except Exception as exc:  # network errors come in many types; the user needs the one line
        raise CompressError(f"could not load {'/'.join(hub)} [{hub_split}] from the hub ({exc.__class__.__name__}); "
                            "set COMPRESS_DATA_DIR to a folder holding a local copy") from exc
    return list(loaded), f"hub:{'/'.join(hub)}[{hub_split}]"


def _rows_from_directory(path: Path, split: str) -> tuple[list[dict], str]:
    for name in SPLIT_ALIASES.get(split, (split,)):
        for suffix in FILE_SUFFIXES:
            candidate = path / f"{name}{suffix}"
            if candidate.exists():
                return _rows_from_file(candidate), str(candidate)
    raise CompressError(f"no {split} split in {path} (looked for {split}.tsv/.csv/.jsonl and aliases)")


def _rows_from_file(path: Path) -> list[dict]:
    suffix = path.suffix.lower()
    if suffix not in FILE_SUFFIXES:
        raise CompressError(f"{path}: unsupported file type {suffix!r} (use .tsv, .csv or .jsonl)")
    with open(path, newline="", encoding="utf-8") as fh:
        if suffix == ".jsonl":
            return [_json_row(line, path, n) for n, line in enumerate(fh, 1) if line.strip()]
        # GLUE TSVs are unquoted; a quoting reader would swallow rows around any '"'.
        reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE) if suffix == ".tsv" else csv.reader(fh)
        header = next(reader, None)
        if header is None:
            return []
        rows = []
        for n, fields in enumerate(reader, 2):
            if not fields:
                continue
            if len(fields) != len(header):
                raise CompressError(f"{path}:{n}: {len(fields)} fields where the header has {len(header)}")
            rows.append(dict(zip(header, fields)))
        return rows


def _json_row(line: str, path: Path, n: int) -> dict:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise CompressError(f"{path}:{n}: not valid JSON ({exc.msg})") from None
    if not isinstance(row, dict):
        raise CompressError(f"{path}:{n}: each line must be a JSON object")
    return row


def _pick(available: Iterable[str], wanted: str | None, candidates: Iterable[str], role: str, origin: str) -> str:
    available = list(available)
    if wanted is not None:
        if wanted not in available:
            raise CompressError(f"{origin}: no {role} column {wanted!r} (columns: {', '.join(available)})")
        return wanted
    for name in candidates:
        if name in available:
            return name
    raise CompressError(f"{origin}: cannot find a {role} column (columns: {', '.join(available)}); "
                        f"name it with --{role.replace(' ', '-')}-column")


def _to_labelled(rows: list[dict], columns: Columns, names: dict[str, str], origin: str) -> LabelledText:
    if not rows:
        raise CompressError(f"{origin}: the dataset is empty")
    available = list(rows[0])
    # A column whose pair partner is present comes first: QNLI has both `question` and `sentence`.
    paired = [t for t in TEXT_COLUMNS if PAIR_COLUMNS.get(t) in available]
    text = _pick(available, columns.text, paired + list(TEXT_COLUMNS), "text", origin)
    label = _pick(available, columns.label, LABEL_COLUMNS, "label", origin)
    pair = columns.text_pair
    if pair is not None:
        _pick(available, pair, (), "text pair", origin)
    elif columns.text is None and PAIR_COLUMNS.get(text) in available:
        pair = PAIR_COLUMNS[text]
    texts, pairs, labels = [], [] if pair else None, []
    for n, row in enumerate(rows):
        value = row.get(label)
        if value is None or str(value).strip() == "" or (isinstance(value, int) and value < 0):
            raise CompressError(f"{origin}: row {n + 1} has no label in column {label!r}")
        texts.append(str(row.get(text) or ""))
        if pairs is not None:
            pairs.append(str(row.get(pair) or ""))
        labels.append(str(value).strip())
    return LabelledText(texts, pairs, labels, dict(names), origin)
