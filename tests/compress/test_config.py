"""compress.core.config: one dataclass drives --help, CLI parsing, recipe validation and the range of every number."""

import argparse
import dataclasses
import typing
from dataclasses import dataclass

import pytest

from compress.core.config import Interval, Settings, add_arguments, from_args, from_mapping, option, to_dict
from compress.core.errors import CompressError
from compress.stages.finetune import FinetuneConfig


@dataclass
class Example(Settings):
    """Settings covering every kind of field a stage uses."""

    steps: int = option(10, "steps", interval="[1, inf)")
    rate: float = option(0.5, "rate", interval="[0, 1]")
    name: str = option("x", "name")
    limit: int | None = option(None, "optional limit")
    fast: bool = option(True, "go fast")
    verbose: bool = option(False, "talk")
    method: str = option("dynamic", "method", choices=("dynamic", "static"))
    layers: list[int] = option([1, 2], "layers to keep", interval="[0, inf)")
    keep: list[int] | None = option(None, "optional list")
    bits: list[int] = option([8], "bits of each table", choices=(8, 4))


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
    for argv in (["--method", "int4"], ["--steps", "many"], ["--bits", "8", "3"]):
        with pytest.raises(SystemExit) as exit:
            parse(argv)
        assert exit.value.code == 2


def test_help_shows_each_option_with_its_default_and_range():
    parser = argparse.ArgumentParser()
    add_arguments(parser, FinetuneConfig)
    text = " ".join(parser.format_help().split())
    assert "--max-train-examples" in text and "--no-group-by-length" in text
    assert "peak AdamW learning rate (default: 5e-05; above 0)" in text
    assert "(default: 0.06; at least 0 and at most 1)" in text


def test_finetune_settings_parse_kebab_case_options():
    settings = parse(["--data", "d.tsv", "--text-column", "review", "--max-steps", "4", "--learning-rate", "1e-4",
                      "--allow-pickle"], FinetuneConfig)
    assert (settings.data, settings.text_column, settings.max_steps) == ("d.tsv", "review", 4)
    assert settings.learning_rate == 1e-4 and settings.allow_pickle is True


# Ranges

@pytest.mark.parametrize("text, inside, outside, words", [
    ("[1, inf)", [1, 2, 10**9], [0, 0.999, -1], "at least 1"),
    ("(0, inf)", [1e-12, 5], [0, -1e-12], "above 0"),
    ("[0, 1]", [0, 0.5, 1], [-0.01, 1.01], "at least 0 and at most 1"),
    ("(0, 1]", [1e-9, 1], [0, 1.5], "above 0 and at most 1"),
    ("[0, 1)", [0, 0.999], [1, -0.5], "at least 0 and below 1"),
    ("(-inf, 5]", [-1e9, 5], [5.001], "at most 5"),
])
def test_an_interval_holds_exactly_its_numbers_and_says_so_in_words(text, inside, outside, words):
    interval = Interval.parse(text)
    assert all(v in interval for v in inside) and not any(v in interval for v in outside)
    assert interval.describe() == words


@pytest.mark.parametrize("text", ["1, inf", "[1 inf)", "[2, 1]", "{0, 1}"])
def test_a_malformed_interval_fails_where_the_option_is_declared(text):
    with pytest.raises(ValueError):
        option(1, "x", interval=text)


@pytest.mark.parametrize("values, expected", [
    ({"steps": 0}, "--steps must be at least 1, got 0"),
    ({"rate": 1.5}, "--rate must be at least 0 and at most 1, got 1.5"),
    ({"layers": [0, -2]}, "--layers must be at least 0, got -2"),
    ({"method": "int4"}, "--method must be one of dynamic, static, got 'int4'"),
    ({"bits": [8, 3]}, "--bits must be one of 8, 4, got 3"),
])
def test_settings_built_in_python_refuse_a_value_outside_its_range_or_choices(values, expected):
    with pytest.raises(CompressError) as error:
        Example(**values)
    assert str(error.value) == expected


def test_optional_numbers_may_be_empty_and_replace_is_checked_too():
    assert Example(limit=None).limit is None
    with pytest.raises(CompressError, match="--steps must be at least 1, got -3"):
        dataclasses.replace(Example(), steps=-3)


