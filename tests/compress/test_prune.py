"""Stage `prune`: requested counts per layer and globally, exact reloads through plain transformers and
load_classifier, importance that finds a useless head, layer dropping, recovery with distillation, ONNX
export with fused attention and quantization of a pruned model, and bad input."""

from __future__ import annotations

import dataclasses
import inspect
import json
import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F

from compress.core.anatomy import keep_layers, prune_heads, prune_neurons
from compress.core.batching import featurize
from compress.core.data import LabelSpace, load_split
from compress.core.errors import CompressError
from compress.core.importance import importance
from compress.core.inference import loader, model_inputs
from compress.core.losses import DistillLoss
from compress.core.models import load_classifier, load_tokenizer
from compress.engine.cli import main
from compress.stages.export import ExportConfig, export
from compress.stages.prune import PruneConfig, Schedule, prune, structure
from compress.stages.quantize import QuantizeConfig, quantize
from tests.conftest import cut_bert

os.environ.setdefault("HF_HUB_OFFLINE", "1")
SMALL = ["--max-train-examples", "160", "--max-eval-examples", "96", "--max-length", "48", "--batch-size", "16",
         "--importance-batches", "4"]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """The 2-layer MiniLM cut: 12 heads and 1536 FFN neurons per layer, hidden size 384."""
    return cut_bert(tmp_path_factory.mktemp("prune_base"), layers=2)


@pytest.fixture(scope="module")
def batches(base):
    """Four labelled batches of real SST-2 training sentences."""
    data = load_split("sst2", "train").sample(64, seed=1)
    features = featurize(load_tokenizer(str(base)), data, LabelSpace.from_id2label({0: "negative", 1: "positive"}), 48)
    return list(loader(features, 0, 16))


@pytest.fixture(scope="module")
def sentences(base):
    texts = load_split("sst2", "dev").texts[:12]
    return dict(load_tokenizer(str(base))(texts, padding=True, truncation=True, max_length=48, return_tensors="pt"))


def settings(base, **kwargs) -> PruneConfig:
    return PruneConfig(model=str(base), **kwargs)


def pruned_once(base, batches, **kwargs):
    model = load_classifier(base)
    Schedule(settings(base, **kwargs), model).apply(model, importance(model, "taylor", batches), 1)
    return model.eval()


def logits(model, inputs) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(**inputs).logits


def assert_consistent(model):
    for layer in model.bert.encoder.layer:
        attention = layer.attention.self
        assert attention.num_attention_heads * attention.attention_head_size == attention.all_head_size
        assert attention.attention_head_size == model.config.hidden_size // model.config.num_attention_heads
        assert attention.query.out_features == attention.key.out_features == attention.value.out_features
        assert attention.query.out_features == attention.all_head_size == layer.attention.output.dense.in_features
        assert layer.intermediate.dense.out_features == layer.output.dense.in_features == model.config.intermediate_size
        assert layer.output.dense.out_features == model.config.hidden_size == 384


def test_layer_scope_removes_the_same_share_in_every_layer(base, batches):
    model = pruned_once(base, batches, head_ratio=0.5, ffn_ratio=0.25)
    shape = structure(model)
    assert shape["heads_kept"] == [6, 6] and shape["ffn_neurons_kept"] == [1152, 1152]
    assert {layer: len(heads) for layer, heads in model.config.pruned_heads.items()} == {0: 6, 1: 6}
    assert model.config.num_attention_heads == 12, "transformers rebuilds from the unpruned count"
    assert_consistent(model)
    counted = pruned_once(base, batches, heads=5, ffn_neurons=512)
    assert structure(counted)["heads_kept"] == [10, 9] and structure(counted)["ffn_neurons_kept"] == [1280, 1280]


def test_global_scope_ranks_all_heads_together_and_keeps_one_per_layer(base, batches):
    model = pruned_once(base, batches, scope="global", heads=14, ffn_neurons=501)
    shape = structure(model)
    assert sum(shape["heads_kept"]) == 10 and min(shape["heads_kept"]) >= 1
    assert shape["ffn_neurons_kept"] == [1286, 1286], "501 neurons over 2 layers round to 250 a layer"
    assert_consistent(model)
    assert structure(pruned_once(base, batches, scope="global", heads=22))["heads_kept"] == [1, 1]


def pruned_checkpoint(source, out):
    """Different head counts per layer (pruned in two rounds) and a narrower FFN, saved like the stage saves it."""
    model = load_classifier(source)
    prune_heads(model, {0: [1, 3, 5, 7, 9, 11, 0, 2], 1: [3]})
    prune_heads(model, {1: [0]})
    prune_neurons(model, [range(0, 1536, 3)] * 2)
    model.save_pretrained(out)
    load_tokenizer(str(source)).save_pretrained(out)
    return model.eval(), out


