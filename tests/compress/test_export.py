"""compress.stages.export: the ONNX graph matches PyTorch on real SST-2 text, has dynamic axes, loads in optimum,
fuses when optimized, converts to float16, and bad input or broken parity writes nothing."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from compress.core.anatomy import prune_heads
from compress.core.data import load_split
from compress.core.errors import CompressError
from compress.core.models import load_classifier, load_tokenizer
from compress.engine.cli import main
from compress.stages.export import ExportConfig, export
from eval.served import default_session_operators

os.environ.setdefault("HF_HUB_OFFLINE", "1")
PARITY = ["--max-eval-examples", "40", "--parity-batch-sizes", "1", "16"]


@pytest.fixture(scope="module")
def onnx_dir(tiny_bert, tmp_path_factory):
    """The tiny BERT exported through the command line."""
    out = tmp_path_factory.mktemp("export") / "onnx"
    assert main(["export", "--model", str(tiny_bert), "-o", str(out), *PARITY]) == 0
    return out


@pytest.fixture(scope="module")
def optimized_fp16_dir(tiny_bert, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "fp16"
    export(ExportConfig(model=str(tiny_bert), max_eval_examples=40, parity_batch_sizes=[1, 16], optimize=True,
                        fp16=True), out)
    return out


def dev_batch(tiny_bert, size, length):
    """`size` real dev sentences, padded or truncated to exactly `length` tokens."""
    texts = load_split("sst2", "dev").texts[:size]
    return dict(load_tokenizer(str(tiny_bert))(texts, padding="max_length", truncation=True, max_length=length,
                                                return_tensors="np"))


def manifest(directory):
    return json.loads((directory / "manifest.json").read_text())


def test_export_writes_a_complete_directory_with_parity_in_the_manifest(onnx_dir, tiny_bert):
    assert {"model.onnx", "config.json", "tokenizer.json", "tokenizer_config.json", "manifest.json"} <= {
        p.name for p in onnx_dir.iterdir()}
    m = manifest(onnx_dir)
    assert m["stage"] == "export" and m["inputs"]["model"]["path"] == os.path.relpath(tiny_bert)
    assert m["inputs"]["model"]["sha256"]
    parity = m["metrics"]["parity"]
    assert list(parity) == ["exported", "served"], "no optimize or fp16 step; the served graph (residual Sums) checked"
    assert 0 <= parity["exported"]["max_abs_diff"] < 1e-4
    assert parity["exported"]["label_agreement"] == 1.0
    assert parity["exported"]["examples"] == 40 and parity["exported"]["batch_sizes"] == [1, 16]
    low, high = parity["exported"]["sequence_lengths"]
    assert low < high, "real sentences differ in length"
    assert m["settings"]["opset"] == 17 and m["settings"]["parity_tolerance"] == 1e-4


def test_graph_has_named_inputs_and_dynamic_batch_and_sequence_axes(onnx_dir):
    model = onnx.load(str(onnx_dir / "model.onnx"))
    assert [i.name for i in model.graph.input] == ["input_ids", "attention_mask", "token_type_ids"]
    assert [o.name for o in model.graph.output] == ["logits"]
    for tensor in model.graph.input:
        dims = tensor.type.tensor_type.shape.dim
        assert [d.dim_param for d in dims] == ["batch", "sequence"] and not any(d.dim_value for d in dims)
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [17]


@pytest.mark.parametrize("size,length", [(1, 8), (3, 8), (1, 40), (3, 40)])
def test_plain_onnxruntime_session_matches_pytorch_at_any_batch_and_length(onnx_dir, tiny_bert, size, length):
    batch = dev_batch(tiny_bert, size, length)
    sess = ort.InferenceSession(str(onnx_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    logits = sess.run(["logits"], batch)[0]
    model = load_classifier(str(tiny_bert)).eval()
    with torch.no_grad():
        expected = model(**{k: torch.from_numpy(v) for k, v in batch.items()}).logits.numpy()
    assert logits.shape == (size, 2)
    np.testing.assert_allclose(logits, expected, atol=1e-4, rtol=0)


def test_optimum_ort_model_loads_the_directory(onnx_dir, tiny_bert):
    # The serving extra: optimum-onnx 0.1 installs only beside transformers 4.57.
    ORTModelForSequenceClassification = pytest.importorskip("optimum.onnxruntime").ORTModelForSequenceClassification

    batch = dev_batch(tiny_bert, 3, 24)
    model = ORTModelForSequenceClassification.from_pretrained(onnx_dir)
    plain = ort.InferenceSession(str(onnx_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    logits = model(**{k: torch.from_numpy(v) for k, v in batch.items()}).logits.numpy()
    np.testing.assert_allclose(logits, plain.run(["logits"], batch)[0], atol=1e-6)
    assert model.config.id2label == {0: "negative", 1: "positive"}


def test_optimize_reports_fused_operators_and_rechecks_parity(optimized_fp16_dir):
    metrics = manifest(optimized_fp16_dir)["metrics"]
    fused = metrics["fused_operators"]
    assert fused["Attention"] + fused["MultiHeadAttention"] == 2, "one fused attention per layer"
    assert fused["SkipLayerNormalization"] > 0
    assert fused["EmbedLayerNormalization"] == 0, "embeddings stay plain Gathers, which int8 quantizes best"
    assert list(metrics["parity"]) == ["exported", "optimized", "fp16"]
    assert metrics["parity"]["optimized"]["max_abs_diff"] < 1e-4
    graph_ops = [n.op_type for n in graph_nodes(optimized_fp16_dir)]
    assert graph_ops.count("Attention") + graph_ops.count("MultiHeadAttention") == 2
    assert graph_ops.count("SkipLayerNormalization") == fused["SkipLayerNormalization"]
    attention = [n.name for n in graph_nodes(optimized_fp16_dir) if n.op_type in ("Attention", "MultiHeadAttention")]
    assert attention == [f"/bert/encoder/layer.{i}/attention/self/Attention" for i in range(2)], \
        "fused attention is named after its layer, as the guard's per-layer groups need"
    assert "Softmax" not in graph_ops, "attention's softmax lives inside the fused operator"


def test_optimize_reads_per_layer_head_counts_of_a_pruned_model(tiny_bert, tmp_path):
    model = load_classifier(str(tiny_bert))
    prune_heads(model, {0: [0, 1, 2], 1: [5, 7, 9, 11]})
    model.save_pretrained(tmp_path / "pruned")
    load_tokenizer(str(tiny_bert)).save_pretrained(tmp_path / "pruned")
    m = export(ExportConfig(model=str(tmp_path / "pruned"), max_eval_examples=24, parity_batch_sizes=[1, 8],
                            optimize=True, fuse_embeddings=True), tmp_path / "onnx")
    assert m["metrics"]["fused_operators"]["Attention"] == 2
    assert m["metrics"]["fused_operators"]["EmbedLayerNormalization"] == 1
    assert m["metrics"]["fused_operators"]["SkipLayerNormalization"] == 0, "left unfused for CPU unless asked"
    assert [n.op_type for n in graph_nodes(tmp_path / "onnx")].count("LayerNormalization") == 2 * 2
    assert m["metrics"]["parity"]["optimized"]["max_abs_diff"] < 1e-4
    heads = [a.i for n in graph_nodes(tmp_path / "onnx") if n.op_type == "Attention" for a in n.attribute
             if a.name == "num_heads"]
    assert heads == [12 - 3, 12 - 4]


def graph_nodes(directory):
    return onnx.load(str(directory / "model.onnx")).graph.node


def test_fp16_graph_keeps_io_types_and_matches_pytorch_within_float16_precision(optimized_fp16_dir, tiny_bert):
    model = onnx.load(str(optimized_fp16_dir / "model.onnx"))
    weights = [t for t in model.graph.initializer if t.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16)]
    assert sum(t.data_type == onnx.TensorProto.FLOAT16 for t in weights) > 0.9 * len(weights)
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert {i.type.tensor_type.elem_type for i in model.graph.input} == {onnx.TensorProto.INT64}
    # The export checked this graph on CPU when no GPU is present, so CPU kernels run it here too.
    batch = dev_batch(tiny_bert, 8, 32)
    sess = ort.InferenceSession(str(optimized_fp16_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    logits = sess.run(["logits"], batch)[0]
    with torch.no_grad():
        expected = load_classifier(str(tiny_bert)).eval()(**{k: torch.from_numpy(v) for k, v in batch.items()}).logits
    difference = np.abs(logits - expected.numpy()).max()
    assert logits.dtype == np.float32 and logits.shape == (8, 2)
    assert 1e-5 < difference <= 5e-2, "float16 arithmetic: close to float32, yet not the float32 graph"


def test_broken_parity_fails_and_writes_nothing(tiny_bert, tmp_path):
    # No float32 graph reproduces PyTorch to 1e-12 (different kernels), so this must trip the check.
    with pytest.raises(CompressError, match="differ from PyTorch's by up to .*tolerance 1e-12.*nothing was written"):
        export(ExportConfig(model=str(tiny_bert), max_eval_examples=8, parity_batch_sizes=[4],
                            parity_tolerance=1e-12), tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def truncated_copy(model: Path, to: Path) -> Path:
    """The model with the second half of its weights file cut off, as an interrupted copy leaves it."""
    shutil.copytree(model, to)
    weights = to / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    return to


@pytest.mark.parametrize("make_model,message", [
    (lambda tmp, tiny: tmp / "missing", "missing not found"),
    (lambda tmp, tiny: (tmp / "empty").mkdir() or tmp / "empty", "not a model directory (no config.json)"),
    (lambda tmp, tiny: tiny / "model.safetensors", "is a file; give the checkpoint's directory"),
    (lambda tmp, tiny: truncated_copy(tiny, tmp / "truncated"), "cannot load model"),
])
def test_bad_model_is_one_error_line_and_writes_nothing(tiny_bert, tmp_path, capsys, make_model, message):
    model = make_model(tmp_path, tiny_bert)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["export", "--model", str(model), "-o", str(tmp_path / "out"), *PARITY]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("compress export: error: ") and message in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_missing_model_option_is_an_error(tmp_path):
    with pytest.raises(CompressError, match="export needs --model"):
        export(ExportConfig(), tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("extra", [[], ["--optimize"]])
def test_a_default_session_serves_the_residual_layer_norms_unfused(tiny_bert, tmp_path, extra):
    out = tmp_path / "onnx"
    assert main(["export", "--model", str(tiny_bert), "-o", str(out), *PARITY, *extra]) == 0
    manifest_metrics = manifest(out)["metrics"]
    assert manifest_metrics["residual_sums"] == 5, "two residual LayerNorms in each of 2 layers, and the embeddings'"
    assert manifest_metrics["parity"]["served"]["max_abs_diff"] < 1e-4
    served = default_session_operators(out)
    assert served["SkipLayerNormalization"] == 0 and served["Sum"] == 5


def test_with_fused_skip_layer_norms_a_default_session_runs_them(tiny_bert, tmp_path):
    out = tmp_path / "onnx"
    assert main(["export", "--model", str(tiny_bert), "-o", str(out), *PARITY, "--optimize",
                 "--fuse-skip-layer-norm"]) == 0
    assert "residual_sums" not in manifest(out)["metrics"]
    assert default_session_operators(out)["SkipLayerNormalization"] == 4
