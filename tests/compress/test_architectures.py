"""Every supported architecture through every stage: a tiny random model of each (BERT, DistilBERT, RoBERTa,
XLM-RoBERTa, ELECTRA), fine-tuned on real data, distilled, pruned (heads, FFN neurons, a layer and the vocabulary),
exported, quantized, benched and searched; each output reloads in plain transformers or ONNX Runtime and agrees
with the model it came from. Unsupported architectures and mismatched tokenizers are one-line errors."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from compress.core.anatomy import head_counts, input_names
from compress.core.data import load_split
from compress.core.errors import CompressError
from compress.core.models import load_classifier, load_tokenizer
from compress.engine.cli import main
from compress.engine.search import SearchConfig, search
from compress.stages.distill import DistillConfig, distill
from compress.stages.export import ExportConfig, export
from compress.stages.finetune import FinetuneConfig, finetune
from compress.stages.prune import PruneConfig, prune
from compress.stages.quantize import QuantizeConfig, quantize
from eval.bench import BenchConfig, bench
from tests.architectures import ARCHITECTURES, SIZE, tiny_classifier

os.environ.setdefault("HF_HUB_OFFLINE", "1")
SMALL = dict(max_train_examples=240, max_eval_examples=48, max_length=48, batch_size=16)
LABELS = {0: "negative", 1: "positive"}


@pytest.fixture(scope="module")
def intents(data_dir, tmp_path_factory) -> Path:
    """A user's own CSV of many classes: 30 real BANKING77 requests from each of its first 8 intents."""
    rows, seen = [], {}
    with open(data_dir / "banking77" / "train.tsv", newline="") as handle:
        for text, label in csv.reader(handle, delimiter="\t"):
            if label != "label" and len(seen) <= 8 and seen.setdefault(label, 0) < 30:
                seen[label] += 1
                rows.append((text, label))
    path = tmp_path_factory.mktemp("intents") / "intents.csv"
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows([("text", "label"), *[r for r in rows if seen[r[1]] == 30][:240]])
    return path


# Each architecture learns a different kind of data: single sentences, many classes, sentence pairs.
DATA = {"bert": "sst2", "distilbert": "intents", "roberta": "rte", "xlm-roberta": "sst2", "electra": "rte"}


@pytest.fixture(scope="module", params=ARCHITECTURES)
def teacher(request, intents, tmp_path_factory) -> tuple[str, Path]:
    kind = request.param
    tmp = tmp_path_factory.mktemp(kind)
    base = tiny_classifier(kind, tmp / "base", LABELS)
    data = str(intents) if DATA[kind] == "intents" else DATA[kind]
    finetune(FinetuneConfig(model=str(base), data=data, epochs=2, learning_rate=1e-3, **SMALL), tmp / "teacher")
    return kind, tmp / "teacher"


def sentences(directory: Path, count: int = 6) -> dict[str, np.ndarray]:
    """Real sentences (pairs for a pair task) tokenized by `directory`'s tokenizer, with the inputs its graph or
    model takes."""
    settings = json.loads((directory / "manifest.json").read_text())["settings"]
    data = settings["data"]
    if data.endswith(".csv"):
        texts, pairs = [line.split(",")[0] for line in Path(data).read_text().splitlines()[1:count + 1]], None
    else:
        split = load_split(data, "train")
        texts, pairs = split.texts[:count], split.pairs[:count] if split.pairs else None
    encoded = load_tokenizer(str(directory))(texts, pairs, padding=True, truncation=True, max_length=48,
                                             return_tensors="np")
    return {k: v for k, v in encoded.items() if k in input_names(json.loads((directory / "config.json").read_text()))}


def plain_logits(directory: Path, inputs: dict[str, np.ndarray]) -> np.ndarray:
    """Logits of the checkpoint reloaded by transformers alone, as a user without compress would."""
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(directory).eval()
    with torch.no_grad():
        return model(**{k: torch.from_numpy(v) for k, v in inputs.items()}).logits.numpy()


def reloaded_logits(directory: Path, inputs: dict[str, np.ndarray]) -> np.ndarray:
    """Logits of the checkpoint reloaded as the README says: by plain transformers, except a head-pruned one on
    transformers 5 (which no longer reads config.pruned_heads and refuses its shapes), by compress's loader."""
    from transformers import PreTrainedModel

    if hasattr(PreTrainedModel, "prune_heads") or not json.loads((directory / "config.json").read_text()).get(
            "pruned_heads"):
        return plain_logits(directory, inputs)
    with pytest.raises(RuntimeError, match="ignore_mismatched_sizes"):
        plain_logits(directory, inputs)
    with torch.no_grad():
        return load_classifier(directory).eval()(**{k: torch.from_numpy(v) for k, v in inputs.items()}).logits.numpy()


