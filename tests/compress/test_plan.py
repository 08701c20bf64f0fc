"""compress.engine.plan: the search's plan from the data size, the depth and the training speed, and the budget at which
each family becomes reachable."""

import json

import pytest

from compress.engine.plan import lines, recorded_speed, steps
from compress.engine.search import SearchConfig, student_budget


def config(**kwargs):
    settings = dict(model="m", student_layers=[3, 2], prune_ratios=[0.25, 0.5], hidden_fractions=[0.5],
                    min_train_steps=0, small_data=0, augment=1, distill_epochs=2.0, recovery_epochs=[1.0],
                    recovery_augment=[0])
    return SearchConfig(**{**settings, **kwargs})


def test_students_then_cuts_of_the_shallowest_with_their_training_minutes():
    planned = steps(config(), train_rows=6000, layers=6, speed=1e-3, post_minutes=1.0, student_budget=student_budget)
    assert [s.name for s in planned] == ["student3", "student2", "student2 with 0.25, 0.5 of heads and FFN pruned",
                                         "student2 narrowed to 0.5 of its hidden size"]
    # rows x (1 + copies) x epochs x layers x seconds per row and layer
    assert planned[0].train_minutes == pytest.approx(6000 * 2 * 2 * 3 * 1e-3 / 60)
    assert planned[2].train_minutes == pytest.approx(6000 * 1 * 1 * 2 * 1e-3 / 60 * 2)
    assert planned[2].post_minutes == 2.0


def test_without_students_the_cuts_are_of_the_input_model():
    planned = steps(config(student_layers=[0]), 1000, 6, 1e-3, 1.0, student_budget)
    assert planned[0].name.startswith("the input model with")


def test_each_family_says_whether_the_budget_reaches_it_and_which_budget_would():
    planned = steps(config(), 6000, 6, 1e-2, 1.0, student_budget)   # student3 12 + 1 min, student2 8 + 1
    out = lines(planned, budget=20, spent=2.0, final_minutes=3.0, speed_source="measured")
    assert out[0].startswith("plan: 2.0 min spent") and "about 3.0 min" in out[0]
    assert out[1].endswith("reachable") and "done by minute 15.0" in out[1]
    assert "not within --time-budget 20: needs about 27" in out[2]
    estimated = lines(planned, budget=20, spent=2.0, final_minutes=3.0, speed_source="measured", estimated=True)
    assert estimated[0].startswith("plan: about 2.0 min expected") and estimated[1:] == out[1:]


def test_an_unknown_speed_plans_without_times():
    out = lines(steps(config(), 6000, 6, None, None, student_budget), None, None, None, "unknown")
    assert all("done by minute" not in line for line in out) and "~? min training" in out[1]


def test_the_speed_is_read_from_the_input_model_s_fine_tuning_record(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"stage": "finetune", "settings": {"batch_size": 32},
                                                        "metrics": {"steps": 100, "train_seconds": 96.0}}))
    assert recorded_speed(str(tmp_path), 6) == pytest.approx(96.0 / (100 * 32 * 6))
    assert recorded_speed(str(tmp_path / "missing"), 6) is None