@pytest.fixture(scope="module")
def pruned(base, tmp_path_factory):
    return pruned_checkpoint(base, tmp_path_factory.mktemp("pruned") / "model")


def test_pruned_checkpoint_reloads_exactly_through_both_loaders(pruned, sentences):
    """compress's loader on every version; plain transformers where it still reads config.pruned_heads (4.57)."""
    from transformers import AutoModelForSequenceClassification, PreTrainedModel

    model, out = pruned
    assert structure(model)["heads_kept"] == [4, 10] and model.config.intermediate_size == 1024
    assert {k: sorted(v) for k, v in model.config.pruned_heads.items()} == {0: [0, 1, 2, 3, 5, 7, 9, 11], 1: [0, 3]}
    expected = logits(model, sentences)
    loaders = [load_classifier] + ([AutoModelForSequenceClassification.from_pretrained]
                                   if hasattr(PreTrainedModel, "prune_heads") else [])
    for reloaded in (load(out) for load in loaders):
        assert structure(reloaded) == structure(model)
        assert_consistent(reloaded)
        assert (logits(reloaded, sentences) - expected).abs().max().item() == 0.0


@pytest.mark.parametrize("method", ["taylor", "magnitude"])
def test_a_useless_head_scores_lowest_and_goes_first(base, batches, method):
    model = load_classifier(base)
    layer, head = model.bert.encoder.layer[1], 4
    rows = slice(head * 32, (head + 1) * 32)
    with torch.no_grad():
        for projection in (layer.attention.self.query, layer.attention.self.key, layer.attention.self.value):
            projection.weight[rows] = 0
        layer.attention.output.dense.weight[:, rows] = 0
    scores = importance(model, method, batches)
    assert scores.heads[1][head] == 0
    assert all(s.min() > 0 for s in (scores.heads[0], scores.heads[1][torch.arange(12) != head]))
    assert all(s.min() > 0 for s in scores.neurons) and scores.layers.min() > 0
    Schedule(settings(base, scope="global", heads=1), model).apply(model, scores, 1)
    assert model.config.pruned_heads == {1: [head]}


def test_taylor_head_score_is_the_loss_gradient_of_a_head_mask(base, batches):
    model = load_classifier(base, attn_implementation="eager").eval()
    if "head_mask" not in inspect.signature(model.forward).parameters:
        pytest.skip("transformers 5 has no head_mask to check the scores against")
    mask = torch.ones(2, 12, requires_grad=True)
    expected = torch.zeros(2, 12)
    for batch in batches[:2]:
        mask.grad = None
        F.cross_entropy(model(**model_inputs(batch, model), head_mask=mask).logits, batch["labels"]).backward()
        expected += mask.grad.abs()
    # The weight gradients these passes left behind must not leak into the scores.
    scores = importance(model, "taylor", batches[:2])
    torch.testing.assert_close(torch.stack(scores.heads), expected, rtol=1e-3, atol=1e-7)


def test_dropping_layers_renumbers_pruned_heads_and_reloads_exactly(base, batches, sentences, tmp_path):
    model = load_classifier(base)
    prune_heads(model, {0: [5], 1: [2, 7]})
    keep_layers(model, [1])
    assert model.config.num_hidden_layers == 1 and model.config.pruned_heads == {0: [2, 7]}
    model.save_pretrained(tmp_path / "one")
    assert (logits(load_classifier(tmp_path / "one"), sentences) - logits(model, sentences)).abs().max().item() == 0

    model = pruned_once(base, batches, layers_to_drop=1, head_ratio=0.25)
    assert model.config.num_hidden_layers == len(model.bert.encoder.layer) == 1
    assert structure(model)["heads_kept"] == [9] and list(model.config.pruned_heads) == [0]
    model.save_pretrained(tmp_path / "dropped")
    assert (logits(load_classifier(tmp_path / "dropped"), sentences) - logits(model, sentences)).abs().max() == 0


@pytest.fixture(scope="module")
def recovered(base, tmp_path_factory):
    out = tmp_path_factory.mktemp("recovered") / "model"
    assert main(["prune", "--model", str(base), "--head-ratio", "0.5", "--ffn-ratio", "0.5", "--steps", "2",
                 "--max-steps", "2", "--distill", *SMALL, "-o", str(out)]) == 0
    return out


