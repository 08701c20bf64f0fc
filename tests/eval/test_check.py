"""The regression gate: ratios to a reference in the same run, tolerances, named failures, exit codes."""

import json
from pathlib import Path

import pytest

from compress.engine.cli import main
from eval.check import Tolerances, check, describe
from eval.machine import cpu_kind
from tests.eval.records import record


def slower_int8(v):
    for e in v["latency"]:
        e["p50_ms"] *= 2.4  # what switching quantization off does to this variant


def test_unchanged_rerun_passes():
    summary = check(record(), record(), Tolerances())
    assert summary["passed"] and summary["checks"]
    assert describe(summary)[0].startswith("check passed")


def test_a_uniformly_slower_machine_is_not_a_regression():
    assert check(record(scale=1.8), record(), Tolerances())["passed"]


def test_a_slower_variant_fails_on_latency_relative_to_the_reference():
    summary = check(record(int8=slower_int8), record(), Tolerances())
    assert not summary["passed"]
    assert {f["metric"] for f in summary["failures"]} == {"latency/b1xl128 (x teacher)", "latency/real-b32 (x teacher)"}
    assert all(f["variant"] == "int8" for f in summary["failures"])


def set_accuracy(value):
    return lambda v: v["accuracy"]["metrics"].update(accuracy=value)


def test_a_variant_whose_drop_against_its_run_reference_grows_beyond_tolerance_fails():
    base_int8 = record()["variants"][2]["accuracy"]["metrics"]["accuracy"]
    assert check(record(int8=set_accuracy(base_int8 - 0.004)), record(), Tolerances(max_accuracy_drop=0.5))["passed"]
    failed = check(record(int8=set_accuracy(base_int8 - 0.006)), record(), Tolerances(max_accuracy_drop=0.5))
    assert [f["metric"] for f in failed["failures"]] == ["accuracy drop vs teacher (points)"]
    assert failed["failures"][0]["candidate"] == pytest.approx(failed["failures"][0]["baseline"] + 0.6)


def test_a_retrained_reference_moves_its_variants_with_it():
    """The teacher and every variant 1.5 points lower: the drops are unchanged, so only the reference's own
    accuracy is compared, with its own tolerance."""
    shift = {name: (lambda v: v["accuracy"]["metrics"].update(accuracy=v["accuracy"]["metrics"]["accuracy"] - 0.015))
             for name in ("teacher", "onnx", "int8")}
    assert check(record(**shift), record(), Tolerances(max_accuracy_drop=0.5))["passed"]
    failed = check(record(**shift), record(), Tolerances(max_reference_accuracy_drop=1.0))
    assert [(f["variant"], f["metric"]) for f in failed["failures"]] == [("teacher", "accuracy")]


def test_size_and_memory_growth_fail():
    bigger = lambda v: (v["size"].update(file_bytes=90_000_000), v["memory"].update(peak_increment_mb=400))  # noqa: E731
    metrics = {f["metric"] for f in check(record(int8=bigger), record(), Tolerances())["failures"]}
    assert {"file_bytes", "peak_memory_mb"} <= metrics


def test_a_variant_missing_from_the_candidate_fails():
    candidate = record()
    candidate["variants"] = candidate["variants"][:2]
    summary = check(candidate, record(), Tolerances())
    assert summary["failures"] == [{"variant": "int8", "metric": "present", "baseline": True, "candidate": False,
                                    "regressed": True}]
    assert "missing" in describe(summary)[0]


def test_cli_exits_nonzero_naming_the_metric_and_writes_a_summary(tmp_path, capsys):
    (tmp_path / "base.json").write_text(json.dumps(record()))
    (tmp_path / "cand.json").write_text(json.dumps(record(int8=slower_int8)))
    assert main(["check", str(tmp_path / "base.json"), "--baseline", str(tmp_path / "base.json")]) == 0
    with pytest.raises(SystemExit) as exit_info:
        main(["check", str(tmp_path / "cand.json"), "--baseline", str(tmp_path / "base.json"),
              "--summary", str(tmp_path / "summary.json")])
    assert exit_info.value.code == 1
    out = capsys.readouterr().out
    assert "REGRESSION int8 latency/b1xl128" in out
    assert json.loads((tmp_path / "summary.json").read_text())["passed"] is False


