"""Stage `analyze` (compress.stages.analyze): the per-head and per-layer table, its own command and a recipe stage."""

from __future__ import annotations

import json
import os

import pytest

from compress.engine.cli import main
from tests.conftest import cut_bert

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return cut_bert(tmp_path_factory.mktemp("sensitivity_base"), layers=2)


def test_analyze_writes_the_sensitivity_table_and_no_model(base, tmp_path, capsys, data_dir):
    out = tmp_path / "analysis"
    assert main(["analyze", "--model", str(base), "--max-eval-examples", "64", "--max-length", "32",
                 "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "sensitivity.json", "sensitivity.md"]
    table = json.loads((out / "sensitivity.json").read_text())
    assert [(r["layer"], r["head"]) for r in table["heads"]] == [(i, h) for i in range(2) for h in range(12)]
    assert [r["layer"] for r in table["layers"]] == [0, 1] and table["eval"]["accuracy"] > 0
    for row in table["heads"] + table["layers"]:
        assert row["accuracy_drop_points"] == pytest.approx(100 * (table["eval"]["accuracy"] - row["accuracy"]))
    markdown = (out / "sensitivity.md").read_text()
    assert markdown.count("\n| ") == 3 and "whole layer" in markdown and markdown.strip() in capsys.readouterr().out
    assert json.loads((out / "manifest.json").read_text())["stage"] == "analyze"


def test_analyze_runs_as_a_recipe_stage(base, tmp_path, data_dir):
    recipe = tmp_path / "analyze.yaml"
    recipe.write_text(f"model: {base}\nworkdir: {tmp_path / 'work'}\ndata: {{max_eval_examples: 32}}\n"
                      "stages:\n  - stage: analyze\n    max_length: 32\n")
    assert main(["run", str(recipe)]) == 0
    (out,) = (tmp_path / "work").iterdir()
    assert (out / "sensitivity.json").exists()


def test_analyze_refuses_training_settings_it_would_ignore(base, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["analyze", "--model", str(base), "--epochs", "2", "-o", str(tmp_path / "x")])
    assert "unrecognized arguments: --epochs" in capsys.readouterr().err
