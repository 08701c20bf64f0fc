"""`compress search`: the order of the space, the budget rules, caching across runs and the outputs."""

import dataclasses
import json
from pathlib import Path

import onnxruntime as ort
import pytest

from compress.engine import candidates
from compress.engine import search as search_module
from compress.engine.candidates import Budget, Candidate, Clock, Output, Search, best, pareto
from compress.engine.cli import main
from compress.engine.search import SearchConfig, search, student_budget

# Tiny and fast: no step minimum and no small-data augmentation, which would train the 160 rows for 2,000 steps,
# no spinning, whose turns of at least 500 ms per variant and workload took most of a tiny search's time, and no
# width pruning, which tests/compress/test_architectures.py searches on every architecture, and no memory probe (a
# fresh process per variant; tests/compress/test_search_runs.py checks the search survives its failure).
SMALL = dict(max_train_examples=160, max_eval_examples=48, screen_seconds=0.05, final_seconds=0.05, final_min_runs=3,
             scorecard=False, memory=False, threads=1, min_train_steps=0, small_data=0, ort_spinning=False,
             hidden_fractions=[0.0])


def quick(model, tmp_path, **kwargs) -> SearchConfig:
    return SearchConfig(model=str(model), workdir=str(tmp_path / "work"), report=str(tmp_path / "report"),
                        **{**SMALL, **kwargs})


def job(config: SearchConfig, **facts) -> Search:
    return Search(config, log=lambda _: None, dry_run=False, clock=Clock(config), **facts)


def state(base_accuracy: float, drop: float = 1.0) -> Search:
    return job(SearchConfig(model="m", max_accuracy_drop=drop),
               baseline=Candidate("baseline", "m", "hf", [], score=base_accuracy, latency_ms=20.0))


def test_the_winner_is_the_fastest_candidate_inside_the_budget_not_the_fastest_overall():
    budget = Budget(baseline_score=90.0, max_accuracy_drop=1.0)
    slow_exact = Candidate("a", "a", "onnx", [], score=90.0, latency_ms=10.0)
    edge = Candidate("b", "b", "onnx", [], score=89.0, latency_ms=5.0)
    too_lossy = Candidate("c", "c", "onnx", [], score=88.9, latency_ms=2.0)
    assert best([slow_exact, edge, too_lossy, None], budget) is edge
    assert best([slow_exact, edge, too_lossy], budget.tighter(0.3)) is slow_exact
    assert best([too_lossy], budget) is None
    baseline = Candidate("baseline", "m", "hf", [], score=90.0, latency_ms=20.0)
    assert [c.name for c in pareto([baseline, slow_exact, edge, too_lossy])] == ["c", "b", "a"]


def test_among_equally_fast_candidates_the_smallest_file_wins():
    budget = Budget(baseline_score=90.0, max_accuracy_drop=1.0)
    big = Candidate("big", "big", "onnx", [], score=89.5, latency_ms=4.71, file_mb=27.2)
    small = Candidate("small", "small", "onnx", [], score=89.3, latency_ms=4.80, file_mb=11.0)
    slower_smallest = Candidate("tiny", "tiny", "onnx", [], score=89.6, latency_ms=5.0, file_mb=9.0)
    assert best([big, small, slower_smallest], budget) is small, "4.80 is within 3% of 4.71; 5.0 is not"
    assert best([big, small, slower_smallest], dataclasses.replace(budget, latency_tie=0.0)) is big


def test_with_a_size_ratio_the_winner_is_the_fastest_small_enough_candidate():
    budget = Budget(baseline_score=90.0, max_accuracy_drop=1.0, baseline_mb=90.0)
    fast_big = Candidate("fast", "fast", "onnx", [], score=89.5, latency_ms=2.0, file_mb=15.0)
    slower_small = Candidate("small", "small", "onnx", [], score=89.5, latency_ms=2.4, file_mb=10.0)
    assert best([fast_big, slower_small], budget, sized=True) is fast_big, "the default ratio 1 holds every one"
    eightfold = dataclasses.replace(budget, min_size_ratio=8.0)
    assert best([fast_big, slower_small], eightfold, sized=True) is slower_small, "90 / 8 = 11.25 MB at most"
    assert best([fast_big, slower_small], eightfold) is fast_big, "the high-accuracy point is not held to it"
    assert best([fast_big, slower_small], dataclasses.replace(budget, min_size_ratio=10.0), sized=True) is None