def onnx_logits(directory: Path, inputs: dict[str, np.ndarray]) -> np.ndarray:
    sess = ort.InferenceSession(str(directory / "model.onnx"), providers=["CPUExecutionProvider"])
    return sess.run(["logits"], {i.name: inputs[i.name] for i in sess.get_inputs()})[0]


@pytest.fixture(scope="module")
def student(teacher) -> tuple[str, Path]:
    kind, path = teacher
    out = path.parent / "student"
    distill(DistillConfig(teacher=str(path), student_layers=1, epochs=1, hidden_weight=1.0, relation_weight=1.0,
                          **SMALL), out)
    return kind, out


@pytest.fixture(scope="module")
def pruned(teacher) -> tuple[str, Path]:
    kind, path = teacher
    out = path.parent / "pruned"
    prune(PruneConfig(model=str(path), head_ratio=0.5, ffn_ratio=0.5, layers_to_drop=1, vocabulary=True,
                      recovery_epochs=0.5, distill=True, **SMALL), out)
    return kind, out


@pytest.fixture(scope="module")
def exported(pruned) -> tuple[str, Path]:
    kind, path = pruned
    export(ExportConfig(model=str(path), max_eval_examples=16), path.parent / "onnx")
    return kind, path.parent / "onnx"


def test_finetuning_learns_the_labels_of_its_data_and_reloads_in_plain_transformers(teacher):
    kind, path = teacher
    config = json.loads((path / "config.json").read_text())
    assert config["model_type"] == kind
    assert len(config["id2label"]) == (8 if DATA[kind] == "intents" else 2)
    metrics = json.loads((path / "metrics.json").read_text())
    assert len(metrics["history"]) == 2 and metrics["eval"]["accuracy"] >= 0
    assert plain_logits(path, sentences(path)).shape == (6, len(config["id2label"]))


def test_the_student_keeps_one_teacher_layer_and_reloads_with_the_same_logits(student):
    kind, path = student
    # Each architecture's query/key/value projections were found for the relation term, and it was trained on.
    assert {"hidden", "relation"} <= set(json.loads((path / "metrics.json").read_text())["history"][-1])
    model = load_classifier(path)
    assert model.config.num_hidden_layers == 1 and model.config.model_type == kind
    inputs = sentences(path)
    with torch.no_grad():
        ours = model.eval()(**{k: torch.from_numpy(v) for k, v in inputs.items()}).logits.numpy()
    np.testing.assert_allclose(plain_logits(path, inputs), ours, atol=1e-5)