def test_unknown_reference_variant_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "r.json").write_text(json.dumps(record()))
    code = main(["check", str(tmp_path / "r.json"), "--baseline", str(tmp_path / "r.json"), "--reference", "nope"])
    assert code == 2 and "reference variant 'nope'" in capsys.readouterr().err


GATE = Path(__file__).resolve().parents[2] / "configs" / "gate"


@pytest.mark.parametrize("file", sorted(GATE.glob("quick-baseline-*.json")), ids=lambda f: f.stem)
def test_switching_quantization_off_fails_the_committed_quick_gate(file):
    """Each committed CI baseline, with its int8 variant replaced by what quantize would give if it did nothing."""
    import copy

    from eval import record as records

    baseline = records.load(file)
    assert check(copy.deepcopy(baseline), baseline, Tolerances(max_latency_increase=0.3))["passed"]
    candidate = copy.deepcopy(baseline)
    variants = {v["name"]: v for v in candidate["variants"]}
    unquantized = {**copy.deepcopy(variants["export"]), "name": "int8"}
    candidate["variants"] = [unquantized if v["name"] == "int8" else v for v in candidate["variants"]]
    summary = check(candidate, baseline, Tolerances(max_latency_increase=0.3))
    failed = {(f["variant"], f["metric"]) for f in summary["failures"]}
    assert ("int8", "file_bytes") in failed and ("int8", "latency/b1xl128 (x teacher)") in failed
    assert all(variant == "int8" for variant, _ in failed)


def test_each_committed_baseline_is_named_after_its_kind_of_cpu():
    from eval import record as records

    files = sorted(GATE.glob("quick-baseline-*.json"))
    kinds = [cpu_kind(records.load(f)["machine"]) for f in files]
    assert [f.stem.removeprefix("quick-baseline-") for f in files] == kinds and len(set(kinds)) == len(kinds)


@pytest.mark.parametrize(("model", "flags", "kind"), [
    ("AMD EPYC", {"avx2": True, "avx512_vnni": False}, "amd-avx2"),
    ("AMD EPYC", {"avx2": True, "avx512bw": True, "avx512_vnni": True}, "amd-avx512-vnni"),
    ("Intel(R) Xeon(R) Processor", {"avx2": True, "avx512_vnni": True, "amx_int8": True}, "intel-amx"),
])
def test_the_kind_of_cpu_is_its_vendor_and_widest_int8_instructions_not_its_model_name(model, flags, kind):
    assert cpu_kind({"cpu": model, "arch": "x86_64", "int8_flags": flags}) == kind


def test_a_baseline_from_another_kind_of_cpu_gates_accuracy_and_size_but_only_reports_latency_and_memory():
    from eval.check import pick_baseline

    other = record()
    other["machine"]["int8_flags"] = {"avx2": True}
    candidate = record(int8=slower_int8)
    candidate["variants"][2]["memory"]["peak_increment_mb"] *= 3
    baseline, same = pick_baseline(candidate, [other])
    assert baseline is other and not same
    summary = check(candidate, baseline, Tolerances(), compare_latency=same)
    assert summary["passed"] and not any(c["metric"].startswith(("latency", "peak_memory")) for c in summary["checks"])
    lines = describe(summary)
    assert lines[1].startswith("no baseline for this kind of CPU (cpu-avx512-vnni), so against the one from "
                               "cpu-avx2 accuracy")
    assert "  int8 latency/b1xl128 (x teacher): " in "\n".join(lines)
    assert pick_baseline(candidate, [other, record()]) == (record(), True)
    lower = record(int8=set_accuracy(record()["variants"][2]["accuracy"]["metrics"]["accuracy"] - 0.02))
    assert not check(lower, baseline, Tolerances(), compare_latency=False)["passed"], "accuracy is still gated"