def test_iterative_pruning_with_distilled_recovery_records_everything(recovered, base):
    manifest = json.loads((recovered / "manifest.json").read_text())
    assert manifest["stage"] == "prune" and manifest["inputs"]["model"]["path"] == os.path.relpath(base)
    assert manifest["inputs"]["model"]["sha256"]
    metrics = json.loads((recovered / "metrics.json").read_text())
    assert [s["heads_kept"] for s in metrics["schedule"]] == [[9, 9], [6, 6]]
    assert [s["ffn_neurons_kept"] for s in metrics["schedule"]] == [[1152, 1152], [768, 768]]
    assert all(s["recovery"]["steps"] == 2 and {"ce", "kd"} <= set(s["recovery"]["history"][-1])
               for s in metrics["schedule"])
    assert metrics["teacher"] == str(base) and metrics["layers_kept"] == [0, 1]
    assert metrics["reload_max_abs_diff"] == 0.0
    assert metrics["parameters_after"] < metrics["parameters_before"]
    assert all(metrics[k]["n"] == 96 for k in ("eval_before", "eval_pruned", "eval"))
    reloaded = load_classifier(recovered)
    assert structure(reloaded)["heads_kept"] == metrics["heads_kept"] == [6, 6]
    assert structure(reloaded)["parameters"] == metrics["parameters_after"]
    assert_consistent(reloaded)


def test_recovery_off_and_magnitude_importance(base, tmp_path):
    manifest = prune(settings(base, importance="magnitude", heads=3, recovery_epochs=0, max_train_examples=32,
                              max_eval_examples=32, max_length=32), tmp_path / "out")
    metrics = manifest["metrics"]
    assert "recovery" not in metrics["schedule"][0] and metrics["eval"] == metrics["eval_pruned"]
    assert sum(metrics["heads_kept"]) == 21 and metrics["teacher"] is None


