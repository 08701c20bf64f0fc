"""compress.config: one dataclass drives --help, CLI parsing and recipe validation."""

import argparse
from dataclasses import dataclass

import pytest

from compress.config import add_arguments, from_args, from_mapping, option, to_dict
from compress.errors import CompressError
from compress.finetune import FinetuneConfig


@dataclass
class Example:
    """Settings covering every kind of field a stage uses."""

    steps: int = option(10, "steps")
    rate: float = option(0.5, "rate")
    name: str = option("x", "name")
    limit: int | None = option(None, "optional limit")
    fast: bool = option(True, "go fast")
    verbose: bool = option(False, "talk")
    method: str = option("dynamic", "method", choices=("dynamic", "static"))
    layers: list[int] = option([1, 2], "layers to keep")
    keep: list[int] | None = option(None, "optional list")


def parse(argv, cls=Example):
    parser = argparse.ArgumentParser()
    add_arguments(parser, cls)
    return from_args(cls, parser.parse_args(argv))


def test_from_mapping_builds_the_dataclass():
    settings = from_mapping(Example, {"steps": 3, "name": "y", "limit": None, "layers": [4], "method": "static"})
    assert settings == Example(steps=3, name="y", limit=None, layers=[4], method="static")


def test_from_mapping_of_nothing_gives_the_defaults():
    assert from_mapping(Example, None) == Example()


def test_from_mapping_accepts_an_int_for_a_float_and_stores_a_float():
    settings = from_mapping(Example, {"rate": 1})
    assert settings.rate == 1.0 and isinstance(settings.rate, float)


def test_from_mapping_rejects_an_unknown_key_by_name_with_suggestions():
    with pytest.raises(CompressError, match=r"recipe: unknown key 'stepz' \(did you mean steps\?\); allowed: steps, "):
        from_mapping(Example, {"stepz": 3}, where="recipe")


def test_from_mapping_names_the_line_of_a_bad_key_when_lines_are_given():
    with pytest.raises(CompressError, match=r"quick.yaml, line 7: unknown key 'colour'"):
        from_mapping(Example, {"steps": 1, "colour": "red"}, where="quick.yaml", lines={"steps": 6, "colour": 7})


@pytest.mark.parametrize("key, value, expected", [
    ("steps", "32", "'steps' must be int, got '32'"),
    ("steps", 1.5, "'steps' must be int"),
    ("steps", True, "'steps' must be int, got True"),
    ("rate", "fast", "'rate' must be float"),
    ("fast", 1, "'fast' must be bool, got 1"),
    ("name", 3, "'name' must be str"),
    ("layers", 3, "'layers' must be list"),
    ("steps", None, "'steps' must not be empty"),
])
def test_from_mapping_rejects_a_wrong_type_naming_key_and_value(key, value, expected):
    with pytest.raises(CompressError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        from_mapping(Example, {key: value})


def test_from_mapping_rejects_a_value_outside_the_choices():
    with pytest.raises(CompressError, match=r"'method' must be one of dynamic, static, got 'int4'"):
        from_mapping(Example, {"method": "int4"})


def test_command_line_defaults_equal_the_dataclass_defaults():
    assert parse([]) == Example()
    assert parse([], FinetuneConfig) == FinetuneConfig()


def test_command_line_options_round_trip_into_the_dataclass():
    settings = parse(["--steps", "5", "--rate", "0.1", "--name", "z", "--limit", "7", "--method", "static",
                      "--layers", "0", "5", "--keep", "3"])
    assert settings == Example(steps=5, rate=0.1, name="z", limit=7, method="static", layers=[0, 5], keep=[3])
    assert from_mapping(Example, to_dict(settings)) == settings


def test_bool_options_have_positive_and_negative_flags():
    assert parse(["--no-fast", "--verbose"]) == Example(fast=False, verbose=True)
    assert parse(["--fast", "--no-verbose"]) == Example(fast=True, verbose=False)


def test_command_line_refuses_a_bad_choice_and_a_bad_type():
    for argv in (["--method", "int4"], ["--steps", "many"]):
        with pytest.raises(SystemExit) as exit:
            parse(argv)
        assert exit.value.code == 2


def test_help_shows_each_option_with_its_default():
    parser = argparse.ArgumentParser()
    add_arguments(parser, FinetuneConfig)
    text = parser.format_help()
    assert "--max-train-examples" in text and "--no-group-by-length" in text
    assert "(default: 5e-05)" in text


def test_finetune_settings_parse_kebab_case_options():
    settings = parse(["--data", "d.tsv", "--text-column", "review", "--max-steps", "4", "--learning-rate", "1e-4",
                      "--allow-pickle"], FinetuneConfig)
    assert (settings.data, settings.text_column, settings.max_steps) == ("d.tsv", "review", 4)
    assert settings.learning_rate == 1e-4 and settings.allow_pickle is True
