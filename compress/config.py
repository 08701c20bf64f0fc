"""Typed settings: dataclass fields with help text, shared by the CLI options and YAML recipes.

Each stage's settings are one flat dataclass. The same field list generates the stage's `--help`,
parses its command-line options, and validates a recipe's mapping (unknown keys and wrong types are
errors that name the key), so a documented option and a recipe key can never drift apart.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from typing import Any, Mapping, TypeVar

from compress.errors import CompressError

T = TypeVar("T")


def option(default: Any, help: str, choices: tuple | None = None) -> Any:
    """A settings field with its documentation (and allowed values) attached."""
    meta = {"help": help, "choices": choices}
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


def add_arguments(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()) -> None:
    """One `--kebab-name` option per field, with its help, default and type."""
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        kind, optional = _base_type(hints[f.name])
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        flag = "--" + f.name.replace("_", "-")
        text = f.metadata.get("help", "").replace("%", "%%")  # argparse %-formats help text
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default,
                                help=text if "default" in text else f"{text} (default: {default})")
        elif kind is list:
            listed = hints[f.name]
            if optional:  # list[int] | None: the list type inside the union
                listed = next(a for a in typing.get_args(listed) if a is not type(None))
            item = typing.get_args(listed) or (str,)
            item_type = _base_type(item[0])[0]
            parser.add_argument(flag, nargs="+", type=item_type, default=default, metavar=f.name.upper(),
                                help=f"{text} (default: {' '.join(map(str, default or ())) or 'none'})")
        else:
            parser.add_argument(flag, type=kind, default=default, choices=f.metadata.get("choices"),
                                metavar=None if f.metadata.get("choices") else f.name.upper(),
                                help=text if "default" in text else f"{text} (default: {default})")


def from_args(cls: type[T], namespace: argparse.Namespace) -> T:
    values = {f.name: getattr(namespace, f.name) for f in dataclasses.fields(cls) if hasattr(namespace, f.name)}
    return cls(**values)


def from_mapping(cls: type[T], mapping: Mapping[str, Any] | None, where: str = "settings",
                 lines: Mapping[str, int] | None = None) -> T:
    """Build `cls` from a recipe mapping; every key must be a field and every value of its type."""
    mapping = dict(mapping or {})
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values = {}
    for key, value in mapping.items():
        at = f"{where}, line {lines[key]}" if lines and key in lines else where
        if key not in fields:
            close = [n for n in fields if n.startswith(key[:3])]
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise CompressError(f"{at}: unknown key {key!r}{hint}; allowed: {', '.join(fields)}")
        values[key] = _coerce(value, hints[key], key, at, fields[key].metadata.get("choices"))
    return cls(**values)


def check_choices(settings: Any) -> None:
    """Fail with one line when settings built in Python, not parsed, hold a value outside a field's choices."""
    for f in dataclasses.fields(settings):
        choices = f.metadata.get("choices")
        value = getattr(settings, f.name)
        if choices and value not in choices:
            raise CompressError(f"{f.name.replace('_', '-')} must be one of {', '.join(map(str, choices))}, "
                                f"got {value!r}")


def _coerce(value: Any, hint: Any, key: str, at: str, choices: tuple | None) -> Any:
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
    if choices and value not in choices:
        raise CompressError(f"{at}: {key!r} must be one of {', '.join(map(str, choices))}, got {value!r}")
    return float(value) if kind is float else value


def to_dict(settings: Any) -> dict[str, Any]:
    return dataclasses.asdict(settings)