@pytest.mark.parametrize("key, value, expected", [
    ("steps", 0, "quick.yaml, line 4: 'steps' must be at least 1, got 0"),
    ("rate", -1, "quick.yaml, line 4: 'rate' must be at least 0 and at most 1, got -1.0"),
    ("layers", [1, -1], "quick.yaml, line 4: 'layers' must be at least 0, got -1"),
    ("layers", [1, "two"], "quick.yaml, line 4: 'layers' must be at least 0, got 'two'"),
    ("bits", [4, 2], "quick.yaml, line 4: 'bits' must be one of 8, 4, got 2"),
])
def test_a_recipe_value_outside_its_range_names_file_line_and_key(key, value, expected):
    with pytest.raises(CompressError) as error:
        from_mapping(Example, {key: value}, where="quick.yaml", lines={key: 4})
    assert str(error.value) == expected


def test_the_command_line_refuses_a_value_outside_its_range_in_one_line():
    with pytest.raises(CompressError, match="^--rate must be at least 0 and at most 1, got 2.0$"):
        parse(["--rate", "2"])


def settings_classes():
    from compress.engine.search import SearchConfig
    from compress.stages.analyze import AnalyzeConfig
    from compress.stages.distill import DistillConfig
    from compress.stages.export import ExportConfig
    from compress.stages.prune import PruneConfig
    from compress.stages.quantize import QuantizeConfig
    from eval.bench import BenchConfig
    from eval.check import Tolerances

    return [FinetuneConfig, DistillConfig, PruneConfig, AnalyzeConfig, ExportConfig, QuantizeConfig, BenchConfig,
            Tolerances, SearchConfig]


def test_every_numeric_option_of_every_stage_declares_its_range():
    unbounded = []
    for cls in settings_classes():
        assert issubclass(cls, Settings), f"{cls.__name__} does not check its ranges"
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            kinds = {a for a in typing.get_args(hints[f.name]) or [hints[f.name]] if a is not type(None)}
            items = {i for k in kinds for i in typing.get_args(k)} if any(typing.get_origin(k) is list
                                                                            for k in kinds) else kinds
            if items & {int, float} and not f.metadata.get("choices") and not f.metadata.get("interval"):
                unbounded.append(f"{cls.__name__}.{f.name}")
    assert unbounded == []


def test_every_default_lies_inside_its_own_range():
    for cls in settings_classes():
        cls()  # building checks every field


@dataclass
class Base(Settings):
    rate: float = option(0.5, "a rate", interval="[0, 1]")
    epochs: float = option(3.0, "passes", interval="(0, inf)")


@dataclass
class NoEpochs(Base):
    unused = ("epochs",)


def test_a_field_a_stage_does_not_use_is_not_offered_and_is_refused_everywhere():
    parser = argparse.ArgumentParser()
    add_arguments(parser, NoEpochs)
    assert "--epochs" not in parser.format_help() and "--rate" in parser.format_help()
    assert from_args(NoEpochs, parser.parse_args(["--rate", "0.2"])) == NoEpochs(rate=0.2)
    with pytest.raises(CompressError, match="unknown key 'epochs'"):
        from_mapping(NoEpochs, {"epochs": 2})
    with pytest.raises(CompressError, match="^--epochs is not used by NoEpochs; leave it out$"):
        NoEpochs(epochs=2.0)


def test_every_stage_refuses_the_shared_fields_it_ignores():
    from compress.stages.prune import PruneConfig
    from compress.stages.quantize import QuantizeConfig
    from eval.bench import BenchConfig

    for cls, key in ((PruneConfig, "epochs"), (QuantizeConfig, "max_train_examples"),
                     (BenchConfig, "max_train_examples")):
        with pytest.raises(CompressError, match=f"unknown key '{key}'"):
            from_mapping(cls, {key: 5})


def test_distillation_weights_are_declared_once_for_distil_and_prune():
    from compress.core.losses import LossWeights
    from compress.stages.distill import DistillConfig
    from compress.stages.prune import PruneConfig

    shared = {f.name: f for f in dataclasses.fields(LossWeights)}
    for cls in (DistillConfig, PruneConfig):
        fields = {f.name: f for f in dataclasses.fields(cls)}
        assert all(fields[name].metadata is shared[name].metadata for name in shared)
    with pytest.raises(CompressError, match="--ce-weight, --kd-weight, --hidden-weight, --attention-weight"):
        DistillConfig(ce_weight=0, kd_weight=0).weights()
    with pytest.raises(CompressError, match="give at least one of --ce-weight, --kd-weight, --hidden-weight$"):
        PruneConfig(ce_weight=0, kd_weight=0).weights()
