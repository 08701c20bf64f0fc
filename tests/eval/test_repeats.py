"""eval.repeats: median and range of each variant's ratios over repeated fresh-process runs."""

import pytest

from compress.core.errors import CompressError
from eval.repeats import markdown, summarize
from tests.eval.records import record


def slower_int8(factor):
    def update(v):
        for e in v["latency"]:
            e["p50_ms"] *= factor
            e["seq_per_s"] /= factor
    return update


def test_median_and_range_over_runs_of_each_ratio():
    runs = [record(int8=slower_int8(f)) for f in (1.0, 1.2, 0.8)]
    rows = {row["name"]: row for row in summarize(runs)}
    int8 = rows["int8"]["latency_speedup"]
    assert int8["median"] == pytest.approx(24.0 / 7.5)
    assert (int8["low"], int8["high"]) == (pytest.approx(24.0 / 9.0), pytest.approx(24.0 / 6.0))
    assert rows["teacher"]["latency_speedup"] == {"median": 1.0, "low": 1.0, "high": 1.0}
    assert rows["int8"]["latency_ms"] == {"median": pytest.approx(7.5), "low": pytest.approx(6.0),
                                          "high": pytest.approx(9.0)}
    assert rows["int8"]["throughput_ratio"]["median"] == pytest.approx(24.0 / 7.5)
    assert rows["int8"]["size_ratio"] == pytest.approx(90 / 23) and rows["int8"]["scores_agree"]
    table = markdown(list(rows.values()))
    assert "| int8 | 7.50 (6.00-9.00) | 3.20x (2.67-4.00) |" in table


def test_runs_of_different_variants_are_refused():
    other = record()
    other["variants"] = other["variants"][:2]
    with pytest.raises(CompressError, match="same variants"):
        summarize([record(), other])


def test_a_run_whose_scores_differ_is_flagged():
    def changed(v):
        v["accuracy"]["metrics"]["accuracy"] = 0.5

    rows = summarize([record(), record(int8=changed)])
    assert [r["scores_agree"] for r in rows] == [True, True, False]
    assert "scores differ" in markdown(rows)


def test_runs_without_accuracy_say_so_instead_of_naming_a_baseline():
    runs = [record(), record()]
    for run in runs:
        for v in run["variants"]:
            del v["accuracy"]
    table = markdown(summarize(runs))
    assert "baseline" not in table and table.count("not scored") == len(runs[0]["variants"])
