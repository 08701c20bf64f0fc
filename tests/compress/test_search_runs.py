"""`compress search` run end to end on a tiny model: with no time left, a dry run, the prune scope reaching every
stage, and a late measurement failure (a file of its own, so the test runner spreads these runs over the cores)."""

import json

from compress.engine import candidates
from compress.engine.candidates import settings_for
from compress.engine.search import search
from compress.stages.prune import PruneConfig
from tests.compress.test_search import quick


def test_with_no_time_left_only_post_training_candidates_are_made(trained_tiny_bert, tmp_path):
    logs = []
    summary = search(quick(trained_tiny_bert, tmp_path, student_layers=[1], time_budget=0, max_accuracy_drop=100,
                           vocabulary=False), tmp_path / "winner", log=logs.append)
    names = [c["name"] for c in summary["candidates"]]
    assert names == ["baseline", "model-onnx", "model-int8", "model-int8-e4"]
    # No student was made, so the search turns to cuts of the input model, which the spent budget holds back too.
    assert summary["skipped"] == ["student1 (time budget)", "model-prune25 (time budget)"]
    assert not any("distill): running" in line or "prune): running" in line for line in logs)
    record = json.loads((tmp_path / "work" / "final-bench.json").read_text())
    final = {v["name"]: next(e["p50_ms"] for e in v["latency"] if e["workload"] == "b1xl128")
             for v in record["variants"][1:]}
    sizes = {v["name"]: v["size"]["file_bytes"] for v in record["variants"][1:]}
    tied = [name for name, ms in final.items() if ms <= 1.03 * min(final.values())]
    assert summary["winner"]["name"] == min(tied, key=sizes.get), \
        "the smallest of those the side-by-side run found within 3% of the fastest"


def test_a_dry_run_lists_untrained_students_and_their_pruning_without_error(trained_tiny_bert, tmp_path):
    logs = []
    summary = search(quick(trained_tiny_bert, tmp_path, student_layers=[1]), tmp_path / "winner", dry_run=True,
                     log=logs.append)
    assert summary["dry_run"] and not (tmp_path / "winner").exists()
    planned = [line.split("] ", 1)[1].split(":")[0] for line in logs if "would run" in line]
    assert "student1 (distill)" in planned and "student1-prune25 (prune)" in planned
    assert not (tmp_path / "work").exists(), "a dry run makes nothing"
    head = next(line for line in logs if line.startswith("plan: "))
    assert "min expected for the input model's" in head and "?" not in head, \
        "one screening of the input model prices the dry run's plan and its final run"


def test_the_prune_scope_reaches_every_head_pruning_stage(trained_tiny_bert, tmp_path, monkeypatch):
    scopes, real_make = {}, candidates.make

    def spy(state, name, kind, settings, parent, work=0.0):
        if kind == "prune" and "heads" in settings:
            scopes[name] = settings_for(PruneConfig, state.config, settings).scope
        return real_make(state, name, kind, settings, parent, work)

    monkeypatch.setattr(candidates, "make", spy)
    logs = []
    search(quick(trained_tiny_bert, tmp_path, student_layers=[1], prune_scope="global"), tmp_path / "winner",
           dry_run=True, log=logs.append)
    assert scopes == {"student1-prune25": "global", "student1-prune50": "global"}
    assert any("student1-prune25 (prune)" in line for line in logs)


def test_a_late_measurement_failure_keeps_the_winner_and_marks_what_failed(trained_tiny_bert, tmp_path,
                                                                           monkeypatch):
    import eval.memory
    import eval.profile
    from compress.core.errors import CompressError

    def no_memory(*args, **kwargs):
        raise CompressError("memory probe failed: simulated")

    def no_profile(*args, **kwargs):
        raise RuntimeError("profiler broke")

    monkeypatch.setattr(eval.memory, "measure_memory", no_memory)
    monkeypatch.setattr(eval.profile, "profile_on_text", no_profile)
    summary = search(quick(trained_tiny_bert, tmp_path, student_layers=[0], prune_ratios=[0], vocabulary=False,
                           embedding_bits=[8], max_accuracy_drop=100, memory=True), tmp_path / "winner",
                     log=lambda _: None)
    assert (tmp_path / "winner" / "model.onnx").is_file() and summary["output"] == str(tmp_path / "winner")
    assert summary["winner_profile_failed"] == "RuntimeError: profiler broke"
    record = json.loads((tmp_path / "work" / "final-bench.json").read_text())
    assert all(v["memory_failed"] == "memory probe failed: simulated" for v in record["variants"])
    assert "The winner's profile failed" in (tmp_path / "report" / "README.md").read_text()
    assert_the_card_reports_the_winner(summary["winner"], tmp_path / "winner")


def assert_the_card_reports_the_winner(winner, directory):
    """Its test drop with the paired interval, speed, size and machine, as the final run measured them."""
    from huggingface_hub import ModelCard

    card = ModelCard.load(directory / "README.md")
    results = {r.dataset_split: r.metric_value for r in card.data.eval_results}
    assert results == {"validation": round(winner["validation_score"], 2), "test": round(winner["test_score"], 2)}
    low, high = winner["test_interval_points"]
    assert f"95% paired interval [{low:+.2f}, {high:+.2f}]" in card.text
    assert f"| speed-up, batch 1 x 128 tokens (p50) | {winner['speedup_b1xl128']:.2f}x |" in card.text
    assert f"({winner['size_ratio']:.2f}x smaller)" in card.text and "Machine: " in card.text
    assert card.text.startswith(f"\n# {directory.name}")
