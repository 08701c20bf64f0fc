"""compress.core.budget: one comparison of a drop with the accuracy budget, the same in the quantization guard, the
search, bench's verdict and the regression gate."""

from compress.core.budget import recorded, room, within_budget
from compress.core.guard import keep_within_budget
from compress.engine.candidates import Budget, Candidate
from eval.check import Tolerances, check
from eval.paired import verdict

# One example in 100 lost is 1 point, which floating point makes 1.0000000000000009.
ONE_ROW_IN_100 = 100 * (0.99 - 0.98)


def test_a_drop_of_exactly_the_budget_is_inside_and_a_thousandth_of_a_point_more_is_not():
    assert ONE_ROW_IN_100 > 1.0 and within_budget(ONE_ROW_IN_100, 1.0)
    assert not within_budget(1.001, 1.0)
    assert within_budget(-3.0, 0.0), "a gain is inside any budget"


def test_the_room_left_is_rounded_so_the_same_setting_keeps_its_cache_key():
    assert room(1.0, 0.1 + 0.2) == 0.7


def test_the_search_counts_a_candidate_at_the_edge_as_inside():
    budget = Budget(baseline_score=99.0, max_accuracy_drop=1.0)
    assert budget.within(Candidate("edge", "e", "onnx", [], score=99.0 - ONE_ROW_IN_100))
    assert not budget.within(Candidate("over", "o", "onnx", [], score=97.9))


def test_bench_s_verdict_counts_the_edge_as_inside():
    assert verdict(-ONE_ROW_IN_100, [-ONE_ROW_IN_100, 0.5], 1.0) == "inside with 95% confidence"


def test_the_quantization_guard_keeps_nothing_in_float32_at_the_edge():
    trial, record = keep_within_budget(["a"], "node", 1.0, run=lambda kept: ("trial", kept),
                                       drop=lambda _: ONE_ROW_IN_100, weights={"a": 1})
    assert trial == ("trial", ()) and record["max_accuracy_drop"] == 1.0


def test_the_gate_passes_an_accuracy_drop_that_grew_by_exactly_its_tolerance():
    def record(accuracy):
        variants = [{"name": name, "latency": [], "size": {"file_bytes": 1}, "accuracy": {"metrics": {"accuracy": a}}}
                    for name, a in (("teacher", 0.99), ("int8", accuracy))]
        return {"machine": {"cpu_kind": "amd-avx2"}, "variants": variants}

    tolerances = Tolerances(max_accuracy_drop=1.0)
    assert check(record(0.98), record(0.99), tolerances, compare_latency=False)["passed"]
    assert not check(record(0.9799), record(0.99), tolerances, compare_latency=False)["passed"]


def test_a_recorded_drop_equal_to_the_budget_reads_as_equal():
    assert recorded(100 * (1.0 - 0.995)) == 0.5 and recorded(ONE_ROW_IN_100) == 1.0