def students_with(monkeypatch, tmp_path, scores: dict[str, float], layers: int = 6, **settings):
    """_students over fake stages: each student's validation score comes from `scores`; returns (names, state)."""
    model = tmp_path / "teacher"
    model.mkdir(parents=True)
    (model / "config.json").write_text(json.dumps({"model_type": "bert", "num_hidden_layers": layers}))
    (model / "model.safetensors").write_bytes(b"")
    s = job(SearchConfig(model=str(model), vocabulary=False, **settings), train_rows=60000,
            baseline=Candidate("baseline", str(model), "hf", [], score=90.0, latency_ms=20.0, layers=layers))
    trained = []

    def stage(state, name, kind, stage_settings, parent, work=0.0):
        trained.append(name)
        return Output(str(tmp_path / name), name)

    def screen(state, candidate):
        candidate.score, candidate.latency_ms = scores[candidate.name], 1.0
        return candidate

    monkeypatch.setattr(candidates, "make", stage)
    monkeypatch.setattr(candidates, "screen", screen)
    monkeypatch.setattr(search_module, "_post_training", lambda state, name, source: [])
    found = search_module._students(s)
    return trained, [c.name for c, _ in found], s


def test_a_student_outside_the_budget_sends_the_search_to_every_deeper_depth(monkeypatch, tmp_path):
    trained, found, state = students_with(monkeypatch, tmp_path, {"student3": 88.0, "student4": 88.5,
                                                                  "student5": 89.5}, student_layers=[3, 2])
    assert trained == ["student3", "student4", "student5"], "deeper until one is inside; never the shallower 2"
    assert found[0] == "student5"


def test_deeper_students_stop_at_the_first_inside_the_budget(monkeypatch, tmp_path):
    trained, _, _ = students_with(monkeypatch, tmp_path, {"student3": 88.0, "student4": 89.2}, student_layers=[3])
    assert trained == ["student3", "student4"]


def test_a_shallower_student_is_skipped_when_the_extrapolated_loss_exceeds_the_budget(monkeypatch, tmp_path):
    # 3 layers lose 0.9 points with 3 removed: 2 layers (4 removed) extrapolate to 1.2 > 1.0.
    trained, _, state = students_with(monkeypatch, tmp_path, {"student3": 89.1}, student_layers=[3, 2])
    assert trained == ["student3"]
    assert state.ledger.skipped == ["student2 (extrapolated loss 1.20 points)"]
    trained, _, _ = students_with(monkeypatch, tmp_path / "b", {"student3": 89.5, "student2": 89.0},
                                  student_layers=[3, 2])
    assert trained == ["student3", "student2"], "0.5 extrapolates to 0.67: inside, so it is trained"


def test_student_budgets_scale_with_the_training_rows():
    config = SearchConfig(model="m", distill_epochs=2, augment=1, min_train_steps=2000, small_data=20000,
                          small_data_augment=3)
    assert student_budget(config, 65349) == (2, 1), "SST-2: 4,085 steps an epoch, two epochs"
    epochs, copies = student_budget(config, 2241)
    assert copies == 3 and epochs == pytest.approx(2000 / 281, abs=0.01), "RTE: 281 steps an epoch"


def test_screening_scores_on_validation_only_and_the_winner_follows_validation(monkeypatch):
    asked = []

    def fake_bench(models, config, progress=True):
        asked.append(config.roles)
        name = models[0]
        validation = {"a": 0.895, "b": 0.880}[name]
        test = {"a": 0.880, "b": 0.900}[name]  # the test role disagrees: it would prefer b
        return {"settings": {"scoring_seconds": 1.0}, "data": {"roles": {"validation": {"rows": 200}}},
                "variants": [{"validation": {"metrics": {"score": validation}},
                              "accuracy": {"metrics": {"score": test}},
                              "latency": [{"workload": "b1xl128", "p50_ms": {"a": 5.0, "b": 2.0}[name]},
                                          {"workload": "real-b32", "seq_per_s": 100.0}],
                              "size": {"file_bytes": 1e6}}]}

    from compress.core import registry

    monkeypatch.setattr(registry, "HARNESS", dataclasses.replace(registry.harness(), bench=fake_bench))
    s = state(90.0)
    a, b = (candidates.screen(s, Candidate(n, n, "onnx", [])) for n in ("a", "b"))
    assert asked == [["validation"], ["validation"]], "screening never scores the test role"
    assert s.clock.seconds_per_scored_row == [0.005, 0.005], "each screening measures the scoring speed"
    assert (a.score, b.score) == (pytest.approx(89.5), pytest.approx(88.0))
    assert best([a, b], s.budget()) is a, "b is faster and better on test, but 2 points down on validation"


