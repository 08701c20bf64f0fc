"""Typed settings: dataclass fields with help text, shared by the CLI options and YAML recipes.

Each stage's settings are one flat dataclass. The same field list generates the stage's `--help`,
parses its command-line options, and validates a recipe's mapping (unknown keys and wrong types are
errors that name the key), so a documented option and a recipe key can never drift apart.

A stage that inherits a shared field it never reads names it in `unused`; the command line does not
offer it, and a recipe or Python code that sets it is refused, so no setting is silently ignored.

A numeric field declares its range once, as an interval (`option(32, "...", interval="[1, inf)")`);
settings classes derive from `Settings`, whose construction checks every range and choice, so the
command line, recipes and settings built in Python all refuse a bad value with the same one line.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping, TypeVar

from compress.core.errors import CompressError

T = TypeVar("T")


@dataclass(frozen=True)
class Interval:
    """A range of numbers written as in mathematics: "[1, inf)" is at least 1, "(0, 1]" above 0 and at most 1."""

    low: float
    high: float
    low_open: bool
    high_open: bool

    @classmethod
    def parse(cls, text: str) -> "Interval":
        match = re.fullmatch(r"\s*([\[(])\s*(\S+?)\s*,\s*(\S+?)\s*([\])])\s*", text)
        if not match:
            raise ValueError(f"not an interval: {text!r} (write it like [1, inf) or (0, 1])")
        low, high = float(match[2]), float(match[3])
        if low > high:
            raise ValueError(f"empty interval: {text!r}")
        return cls(low, high, match[1] == "(", match[4] == ")")

    def __contains__(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def describe(self) -> str:
        low = None if self.low == -math.inf else f"{'above' if self.low_open else 'at least'} {_number(self.low)}"
        high = None if self.high == math.inf else f"{'below' if self.high_open else 'at most'} {_number(self.high)}"
        return " and ".join(part for part in (low, high) if part) or "any number"


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else f"{value:g}"


_UNSET = object()


def option(default: Any, help: str, choices: tuple | None = None, interval: str | None = None,
           group: str | None = None, inherited: Any = _UNSET) -> Any:
    """A settings field with its documentation, and the values it allows: `choices`, or for a number an
    `interval` such as "[1, inf)"; for a list, each item. Checked whenever a `Settings` class is built.

    `group` heads the options of one kind together in `--help` (data, loading, the search's groups). A field with
    `inherited` is left unset (None) and then taken from the input model's lineage, else this default
    (compress.core.roles.resolve_data); None there means the data decides (the help text says how)."""
    meta = {"help": help, "choices": choices, "interval": Interval.parse(interval) if interval else None,
            "group": group}
    if inherited is not _UNSET:
        meta["inherited"] = inherited
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _base_type(hint: Any) -> tuple[type, bool]:
    """(underlying type, optional?) for hints like `int | None` or `list[int]`."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return _base_type(args[0])[0], True
    return (origin or hint), False


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def accepted(cls: type) -> list[dataclasses.Field]:
    """The fields of settings class `cls` that its stage reads."""
    unused = getattr(cls, "unused", ())
    return [f for f in dataclasses.fields(cls) if f.name not in unused]


def add_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """One `--kebab-name` option per accepted field, with its help, default and type."""
    hints = _hints(cls)
    groups: dict[str, Any] = {}
    for f in accepted(cls):
        kind, optional = _base_type(hints[f.name])
        default = _default(f)
        name = f.metadata.get("group")
        target = groups.setdefault(name, parser.add_argument_group(f"{name} options")) if name else parser
        flag = "--" + f.name.replace("_", "-")
        text = f.metadata.get("help", "").replace("%", "%%")  # argparse %-formats help text
        if kind is bool:
            target.add_argument(flag, action=argparse.BooleanOptionalAction, default=default,
                                help=_help(text, f, default))
        elif kind is list:
            listed = hints[f.name]
            if optional:  # list[int] | None: the list type inside the union
                listed = next(a for a in typing.get_args(listed) if a is not type(None))
            item = typing.get_args(listed) or (str,)
            item_type = _base_type(item[0])[0]
            target.add_argument(flag, nargs="+", type=item_type, default=default, choices=f.metadata.get("choices"),
                                metavar=f.name.upper(),
                                help=_help(text, f, " ".join(map(str, default or ())) or "none", listed=True))
        else:
            target.add_argument(flag, type=kind, default=default, choices=f.metadata.get("choices"),
                                metavar=None if f.metadata.get("choices") else f.name.upper(),
                                help=_help(text, f, default))


def _help(text: str, f: dataclasses.Field, default: Any, listed: bool = False) -> str:
    """The help text, then the default unless the text gives it, then the allowed range."""
    inherited = f.metadata.get("inherited")
    if inherited is not None:
        default = f"the input model's, else {'off' if inherited is False else inherited}"
    notes = [f"default: {default}"] if "default" not in text else []
    if f.metadata.get("interval"):
        notes.append(("each " if listed else "") + f.metadata["interval"].describe())
    return f"{text} ({'; '.join(notes)})" if notes else text


def from_args(cls: type[T], namespace: argparse.Namespace) -> T:
    values = {f.name: getattr(namespace, f.name) for f in accepted(cls) if hasattr(namespace, f.name)}
    return cls(**values)


def from_mapping(cls: type[T], mapping: Mapping[str, Any] | None, where: str = "settings",
                 lines: Mapping[str, int] | None = None) -> T:
    """Build `cls` from a recipe mapping; every key must be a field and every value of its type."""
    mapping = dict(mapping or {})
    hints = _hints(cls)
    fields = {f.name: f for f in accepted(cls)}
    values = {}
    for key, value in mapping.items():
        at = f"{where}, line {lines[key]}" if lines and key in lines else where
        if key not in fields:
            close = [n for n in fields if n.startswith(key[:3])]
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise CompressError(f"{at}: unknown key {key!r}{hint}; allowed: {', '.join(fields)}")
        values[key] = _coerce(value, hints[key], key, at, fields[key])
    return cls(**values)


class Settings:
    """Base of every settings dataclass: building one checks each field's choices and range, so a bad value
    is refused in one line whether it came from the command line, a recipe or Python."""

    unused: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            problem = _problem(f, value)
            if f.name in self.unused and value != _default(f):
                problem = f"is not used by {type(self).__name__}; leave it out"
            if problem:
                raise CompressError(f"--{f.name.replace('_', '-')} {problem}")


def _default(f: dataclasses.Field) -> Any:
    return f.default if f.default is not dataclasses.MISSING else f.default_factory()


def _problem(f: dataclasses.Field, value: Any) -> str | None:
    """What is wrong with `value` for field `f` (outside its choices or its interval), or None."""
    choices, interval = f.metadata.get("choices"), f.metadata.get("interval")
    for item in value if isinstance(value, list) else [value]:
        if choices and item is not None and item not in choices:
            return f"must be one of {', '.join(map(str, choices))}, got {item!r}"
        if interval is not None and item is not None and (
                isinstance(item, bool) or not isinstance(item, (int, float)) or item not in interval):
            return f"must be {interval.describe()}, got {item!r}"
    return None


def _coerce(value: Any, hint: Any, key: str, at: str, field: dataclasses.Field) -> Any:
    kind, optional = _base_type(hint)
    if value is None:
        if optional:
            return None
        raise CompressError(f"{at}: {key!r} must not be empty")
    ok = (isinstance(value, bool) if kind is bool
          else isinstance(value, (int, float)) and not isinstance(value, bool) if kind is float
          else isinstance(value, int) and not isinstance(value, bool) if kind is int
          else isinstance(value, list) if kind is list
          else isinstance(value, dict) if kind is dict
          else isinstance(value, kind))
    if not ok:
        raise CompressError(f"{at}: {key!r} must be {getattr(kind, '__name__', kind)}, got {value!r}")
    value = float(value) if kind is float else value
    problem = _problem(field, value)
    if problem:
        raise CompressError(f"{at}: {key!r} {problem}")
    return value


def to_dict(settings: Any) -> dict[str, Any]:
    return dataclasses.asdict(settings)