def test_pruning_heads_neurons_a_layer_and_the_vocabulary_gives_a_plain_smaller_checkpoint(teacher, pruned):
    kind, path = pruned
    model = load_classifier(path)
    before = load_classifier(teacher[1])
    assert model.config.num_hidden_layers == 1
    assert head_counts(model) == [SIZE["heads"] // 2]
    assert model.config.vocab_size < before.config.vocab_size == len(load_tokenizer(str(teacher[1])))
    assert len(load_tokenizer(str(path))) == model.config.vocab_size
    metrics = json.loads((path / "metrics.json").read_text())
    assert metrics["reload_max_abs_diff"] <= 1e-4


def test_export_of_the_pruned_model_matches_the_reloaded_checkpoint_in_onnx_runtime(exported):
    kind, path = exported
    inputs = sentences(path.parent / "pruned")
    np.testing.assert_allclose(onnx_logits(path, inputs), reloaded_logits(path.parent / "pruned", inputs), atol=1e-4)
    graph_inputs = [i.name for i in ort.InferenceSession(str(path / "model.onnx")).get_inputs()]
    assert ("token_type_ids" in graph_inputs) == (kind in ("bert", "electra"))


def test_quantized_model_runs_in_onnx_runtime_close_to_its_float_source(exported):
    kind, path = exported
    out = path.parent / "int8"
    metrics = quantize(QuantizeConfig(model=str(path), max_eval_examples=32), out)["metrics"]
    inputs = sentences(path.parent / "pruned")
    assert onnx_logits(out, inputs).shape == onnx_logits(path, inputs).shape
    assert metrics["model_mb"] < metrics["source_mb"] and metrics["quantized_nodes"] > 0


def test_bench_measures_the_teacher_and_its_compressed_graph(teacher, exported):
    record = bench([str(teacher[1]), str(exported[1])],
                   BenchConfig(max_eval_examples=32, batch_sizes=[1], lengths=[16], real_batch_sizes=[4],
                               real_examples=8, warmup=1, min_runs=3, real_min_runs=1, workload_seconds=0.1,
                               min_time=0.0, threads=1, ort_spinning=False, memory=False), progress=False)
    assert [v["backend"] for v in record["variants"]] == ["pytorch", "onnxruntime"]
    assert all(v["latency"] and v["size"]["file_bytes"] > 0 for v in record["variants"])


# The search reads a model only through the config and the stages: DistilBERT's config names its sizes differently,
# XLM-R's tokenizer is SentencePiece; the BERT search is tests/compress/test_search.py's.
@pytest.mark.parametrize("teacher", ["distilbert", "xlm-roberta"], indirect=True)
def test_a_search_runs_unattended_on_the_architecture(teacher, tmp_path):
    kind, path = teacher
    summary = search(SearchConfig(model=str(path), workdir=str(tmp_path / "work"), report=str(tmp_path / "report"),
                                  student_layers=[1], prune_ratios=[0.5], hidden_fractions=[0.5], distill_epochs=1,
                                  recovery_epochs=[0.5], embedding_bits=[8],
                                  max_accuracy_drop=100, scorecard=False, memory=False, threads=1, min_train_steps=0,
                                  small_data=0,
                                  ort_spinning=False, screen_seconds=0.05, final_seconds=0.05, final_min_runs=3,
                                  max_train_examples=240,
                                  max_eval_examples=48),
                     tmp_path / "winner", log=lambda _: None)
    names = [c["name"] for c in summary["candidates"]]
    assert {"student1", "student1-prune50", f"student1-h{SIZE['hidden'] // 2}", "model-vocab-int8"} <= set(names)
    assert (tmp_path / "winner" / "manifest.json").exists()


def test_an_unsupported_architecture_is_one_line_naming_the_supported_ones(tmp_path, capsys):
    from transformers import GPT2Config, GPT2ForSequenceClassification

    gpt2 = GPT2ForSequenceClassification(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=64))
    gpt2.save_pretrained(tmp_path / "gpt2")
    with pytest.raises(CompressError, match="is a gpt2, which compress does not support; it supports BERT, RoBERTa"):
        load_classifier(tmp_path / "gpt2")
    assert main(["prune", "--model", str(tmp_path / "gpt2"), "--head-ratio", "0.5", "--output",
                 str(tmp_path / "out")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def test_a_tokenizer_larger_than_the_models_vocabulary_is_refused_before_anything_is_written(tmp_path, capsys):
    from transformers import BertConfig, BertForSequenceClassification

    model = tiny_classifier("bert", tmp_path / "model", LABELS)
    config = BertConfig.from_pretrained(model)
    config.vocab_size = 1000
    BertForSequenceClassification(config).save_pretrained(model)
    assert main(["finetune", "--model", str(model), "--max-steps", "1", "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert "has 30522 tokens but the model embeds only 1000" in err.splitlines()[-1] and "Traceback" not in err
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def narrowed(teacher) -> tuple[str, Path]:
    kind, path = teacher
    out = path.parent / "narrowed"
    prune(PruneConfig(model=str(path), hidden_size=SIZE["hidden"] // 2, ffn_ratio=0.5, recovery_epochs=0.5,
                      distill=True, **SMALL), out)
    export(ExportConfig(model=str(out), max_eval_examples=16), path.parent / "narrowed-onnx")
    return kind, out


def test_width_pruning_halves_the_hidden_size_and_reloads_in_transformers_and_onnx_runtime(narrowed):
    kind, path = narrowed
    config = load_classifier(path).config
    assert (config.hidden_size, config.num_attention_heads, config.pruned_heads) == (SIZE["hidden"] // 2,
                                                                                     SIZE["heads"] // 2, {})
    inputs = sentences(path)
    np.testing.assert_allclose(onnx_logits(path.parent / "narrowed-onnx", inputs), plain_logits(path, inputs),
                               atol=1e-4)
    assert json.loads((path / "metrics.json").read_text())["reload_max_abs_diff"] <= 1e-4