@pytest.fixture(scope="module")
def searched(trained_tiny_bert, data_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("search")
    logs = []
    unlabelled = tmp / "unlabelled.tsv"
    unlabelled.write_text("".join(line for line, _ in zip((data_dir / "sst2" / "test.tsv").open(), range(9))))
    # 8-bit embedding tables only: the 4-bit ones are made in tests/compress/test_search_runs.py.
    config = quick(trained_tiny_bert, tmp, student_layers=[1], prune_ratios=[0.5, 0.25], distill_epochs=1,
                   embedding_bits=[8],
                   recovery_epochs=[0.25, 0.5], recovery_hidden_weight=[0.0, 1.0], recovery_augment=[0, 1],
                   max_accuracy_drop=100, unlabelled=[str(unlabelled)])
    return config, search(config, tmp / "winner", log=logs.append), logs, tmp


def test_distils_then_prunes_the_fastest_student_and_measures_the_front_side_by_side(searched):
    config, summary, logs, tmp = searched
    names = [c["name"] for c in summary["candidates"]]
    assert names.index("student1") > names.index("model-vocab-int8")
    assert names.index("student1-prune50") > names.index("student1-vocab-int8")
    assert {"student1-prune50-int8", "student1-prune50-vocab-int8"} <= set(names)
    assert names.index("student1-prune50") > names.index("student1-prune25-vocab-int8"), "mildest ratio first"
    record = json.loads((tmp / "work" / "final-bench.json").read_text())
    measured = [v["name"] for v in record["variants"]]
    assert measured[0] == "baseline" and set(summary["front"]) <= set(measured)
    assert summary["winner"]["name"] in measured
    assert {"real-b32", "real-b32-bucketed", "b1xl128"} <= {e["workload"] for e in record["variants"][1]["latency"]}


def test_each_pruning_ratio_continues_from_the_milder_one(searched):
    _, summary, _, _ = searched
    paths = {c["name"]: c["path"] for c in summary["candidates"]}
    manifests = {n: json.loads((Path(paths[n]) / "manifest.json").read_text())
                 for n in ("student1-prune25", "student1-prune50")}
    parent = {n: Path(m["inputs"]["model"]["path"]).resolve() for n, m in manifests.items()}
    assert parent["student1-prune25"] == Path(paths["student1"]).resolve()
    assert parent["student1-prune50"] == Path(paths["student1-prune25"]).resolve()
    assert manifests["student1-prune25"]["metrics"]["heads_kept"] == [9]
    assert manifests["student1-prune50"]["metrics"]["heads_kept"] == [6], "half of the student's 12 heads in all"
    assert manifests["student1-prune50"]["metrics"]["ffn_neurons_kept"] == [768]
    recovery = manifests["student1-prune50"]["settings"]
    assert (recovery["ce_weight"], recovery["kd_weight"], recovery["hidden_weight"]) == (0.0, 1.0, 1.0)
    assert (recovery["recovery_epochs"], recovery["augment"]) == (0.5, 1), "the per-ratio recipe, mildest first"
    mild = manifests["student1-prune25"]["settings"]
    assert (mild["recovery_epochs"], mild["hidden_weight"], mild["augment"]) == (0.25, 0.0, 0)
    assert "hidden" in manifests["student1-prune50"]["metrics"]["schedule"][0]["recovery"]["history"][-1]


def test_students_and_recoveries_also_train_on_the_unlabelled_text(searched):
    _, summary, _, _ = searched
    paths = {c["name"]: c["path"] for c in summary["candidates"]}
    for name in ("student1", "student1-prune25", "student1-prune50"):
        metrics = json.loads((Path(paths[name]) / "manifest.json").read_text())["metrics"]
        assert metrics["unlabelled_examples"] == 8, name


def test_the_winner_loads_in_plain_onnxruntime_and_the_report_lists_every_candidate(searched):
    config, summary, logs, tmp = searched
    winner = tmp / "winner"
    assert (winner / "model.onnx").exists() and (winner / "manifest.json").exists()
    ort.InferenceSession(str(winner / "model.onnx"), providers=["CPUExecutionProvider"])
    readme = (tmp / "report" / "README.md").read_text()
    assert "Search outcome" in readme and all(c["name"] in readme for c in summary["candidates"])
    assert "Where the winner's time goes" in readme and summary["winner_profile"]["shape"] == "b1xl128"
    assert "Compute floor at b1xl128" in readme and summary["winner_profile"]["floor"]["floor_ms"] > 0
    assert json.loads((tmp / "report" / "search.json").read_text())["winner"]["name"] == summary["winner"]["name"]


def test_a_rerun_finds_every_stage_cached(searched):
    config, summary, _, tmp = searched
    logs = []
    search(config, tmp / "winner-2", dry_run=True, log=logs.append)
    made = {c["path"] for c in summary["candidates"]} - {config.model}
    assert logs and not any("would run" in line for line in logs)
    assert made <= {line.rsplit(" ", 1)[-1] for line in logs}
    assert not (tmp / "winner-2").exists()


def test_bad_settings_are_one_line_errors(tmp_path, capsys):
    assert main(["search", "-o", str(tmp_path / "w")]) == 2
    assert "--model" in capsys.readouterr().err
    assert main(["search", "--model", str(tmp_path / "nope"), "-o", str(tmp_path / "w")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["search", "--model", "x", "--prune-ratios", "1.5", "-o", str(tmp_path / "w")]) == 2
    assert "--prune-ratios" in capsys.readouterr().err
    assert main(["search", "--model", "x", "--latency-tie", "-0.1", "-o", str(tmp_path / "w")]) == 2
    assert "--latency-tie" in capsys.readouterr().err
    assert main(["search", "--model", "x", "--min-size-ratio", "0.5", "-o", str(tmp_path / "w")]) == 2
    assert "--min-size-ratio" in capsys.readouterr().err
    assert main(["search", "--model", "x", "--recovery-hidden-weight", "-1", "-o", str(tmp_path / "w")]) == 2
    assert "--recovery-hidden-weight" in capsys.readouterr().err
    assert main(["search", "--model", "x", "--prune-ratios", "0.25", "0.5", "--recovery-epochs", "1", "2", "3",
                 "-o", str(tmp_path / "w")]) == 2
    assert "one value or one per pruning ratio (2), got 3" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()




def test_without_the_memory_probe_the_final_run_skips_it_and_the_plan_reserves_less_time():
    measured, skipped = (SearchConfig(model="m", memory=memory) for memory in (True, False))
    clocks = Clock(measured), Clock(skipped)
    for clock in clocks:
        clock.seconds_per_scored_row = [0.002]
    assert candidates.side_by_side(measured).memory and not candidates.side_by_side(skipped).memory
    assert clocks[0].final_minutes() - clocks[1].final_minutes() == pytest.approx(9 * candidates.MEMORY_SECONDS / 60)


def test_the_final_run_scores_validation_test_and_a_perturbed_test_sample_per_perturbation_and_rate():
    assert candidates.side_by_side(SearchConfig(model="m", robustness_rows=300)).perturbation_rows == 300
    assert candidates.final_scored_rows(SearchConfig(model="m"), 1000, 3080) == 1000 + 3080 + 2 * 2 * 500
    assert candidates.final_scored_rows(SearchConfig(model="m"), 300, 400) == 300 + 400 * (1 + 2 * 2), \
        "a test role smaller than the sample is perturbed whole"
    assert candidates.final_scored_rows(SearchConfig(model="m", scorecard=False), 1000, 3080) == 1000 + 3080


def test_the_clock_holds_back_the_final_run_and_prices_training_at_the_measured_speed(monkeypatch):
    config = SearchConfig(model="m", time_budget=30, final_seconds=2.0, memory=False)
    clock = Clock(config, started=1000.0, scored_rows=1000)
    monkeypatch.setattr(candidates.time, "time", lambda: 1000.0 + 600)
    assert clock.minutes() == 10 and clock.minutes_left() == 20, "nothing screened yet: no final run to price"
    clock.seconds_per_scored_row = [0.003, 0.005, 0.004]
    # baseline + 8 candidates, each 4 workloads of at most 2 + 2 s with a 100 ms pause per 500 ms turn, 1000 rows
    # scored at the median 4 ms and the setup: 9 x (19.2 + 4 + 15) s = 5.73 min
    assert clock.final_minutes() == pytest.approx(9 * 38.2 / 60) and clock.minutes_left() == pytest.approx(
        20 - 9 * 38.2 / 60)
    with_peer = Clock(dataclasses.replace(config, peer=["optimum"]), scored_rows=1000)
    with_peer.seconds_per_scored_row = clock.seconds_per_scored_row
    assert with_peer.final_minutes() == pytest.approx(10 * 38.2 / 60), "the peer is one more variant in the final run"
    still = Clock(dataclasses.replace(config, ort_spinning=False), scored_rows=1000)
    still.seconds_per_scored_row = clock.seconds_per_scored_row
    assert still.final_minutes() == pytest.approx(9 * 35.0 / 60), "without spinning no pause follows a turn"
    assert clock.training_minutes(180000) == 0.0, "no speed measured yet"
    clock.seconds_per_layer_row = 1e-3
    assert clock.training_minutes(180000) == pytest.approx(3.0)
    assert clock.stamp() == f"[10.0 min, {20 - 9 * 38.2 / 60:.1f} min left]"
