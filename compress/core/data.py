"""Labelled text-classification data from TSV, CSV, JSONL, saved HF datasets, or a named dataset.

Everything downstream sees one `LabelledText` per split and one `LabelSpace` that fixes label ids,
so finetune, distil, prune, quantize and the harness all encode labels the same way.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from compress.core.config import Settings, option
from compress.core.errors import CompressError
from compress.core.metrics import METRIC_HELP
from compress.core.paths import portable_path

TEXT_COLUMNS = ("sentence", "text", "sentence1", "text_a", "premise", "question1", "question")
PAIR_COLUMNS = {"sentence1": "sentence2", "text_a": "text_b", "premise": "hypothesis", "question1": "question2",
                "question": "sentence"}
LABEL_COLUMNS = ("label", "labels", "label_id", "class")
SPLIT_ALIASES = {"dev": ("dev", "validation", "valid", "val"), "validation": ("validation", "valid", "val", "dev"),
                 "train": ("train",), "test": ("test",)}
FILE_SUFFIXES = (".tsv", ".csv", ".jsonl")
# Local copies under $COMPRESS_DATA_DIR/NAME come first; the hub is the fallback users with internet get.
NAMED = {"sst2": {"hub": ("glue", "sst2"), "splits": ("train", "validation", "test"),
                  "names": {"0": "negative", "1": "positive"}},
         "rte": {"hub": ("glue", "rte"), "splits": ("train", "validation", "test"),
                 "names": {"0": "entailment", "1": "not_entailment"}},
         "banking77": {"hub": ("PolyAI/banking77",), "splits": ("train", "test")}}


class UnlabelledSplit(CompressError):
    """A split without labels (GLUE's test files): usable for nothing that scores."""


@dataclass(frozen=True)
class Columns:
    """Which columns hold the text, the optional second text of a pair, and the label (None: detect)."""

    text: str | None = None
    text_pair: str | None = None
    label: str | None = None


@dataclass
class ColumnsConfig(Settings):
    """Which columns of the data hold the text, the second text of a pair and the label."""

    text_column: str | None = option(None, "column with the text (default: the input model's, else detect "
                                           "sentence/text/sentence1)", group="data", inherited=None)
    text_pair_column: str | None = option(None, "column with the second text of a pair (default: the input "
                                                "model's, else detect sentence2)", group="data", inherited=None)
    label_column: str | None = option(None, "column with the label (default: the input model's, else detect label)",
                                      group="data", inherited=None)

    @property
    def columns(self) -> "Columns":
        return Columns(self.text_column, self.text_pair_column, self.label_column)


@dataclass
class DataConfig(ColumnsConfig):
    """Where the labelled data comes from, which columns hold what, and which rows play which role.

    Fields left at None are taken from the input model's lineage (the data it was trained on), so
    every stage of a chain reads the same data with the same train / validation / test carve.
    """

    data: str | None = option(None, "a .tsv/.csv/.jsonl file, a folder of splits, a saved HF dataset, or sst2, rte, "
                                    "banking77", group="data", inherited="sst2")
    train_split: str | None = option(None, "split to train on", group="data", inherited="train")
    validation_split: str | None = option(None, "split every choice is made on (default: the input model's, else "
                                                "one besides dev/test, else carved from train)", group="data",
                                          inherited=None)
    test_split: str | None = option(None, "split reported on and never chosen on (default: the input model's, else "
                                          "test if labelled, else dev/validation, else carved)", group="data",
                                    inherited=None)
    validation_fraction: float | None = option(None, "share of train carved out, stratified, as validation (and as "
                                                     "test from one file)", interval="(0, 1)",
                                               group="data", inherited=0.1)
    validation_cap: int | None = option(None, "at most this many rows carved for each role", interval="[1, inf)",
                                        group="data", inherited=2000)
    split_seed: int | None = option(None, "seed of the carve and the subsets; keep it for a whole chain",
                                    interval="[0, inf)", group="data", inherited=0)
    whole_rows: bool | None = option(None, "carve only rows no other row contains, and drop the rows inside them "
                                           "from train (treebank phrases)", group="data", inherited=False)
    metric: str | None = option(None, "what choices and budgets use: " + METRIC_HELP, group="data",
                                inherited="accuracy")
    max_train_examples: int | None = option(None, "use a seeded random subset of this many training examples",
                                            interval="[1, inf)", group="data")
    max_eval_examples: int | None = option(None, "use a seeded random subset of this many validation and test "
                                                 "examples each", interval="[1, inf)", group="data")


@dataclass
class LabelledText:
    """One split: texts, optional paired texts, raw labels as strings, and human names for raw labels."""

    texts: list[str]
    pairs: list[str] | None
    labels: list[str]
    names: dict[str, str] = field(default_factory=dict)
    origin: str = ""
    ids: list[str] = field(default_factory=list)  # stable row ids ("dev.tsv#12"), for role hashes and overlap

    def __len__(self) -> int:
        return len(self.texts)

    def sample(self, n: int | None, seed: int = 0) -> "LabelledText":
        """A seeded random subset of n rows (all rows when n is None or not smaller)."""
        if n is None or n >= len(self):
            return self
        return self.take(self.sampled_rows(n, seed), f"{self.origin}[{n} of {len(self)}]")

    def sampled_rows(self, n: int | None, seed: int = 0) -> list[int]:
        """The positions `sample(n, seed)` takes, in order."""
        if n is None or n >= len(self):
            return list(range(len(self)))
        return sorted(random.Random(seed).sample(range(len(self)), n))

    def take(self, rows: list[int], origin: str | None = None) -> "LabelledText":
        """The rows at positions `rows`, in that order."""
        return LabelledText([self.texts[i] for i in rows], [self.pairs[i] for i in rows] if self.pairs else None,
                            [self.labels[i] for i in rows], self.names, self.origin if origin is None else origin,
                            [self.ids[i] for i in rows] if self.ids else [])


@dataclass(frozen=True)
class LabelSpace:
    """The ordered label set of a task: id i has raw value raw[i] and display name names[i]."""

    raw: tuple[str, ...]
    names: tuple[str, ...]

    @classmethod
    def from_data(cls, data: LabelledText) -> "LabelSpace":
        values = sorted(set(data.labels), key=label_sort_key)
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


def label_sort_key(value: str) -> tuple[int, Any]:
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
    """Read one split. `source` is a file (the whole file, whatever `split`), a directory of split files, a
    saved HF dataset, or a name (sst2, rte, banking77). Raises UnlabelledSplit when the split has no labels."""
    names: dict[str, str] = {}
    if str(source) in NAMED:
        spec = NAMED[str(source)]
        names = dict(spec.get("names", {}))
        local = data_location(source)
        if local is not None:
            rows, origin, names = _rows_from_directory(local, split, names)
        else:
            rows, origin, names = _rows_from_hub(spec["hub"], split, names)
    else:
        path = Path(source)
        if not path.exists():
            raise CompressError(f"dataset {source} not found (a file, a directory, or one of: {', '.join(NAMED)})")
        if path.is_dir() and _is_saved_hf_dataset(path):
            rows, origin, names = _rows_from_saved_hf(path, split)
        elif path.is_dir():
            rows, origin, names = _rows_from_directory(path, split, names)
        else:
            rows, origin = _rows_from_file(path), portable_path(path)
    return _to_labelled(rows, columns, names, origin)


def split_names(source: str | os.PathLike) -> list[str] | None:
    """The splits a source has, by their own names; None for a single file (one pool of rows)."""
    if str(source) in NAMED:
        local = data_location(source)
        return _directory_splits(local) if local is not None else list(NAMED[str(source)]["splits"])
    path = Path(source)
    if not path.exists():
        raise CompressError(f"dataset {source} not found (a file, a directory, or one of: {', '.join(NAMED)})")
    if path.is_dir() and _is_saved_hf_dataset(path):
        import datasets

        loaded = datasets.load_from_disk(str(path))
        return list(loaded) if isinstance(loaded, datasets.DatasetDict) else None
    return _directory_splits(path) if path.is_dir() else None


def _directory_splits(path: Path) -> list[str]:
    known = {alias for aliases in SPLIT_ALIASES.values() for alias in aliases}
    return sorted({f.stem for f in path.iterdir() if f.suffix in FILE_SUFFIXES and f.stem in known})


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
    return list(loaded), f"{portable_path(path)}[{split}]", _class_names(loaded)


def _class_names(loaded) -> dict[str, str]:
    import datasets

    for feature in loaded.features.values():
        if isinstance(feature, datasets.ClassLabel):
            return {str(i): n for i, n in enumerate(feature.names)}
    return {}


def _rows_from_hub(hub: tuple[str, ...], split: str, names: dict[str, str]) -> tuple[list[dict], str, dict[str, str]]:
    import datasets

    hub_split = {"dev": "validation"}.get(split, split)
    try:
        loaded = datasets.load_dataset(*hub, split=hub_split)
    except Exception as exc:  # network errors come in many types; the user needs the one line
        raise CompressError(f"could not load {'/'.join(hub)} [{hub_split}] from the hub ({exc.__class__.__name__}); "
                            "set COMPRESS_DATA_DIR to a folder holding a local copy") from exc
    return list(loaded), f"hub:{'/'.join(hub)}[{hub_split}]", names or _class_names(loaded)


def _rows_from_directory(path: Path, split: str, names: dict[str, str]) -> tuple[list[dict], str, dict[str, str]]:
    """A split's file in a folder; a labels.tsv beside it (columns label, name) names the labels."""
    named = path / "labels.tsv"
    if not names and named.exists():
        names = {str(r.get("label", "")).strip(): str(r.get("name", "")).strip() for r in _rows_from_file(named)}
    for name in SPLIT_ALIASES.get(split, (split,)):
        for suffix in FILE_SUFFIXES:
            candidate = path / f"{name}{suffix}"
            if candidate.exists():
                return _rows_from_file(candidate), portable_path(candidate), names
    raise CompressError(f"no {split} split in {path} (looked for {split}.tsv/.csv/.jsonl and aliases)")


def _rows_from_file(path: Path) -> list[dict]:
    suffix = path.suffix.lower()
    if suffix not in FILE_SUFFIXES:
        raise CompressError(f"{path}: unsupported file type {suffix!r} (use .tsv, .csv or .jsonl)")
    # utf-8-sig drops a leading byte-order mark (GLUE's MRPC files, spreadsheet exports), which would otherwise
    # stick to the first column's name; newline="" lets the csv reader take CRLF line ends as well as LF.
    with open(path, newline="", encoding="utf-8-sig") as fh:
        return _rows_from_lines(fh, suffix, str(path))


def _rows_from_lines(lines: Iterable[str], suffix: str, origin: str) -> list[dict]:
    if suffix == ".jsonl":
        return [_json_row(line, origin, n) for n, line in enumerate(lines, 1) if line.strip()]
    # GLUE TSVs are unquoted; a quoting reader would swallow rows around any '"'.
    reader = csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE) if suffix == ".tsv" else csv.reader(lines)
    header = next(reader, None)
    if header is None:
        return []
    rows = []
    for n, fields in enumerate(reader, 2):
        if not fields:
            continue
        if len(fields) != len(header):
            raise CompressError(f"{origin}:{n}: {len(fields)} fields where the header has {len(header)}")
        rows.append(dict(zip(header, fields)))
    return rows