def test_distils_from_another_teacher_and_rejects_one_with_other_labels(base, tmp_path):
    quick = dict(heads=2, max_steps=1, max_train_examples=32, max_eval_examples=32, max_length=32, batch_size=16,
                 importance_batches=1)
    teacher = cut_bert(tmp_path / "teacher", layers=1, seed=2)
    metrics = prune(settings(base, teacher=str(teacher), **quick), tmp_path / "out")["metrics"]
    assert metrics["teacher"] == str(teacher) and "kd" in metrics["schedule"][0]["recovery"]["history"][-1]
    other = cut_bert(tmp_path / "other", layers=1, labels=LabelSpace(("0", "1", "2"), ("a", "b", "c")))
    with pytest.raises(CompressError, match="teacher .* predicts labels a, b, c, the model negative, positive"):
        prune(settings(base, teacher=str(other), **quick), tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def test_augmented_recovery_trains_on_teacher_labelled_copies(base, tmp_path):
    config = settings(base, distill=True, augment=1, heads=2, recovery_epochs=1, max_train_examples=32,
                      max_eval_examples=32, max_length=32, batch_size=16, importance_batches=1)
    metrics = prune(config, tmp_path / "out")["metrics"]
    assert metrics["train_examples"] == 32 and metrics["augmented_examples"] == 32
    assert metrics["schedule"][0]["recovery"]["steps"] == 4, "one epoch covers the 32 rows and their 32 copies"
    plain = prune(dataclasses.replace(config, augment=0), tmp_path / "plain")["metrics"]
    assert metrics["pruned_heads"] == plain["pruned_heads"], "importance reads the task's own rows, not the copies"


def test_hidden_state_recovery_matches_the_unpruned_model_layer_by_layer(base, tmp_path):
    config = settings(base, distill=True, hidden_weight=1.0, heads=2, layers_to_drop=1, max_steps=2,
                      max_train_examples=32, max_eval_examples=32, max_length=32, batch_size=16, importance_batches=1)
    metrics = prune(config, tmp_path / "out")["metrics"]
    assert {"ce", "kd", "hidden"} <= set(metrics["schedule"][0]["recovery"]["history"][-1])
    assert len(metrics["layers_kept"]) == 1 and metrics["reload_max_abs_diff"] == 0.0


def test_hidden_pairs_follow_the_input_layers_that_stay(base, sentences):
    unpruned = load_classifier(base).eval()
    kept = keep_layers(load_classifier(base), [0]).eval()  # the input's layer 0, unchanged
    batch = {**sentences, "idx": torch.arange(12), "labels": torch.zeros(12, dtype=torch.long)}
    right = DistillLoss({"hidden": 1.0}, 1.0, unpruned, [0])(kept, batch)[1]["hidden"]
    wrong = DistillLoss({"hidden": 1.0}, 1.0, unpruned, [1])(kept, batch)[1]["hidden"]
    assert right == pytest.approx(0, abs=1e-10) and wrong > 1e-3


def test_pruned_model_exports_with_fused_attention_and_quantizes(trained_tiny_bert, tmp_path):
    model, checkpoint = pruned_checkpoint(trained_tiny_bert, tmp_path / "pruned")
    metrics = export(ExportConfig(model=str(checkpoint), optimize=True, max_eval_examples=32, max_length=48,
                                  parity_batch_sizes=[1, 16]), tmp_path / "onnx")["metrics"]
    assert metrics["parity"]["exported"]["max_abs_diff"] < 1e-4
    assert metrics["parity"]["optimized"]["max_abs_diff"] < 1e-4
    assert metrics["fused_operators"]["Attention"] + metrics["fused_operators"]["MultiHeadAttention"] == 2
    graph = onnx.load(str(tmp_path / "onnx" / "model.onnx")).graph
    heads = [a.i for n in graph.node if n.op_type in ("Attention", "MultiHeadAttention") for a in n.attribute
             if a.name == "num_heads"]
    assert heads == [4, 10], "each fused attention keeps its own layer's head count"
    quantized = quantize(QuantizeConfig(model=str(tmp_path / "onnx"), max_eval_examples=32, max_length=48),
                         tmp_path / "int8")["metrics"]
    assert quantized["targets_by_type"]["Attention"] == 2 and quantized["targets_by_type"]["Gather"] > 0
    texts = load_split("sst2", "dev").sample(100, seed=3).texts
    tokenizer = load_tokenizer(str(checkpoint))
    expected = logits(model, dict(tokenizer(texts, padding=True, truncation=True, max_length=48,
                                            return_tensors="pt"))).argmax(-1).numpy()
    sess = ort.InferenceSession(str(tmp_path / "int8" / "model.onnx"), providers=["CPUExecutionProvider"])
    int8 = np.array([sess.run(["logits"], dict(tokenizer([t], truncation=True, max_length=48, return_tensors="np")))[0]
                     .argmax(-1)[0] for t in texts])
    assert len(set(expected)) == 2, "the pruned model must tell the classes apart for agreement to mean much"
    assert np.mean(int8 == expected) >= 0.9, "the int8 graph predicts what the pruned PyTorch model predicts"


def _cli(*args) -> int:
    return main(["prune", *SMALL, "--recovery-epochs", "0", *map(str, args)])


@pytest.mark.parametrize("args", [
    ("--head-ratio", 1.5),
    ("--head-ratio", -0.1),
    ("--ffn-ratio", 1),
    ("--heads", -1),
    ("--head-ratio", 0.5, "--heads", 3),
    ("--layers-to-drop", 2),
    ("--heads", 23),
    ("--ffn-neurons", 3072),
    ("--steps", 0, "--heads", 1),
    ("--kd-weight", -1, "--heads", 1),
    ("--distill", "--heads", 1),
    ("--heads", 1, "--augment", 1),
    ("--heads", 1, "--unlabelled", "texts.tsv"),
    ("--heads", 1, "--hidden-weight", 1),
    ("--heads", 1, "--distill", "--hidden-weight", -1),
    (),
])
def test_bad_input_is_one_line_and_writes_nothing(base, tmp_path, capsys, args):
    out = tmp_path / "out" / "pruned"
    assert _cli("--model", base, *args, "-o", out) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("compress prune: error:") and "\n" not in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_missing_model_and_existing_output(tmp_path, capsys):
    assert _cli("--model", tmp_path / "nope", "--heads", 1, "-o", tmp_path / "a") == 2
    assert "not found" in capsys.readouterr().err
    assert _cli("--heads", 1, "-o", tmp_path / "b") == 2
    assert "--model" in capsys.readouterr().err
    with pytest.raises(CompressError, match="not found"):
        prune(PruneConfig(model=str(tmp_path / "nope"), heads=1), tmp_path / "c")
    (tmp_path / "d").mkdir()
    assert _cli("--model", tmp_path / "nope", "--heads", 1, "-o", tmp_path / "d") == 2
    assert "already exists" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]


def test_vocabulary_pruning_alone_needs_no_recovery_and_exports_with_parity(base, tmp_path):
    metrics = prune(settings(base, vocabulary=True, max_train_examples=200, max_eval_examples=48, max_length=48),
                    tmp_path / "vocab")["metrics"]
    assert metrics["schedule"] == [] and metrics["heads_kept"] == [12, 12]
    assert metrics["vocabulary_after"] < metrics["vocabulary_before"] / 4
    assert metrics["parameters_after"] < metrics["parameters_before"] - 300 * (metrics["vocabulary_before"] -
                                                                               metrics["vocabulary_after"])
    reloaded = load_classifier(tmp_path / "vocab")
    assert reloaded.config.vocab_size == len(load_tokenizer(str(tmp_path / "vocab"))) == metrics["vocabulary_after"]
    exported = export(ExportConfig(model=str(tmp_path / "vocab"), max_eval_examples=32, max_length=48,
                                   parity_batch_sizes=[1, 16]), tmp_path / "onnx")["metrics"]
    assert exported["parity"]["exported"]["max_abs_diff"] < 1e-4
