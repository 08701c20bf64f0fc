"""eval.served: every way of serving a directory is timed, each in its own process, against the session bench
times, and the graph a default session runs is counted."""

from __future__ import annotations

import json

import pytest

from eval.served import WAYS, available_ways, main, time_one


@pytest.mark.parametrize("way", WAYS)
def test_each_way_serves_the_directory_and_is_timed(trained_tiny_onnx, way):
    if way not in available_ways():
        pytest.skip(f"{way} needs optimum (the serving extra), which needs transformers 4.57")
    timed = time_one(way, trained_tiny_onnx, runs=3, warmup=1)
    assert timed["runs"] == 3
    assert 0 < timed["p50_ms"] <= timed["p90_ms"] <= timed["p99_ms"]


def test_fresh_process_rounds_are_summarized_against_the_bench_session(trained_tiny_onnx, tmp_path, capsys):
    # One run of the command (every way in its own fresh process is the slow part); its JSON is measure()'s result.
    assert main([str(trained_tiny_onnx), "--rounds", "1", "--runs", "2", "-o", str(tmp_path / "served.json")]) == 0
    table = capsys.readouterr().out
    assert "| bench |" in table and "| 1.00x |" in table and "0 SkipLayerNormalization" in table
    result = json.loads((tmp_path / "served.json").read_text())
    assert list(result["ways"]) == list(available_ways())
    for way in result["ways"].values():
        low, high = way["p50_ms_range"]
        assert len(way["rounds"]) == 1 and low == way["p50_ms_median"] == high
    assert result["default_session_operators"].get("SkipLayerNormalization", 0) == 0


def test_a_directory_without_an_onnx_model_is_a_one_line_error(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("python -m eval.served: error:") and "model.onnx" in err and "\n" not in err