def read_texts(source: str, columns: Columns = Columns(), input_format: str = "jsonl") -> LabelledText:
    """Every row of one file, or of standard input when `source` is "-" (in `input_format`: tsv, csv or jsonl),
    as texts and pairs; labels only when the rows have a label column (none: an empty list)."""
    if source == "-":
        stream = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", newline="")
        rows, origin = _rows_from_lines(stream, "." + input_format, "standard input"), "standard input"
    else:
        path = Path(source)
        if not path.is_file():
            raise CompressError(f"{source} is not a file (give a .tsv, .csv or .jsonl file, or - for standard input)")
        rows, origin = _rows_from_file(path), portable_path(path)
    return _to_labelled(rows, columns, {}, origin, labelled=False)


def _json_row(line: str, path: Path | str, n: int) -> dict:
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


def _to_labelled(rows: list[dict], columns: Columns, names: dict[str, str], origin: str,
                 labelled: bool = True) -> LabelledText:
    """The rows as texts, pairs and labels; unless `labelled`, rows without labels are taken with none."""
    if not rows:
        raise CompressError(f"{origin}: the dataset is empty")
    available = list(rows[0])
    # A column whose pair partner is present comes first: QNLI has both `question` and `sentence`.
    paired = [t for t in TEXT_COLUMNS if PAIR_COLUMNS.get(t) in available]
    text = _pick(available, columns.text, paired + list(TEXT_COLUMNS), "text", origin)
    try:
        label = _label_column(rows, available, columns, origin)
    except UnlabelledSplit:
        if labelled:
            raise
        label = None
    pair = columns.text_pair
    if pair is not None:
        _pick(available, pair, (), "text pair", origin)
    elif columns.text is None and PAIR_COLUMNS.get(text) in available:
        pair = PAIR_COLUMNS[text]
    texts = [str(row.get(text) or "") for row in rows]
    pairs = [str(row.get(pair) or "") for row in rows] if pair else None
    labels = [str(row.get(label)).strip() for row in rows] if label else []
    tag = origin.replace(os.sep, "/").rsplit("/", 1)[-1]
    return LabelledText(texts, pairs, labels, dict(names), origin, [f"{tag}#{n}" for n in range(len(rows))])


def _label_column(rows: list[dict], available: list[str], columns: Columns, origin: str) -> str:
    """The column holding every row's label; UnlabelledSplit when there is none or no row has a label."""
    if columns.label is None and not any(c in available for c in LABEL_COLUMNS):
        raise UnlabelledSplit(f"{origin}: cannot find a label column (columns: {', '.join(available)}); name it "
                              "with --label-column")
    label = _pick(available, columns.label, LABEL_COLUMNS, "label", origin)
    missing = [n for n, row in enumerate(rows) if _no_label(row.get(label))]
    if len(missing) == len(rows):  # GLUE's test splits: every label hidden (-1 on the hub)
        raise UnlabelledSplit(f"{origin}: no row has a label in column {label!r}")
    if missing:
        raise CompressError(f"{origin}: row {missing[0] + 1} has no label in column {label!r}")
    return label


def _no_label(value: Any) -> bool:
    return value is None or str(value).strip() == "" or (isinstance(value, int) and value < 0)
