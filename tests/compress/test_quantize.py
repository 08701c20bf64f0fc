"""compress.stages.quantize: int8 graphs quantize exactly the targeted nodes, static calibration works with every
method, the accuracy guard keeps harmful nodes in float32 or refuses, and bad input writes nothing."""

import json
import os
import shutil

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from compress.core.batching import featurize
from compress.core.budget import within_budget
from compress.core.data import LabelSpace, load_split
from compress.core.errors import CompressError
from compress.core.models import load_tokenizer
from compress.core.onnx_model import onnx_logits, session
from compress.engine.cli import main
from compress.stages.export import ExportConfig, export
from compress.stages.finetune import FinetuneConfig, finetune
from compress.stages.quantize import QuantizeConfig, quantize
from tests.conftest import cut_bert

os.environ.setdefault("HF_HUB_OFFLINE", "1")
SMALL = dict(max_eval_examples=64, calibration_examples=24, batch_size=8)


def exported(model, out):
    export(ExportConfig(model=str(model), max_eval_examples=16, parity_batch_sizes=[16]), out)
    return out


@pytest.fixture(scope="module")
def tiny_onnx(tiny_bert, tmp_path_factory):
    return exported(tiny_bert, tmp_path_factory.mktemp("quantize") / "tiny_onnx")


@pytest.fixture(scope="module")
def learned_onnx(data_dir, tmp_path_factory):
    """A 1-layer BERT fine-tuned on real SST-2 (about 0.7 dev accuracy), exported.

    The shared trained_tiny_bert stays at the majority class, where quantization cannot change accuracy.
    One layer keeps the guard's trials cheap and makes a MatMul-only run a single layer group.
    """
    root = tmp_path_factory.mktemp("quantize")
    finetune(FinetuneConfig(model=str(cut_bert(root / "base", layers=1)), max_train_examples=800,
                            max_eval_examples=100, epochs=2, batch_size=32, learning_rate=3e-4, max_length=48),
             root / "trained")
    return exported(root / "trained", root / "onnx")


@pytest.fixture(scope="module")
def agreement_data(learned_onnx, tmp_path_factory):
    """200 SST-2 dev sentences labelled with the source model's own predictions, and 64 gold training rows.

    The source then scores 100% and every prediction quantization flips costs accuracy, so harm shows as a
    drop however near chance a tiny model is (on gold labels its flips were seen to cancel out).
    """
    labels = LabelSpace.from_id2label(json.loads((learned_onnx / "config.json").read_text())["id2label"])
    tokenizer = load_tokenizer(str(learned_onnx))
    dev = load_split("sst2", "dev").sample(200)
    predicted = onnx_logits(session(learned_onnx), featurize(tokenizer, dev, labels, 128),
                            tokenizer.pad_token_id).argmax(-1)
    train = load_split("sst2", "train").sample(64)
    root = tmp_path_factory.mktemp("agreement")
    write_split(root / "dev.tsv", dev.texts, [labels.names[i] for i in predicted])
    write_split(root / "train.tsv", train.texts, [labels.names[int(raw)] for raw in train.labels])
    return root


def write_split(file, texts, labels):
    file.write_text("sentence\tlabel\n" + "".join(f"{t}\t{label}\n" for t, label in zip(texts, labels)))


def harmful(data, **settings):
    """Symmetric per-tensor 7-bit int8: a setting that flips predictions of the tiny model; the guard chooses on the
    source-labelled dev rows."""
    return QuantizeConfig(data=str(data), validation_split="dev", calibration_examples=32, preset="tensorrt",
                          per_channel=False, reduce_range=True, **settings)


def predictions(directory, texts):
    """Logits of an ONNX model on `texts`, one sentence per run (no padding), in a plain onnxruntime session."""
    sess = ort.InferenceSession(str(directory / "model.onnx"), providers=["CPUExecutionProvider"])
    tokenizer = load_tokenizer(str(directory))
    names = {i.name for i in sess.get_inputs()}
    return np.concatenate([sess.run(["logits"], {k: v for k, v in tokenizer([text], truncation=True, max_length=128,
                                                                            return_tensors="np").items()
                                                 if k in names})[0] for text in texts])


def graph(directory):
    return onnx.load(str(directory / "model.onnx")).graph


def weight_matmuls(directory):
    """Names of the MatMuls with a constant weight: the nodes the default settings target."""
    g = graph(directory)
    weights = {t.name for t in g.initializer}
    return {n.name for n in g.node if n.op_type == "MatMul" and n.input[1] in weights}


def gemms(directory):
    return {n.name for n in graph(directory).node if n.op_type == "Gemm"}


def embedding_gathers(directory):
    """Gathers reading a constant table (word, position, token-type embeddings), also targeted by default."""
    g = graph(directory)
    weights = {t.name for t in g.initializer}
    return {n.name for n in g.node if n.op_type == "Gather" and n.input[0] in weights}


def fed_by_dequantize(g):
    """Names of the nodes with an input that comes out of a DequantizeLinear node."""
    dequantized = {o for n in g.node if n.op_type == "DequantizeLinear" for o in n.output}
    return {n.name for n in g.node if dequantized & set(n.input)}


def manifest(directory):
    return json.loads((directory / "manifest.json").read_text())


def test_dynamic_default_quantizes_every_weight_matmul_and_embedding_and_scores_against_the_source(tiny_onnx, tmp_path,
                                                                                        capsys):
    out = tmp_path / "int8"
    assert main(["quantize", "--model", str(tiny_onnx), "-o", str(out), "--max-eval-examples", "64"]) == 0
    summary = json.loads(capsys.readouterr().out)
    g = graph(out)
    targeted = weight_matmuls(tiny_onnx) | gemms(tiny_onnx)
    assert len(targeted) == 14, "six weight MatMuls per layer in a 2-layer BERT, the pooler and the head"
    assert sum(n.op_type == "MatMulInteger" for n in g.node) == len(targeted)
    assert not any(n.op_type in ("MatMul", "Gemm") and n.name.removesuffix("_MatMul") in targeted for n in g.node)
    assert len([n for n in g.node if n.op_type == "MatMul"]) == 4, "attention scores and context stay float32"
    tables = {t.name for t in g.initializer if t.name.endswith("_quantized")}
    assert sum(n.op_type == "Gather" and n.input[0] in tables for n in g.node) == 3, \
        "word, position and token-type embeddings are read from int8 tables"
    m = manifest(out)
    assert m["stage"] == "quantize" and m["inputs"]["model"]["path"] == os.path.relpath(tiny_onnx)
    metrics = m["metrics"]
    assert metrics == summary | {"quantized": metrics["quantized"]}
    assert metrics["quantized_nodes"] == 17 and metrics["kept_fp32"] == [] and "guard" not in metrics
    assert metrics["targets_by_type"] == {"MatMul": 12, "Gemm": 2, "Gather": 3}
    assert metrics["source"]["n"] == metrics["quantized"]["n"] == 64
    assert metrics["accuracy_drop_points"] == pytest.approx(
        100 * (metrics["source"]["accuracy"] - metrics["quantized"]["accuracy"]))
    assert metrics["scheme"]["static"] is False and metrics["scheme"]["per_channel"] is True
    assert {"config.json", "tokenizer.json", "tokenizer_config.json"} <= {p.name for p in out.iterdir()}


def test_four_bit_embeddings_shrink_the_tables_and_keep_matmuls_int8(tiny_onnx, tmp_path):
    eight = quantize(QuantizeConfig(model=str(tiny_onnx), **SMALL), tmp_path / "e8")["metrics"]
    four = quantize(QuantizeConfig(model=str(tiny_onnx), embedding_bits=4, **SMALL), tmp_path / "e4")["metrics"]
    g = graph(tmp_path / "e4")
    blocks = [n for n in g.node if n.op_type == "GatherBlockQuantized"]
    assert len(blocks) == 3 and all(n.domain == "com.microsoft" for n in blocks)
    assert not any(n.op_type == "Gather" and n.input[0] in {t.name for t in g.initializer} for n in g.node)
    assert sum(n.op_type == "MatMulInteger" for n in g.node) == 14
    word = max(blocks, key=lambda n: np.prod(next(t.dims for t in g.initializer if t.name == n.input[0])))
    assert next(t for t in g.initializer if t.name == word.input[0]).data_type == onnx.TensorProto.INT4
    assert four["model_mb"] < eight["model_mb"] - 4, "the 30,522 x 384 word table: 11.2 MiB -> 5.6 + 1.4 (scales)"
    assert four["quantized_nodes"] == eight["quantized_nodes"] == 17
    assert four["scheme"]["embedding_bits"] == 4 and four["quantized"]["n"] == 64
    # Each block of 32 values along the hidden axis shares one scale, a 16th of the block's largest magnitude
    # (symmetric int4, -8..7), and every value lies within one step of the float32 table.
    table = onnx.numpy_helper.to_array(next(t for t in graph(tiny_onnx).initializer
                                            if t.name == "bert.embeddings.word_embeddings.weight"))
    initializers = {t.name: onnx.numpy_helper.to_array(t) for t in g.initializer}
    codes, scales = initializers[word.input[0]].astype(np.float32), initializers[word.input[2]]
    blocks = table.reshape(table.shape[0], -1, 32)
    assert scales.shape == blocks.shape[:2]
    np.testing.assert_allclose(np.abs(scales) * 8, np.abs(blocks).max(-1), rtol=1e-5)
    step = np.repeat(np.abs(scales), 32, axis=1)
    assert (np.abs(codes * np.repeat(scales, 32, axis=1) - table) <= step * (1 + 1e-5)).all()
    assert codes.min() >= -8 and codes.max() <= 7 and len(np.unique(codes)) == 16


@pytest.mark.parametrize("per_channel", [True, False])
def test_per_channel_gives_one_weight_scale_per_output_column(tiny_onnx, tmp_path, per_channel):
    out = tmp_path / "int8"
    quantize(QuantizeConfig(model=str(tiny_onnx), per_channel=per_channel, **SMALL), out)
    g = graph(out)
    shapes = {t.name: list(t.dims) for t in g.initializer}
    # MatMulInteger's fourth input is the weight zero point: one value per column, or a single one.
    sizes = {int(np.prod(shapes[n.input[3]])) for n in g.node if n.op_type == "MatMulInteger"}
    assert sizes == ({384, 1536, 2} if per_channel else {1}), "hidden, intermediate and label columns"


@pytest.mark.parametrize("method", ["minmax", "entropy", "percentile"])
def test_static_qdq_with_each_calibration_method_runs(tiny_onnx, tmp_path, method):
    out = tmp_path / method
    m = quantize(QuantizeConfig(model=str(tiny_onnx), mode="static", calibration_method=method, **SMALL), out)
    g = graph(out)
    quantized = fed_by_dequantize(g)
    assert weight_matmuls(tiny_onnx) | gemms(tiny_onnx) == {
        n.name for n in g.node if n.op_type in ("MatMul", "Gemm")} & quantized
    attention = {n.name for n in g.node if n.op_type == "MatMul"} - weight_matmuls(tiny_onnx)
    assert len(attention) == 4 and not attention & quantized, "activation-by-activation MatMuls stay float32"
    assert m["metrics"]["quantized_nodes"] == 17 and m["metrics"]["scheme"]["calibration_method"] == method


@pytest.fixture(scope="module")
def calibrated(learned_onnx, tmp_path_factory):
    """The trained 1-layer model quantized statically with each calibration method."""
    root = tmp_path_factory.mktemp("calibrated")
    for method in ("minmax", "entropy", "percentile"):
        quantize(QuantizeConfig(model=str(learned_onnx), mode="static", calibration_method=method, **SMALL),
                 root / method)
    return root


def activation_scales(directory):
    """The scale of each activation tensor a QuantizeLinear node quantizes, by tensor name."""
    g = graph(directory)
    weights = {t.name: t for t in g.initializer}
    return {n.input[0]: float(onnx.numpy_helper.to_array(weights[n.input[1]])) for n in g.node
            if n.op_type == "QuantizeLinear" and n.input[0] not in weights}


@pytest.mark.parametrize("method", ["minmax", "entropy", "percentile"])
def test_static_quantization_with_each_calibration_method_keeps_the_float_models_predictions(learned_onnx, calibrated,
                                                                                          method):
    texts = load_split("sst2", "dev").sample(100, seed=3).texts
    source, quantized = predictions(learned_onnx, texts), predictions(calibrated / method, texts)
    assert len(set(source.argmax(-1))) == 2, "the float model must tell the classes apart for agreement to mean much"
    assert np.mean(source.argmax(-1) == quantized.argmax(-1)) >= 0.9
    assert 0 < np.abs(source - quantized).mean() < 0.25 * np.abs(source).mean(), "int8 moves the logits a little"


def test_calibration_methods_set_different_activation_ranges(calibrated):
    minmax, entropy, percentile = (activation_scales(calibrated / m) for m in ("minmax", "entropy", "percentile"))
    assert minmax.keys() == entropy.keys() == percentile.keys() and len(minmax) > 5
    # Percentile and entropy calibration clip the rarest values, so no range exceeds the full min-max one, and
    # each narrows several (on this model a few of the 17 by more than 1%; the embedding lookups not at all).
    for narrowed in (percentile, entropy):
        assert all(narrowed[t] <= minmax[t] * (1 + 1e-6) for t in minmax)
        assert sum(narrowed[t] < minmax[t] * 0.99 for t in minmax) >= 3
    assert any(abs(entropy[t] - percentile[t]) > 0.01 * minmax[t] for t in minmax), "two methods, two ranges"


def test_reported_agreement_and_scores_match_an_independent_run_of_both_graphs(learned_onnx, agreement_data,
                                                                                tmp_path):
    metrics = quantize(harmful(agreement_data, model=str(learned_onnx)), tmp_path / "int8")["metrics"]
    dev = load_split(agreement_data, "dev")
    source, quantized = predictions(learned_onnx, dev.texts), predictions(tmp_path / "int8", dev.texts)
    labels = LabelSpace.from_id2label(json.loads((learned_onnx / "config.json").read_text())["id2label"]).encode(dev)
    agreement = np.mean(source.argmax(-1) == quantized.argmax(-1))
    assert agreement < 1, "the setting must flip some predictions for agreement to be tested"
    tolerance = 1.5 / len(dev)  # one near-tie may fall either way between padded and unpadded runs
    assert metrics["quantized"]["n"] == metrics["source"]["n"] == len(dev)
    assert metrics["label_agreement"] == pytest.approx(agreement, abs=tolerance)
    assert metrics["source"]["accuracy"] == pytest.approx(np.mean(source.argmax(-1) == labels), abs=tolerance)
    assert metrics["quantized"]["accuracy"] == pytest.approx(np.mean(quantized.argmax(-1) == labels), abs=tolerance)


@pytest.mark.parametrize("preset,activation_type", [("tensorrt", onnx.TensorProto.INT8),
                                                    ("none", onnx.TensorProto.UINT8)])
def test_tensorrt_preset_is_symmetric_int8_qdq(tiny_onnx, tmp_path, preset, activation_type):
    out = tmp_path / preset
    quantize(QuantizeConfig(model=str(tiny_onnx), mode="static", preset=preset, **SMALL), out)
    g = graph(out)
    initializers = {t.name: t for t in g.initializer}
    zero_points = [initializers[n.input[2]] for n in g.node if n.op_type == "QuantizeLinear"]
    assert zero_points and {z.data_type for z in zero_points} == {activation_type}
    if preset == "tensorrt":
        weights = [initializers[n.input[2]] for n in g.node if n.op_type == "DequantizeLinear"]
        assert all(not onnx.numpy_helper.to_array(z).any() for z in zero_points + weights), "symmetric: zero at 0"


def guarded_nodes_read_float32(out, learned_onnx, kept, metrics):
    g = graph(out)
    quantized = fed_by_dequantize(g)
    targets = weight_matmuls(learned_onnx) | gemms(learned_onnx) | embedding_gathers(learned_onnx)
    assert len(targets) == 11
    assert set(kept) <= targets and not set(kept) & quantized, "kept nodes read float32 inputs"
    assert targets - set(kept) <= quantized
    assert metrics["quantized_nodes"] == len(targets) - len(kept)


def test_guard_first_keeps_the_single_node_with_fewest_weights_that_meets_the_budget(learned_onnx, agreement_data,
                                                                                    tmp_path):
    out, budget = tmp_path / "guarded", 0.5  # one flip in the 200 rows
    m = quantize(harmful(agreement_data, model=str(learned_onnx), max_accuracy_drop=budget, sensitivity="node"), out)
    metrics, guard = m["metrics"], m["metrics"]["guard"]
    assert metrics["source"]["accuracy"] == 1.0
    assert guard["all_quantized_drop"] > budget, "the setting must hurt for the guard to have work to do"
    singles = guard["single_fallbacks"]
    weights = [s["float32_weights"] for s in singles]
    assert weights == sorted(weights) and weights[0] > 0, "fewest float32 weights first"
    assert within_budget(singles[-1]["drop"], budget) and not any(within_budget(s["drop"], budget)
                                                                  for s in singles[:-1]), \
        "stops at the first that fits"
    assert metrics["kept_fp32"] == [singles[-1]["group"]] and metrics["accuracy_drop_points"] <= budget
    assert "ranking" not in guard
    guarded_nodes_read_float32(out, learned_onnx, metrics["kept_fp32"], metrics)


def test_guard_keeps_the_most_harmful_nodes_when_no_single_one_suffices(learned_onnx, agreement_data, tmp_path):
    out = tmp_path / "guarded"
    m = quantize(harmful(agreement_data, model=str(learned_onnx), max_accuracy_drop=0.0, sensitivity="node"), out)
    metrics, guard = m["metrics"], m["metrics"]["guard"]
    assert len(guard["single_fallbacks"]) == 11 and all(s["drop"] > 0 for s in guard["single_fallbacks"])
    assert metrics["accuracy_drop_points"] <= 0.0
    kept = metrics["kept_fp32"]
    assert len(kept) > 1 and [r["group"] for r in guard["ranking"][:len(kept)]] == kept
    ranking = [(-r["drop_when_alone_quantized"], -r["logit_error_when_alone_quantized"]) for r in guard["ranking"]]
    assert ranking == sorted(ranking), "most harmful first"
    assert len(guard["ranking"]) == 11
    guarded_nodes_read_float32(out, learned_onnx, kept, metrics)


def test_guard_with_room_to_spare_keeps_nothing(learned_onnx, agreement_data, tmp_path):
    m = quantize(harmful(agreement_data, model=str(learned_onnx), max_accuracy_drop=100.0), tmp_path / "out")
    assert m["metrics"]["kept_fp32"] == [] and m["metrics"]["quantized_nodes"] == 11
    assert "ranking" not in m["metrics"]["guard"]


def test_guard_refuses_when_no_configuration_meets_the_budget(learned_onnx, agreement_data, tmp_path, capsys):
    # MatMul only: the single encoder layer is the single group, and at least one group must stay quantized.
    args = ["quantize", "--model", str(learned_onnx), "-o", str(tmp_path / "out"), "--data", str(agreement_data),
            "--validation-split", "dev", "--preset", "tensorrt", "--no-per-channel", "--reduce-range",
            "--calibration-examples", "32", "--op-types", "MatMul", "--max-accuracy-drop", "0"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("compress quantize: error: no configuration meets --max-accuracy-drop 0: the closest, "
                          "with 6 of 6 nodes quantized, loses ")
    assert err.endswith("nothing was written")
    assert list(tmp_path.iterdir()) == []


# Bad input: a one-line CompressError and no output directory

def copy_companions(source, directory):
    directory.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (source / name).exists():  # transformers 5 writes no vocab.txt or special_tokens_map.json
            shutil.copyfile(source / name, directory / name)
    return directory


def text_renamed_to_onnx(tiny_onnx, tmp_path):
    directory = copy_companions(tiny_onnx, tmp_path / "model")
    (directory / "model.onnx").write_text("this is not a protobuf\n" * 10)
    return directory, {}, "is not a valid ONNX file"


def not_a_classifier(tiny_onnx, tmp_path):
    directory = copy_companions(tiny_onnx, tmp_path / "model")
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 4])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 4])
    onnx.save(onnx.helper.make_model(onnx.helper.make_graph([onnx.helper.make_node("Relu", ["x"], ["y"])],
                                                            "g", [x], [y])), directory / "model.onnx")
    return directory, {}, "is not a sequence classifier"


def float16_model(tiny_onnx, tmp_path):
    from onnxruntime.transformers.onnx_model import OnnxModel

    directory = copy_companions(tiny_onnx, tmp_path / "model")
    model = OnnxModel(onnx.load(str(tiny_onnx / "model.onnx")))
    model.convert_float_to_float16(keep_io_types=True)
    model.save_model_to_file(str(directory / "model.onnx"))
    return directory, {}, "is a float16 model"


def calibration_with_wrong_columns(tiny_onnx, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.tsv").write_text("review\tstars\ngood\t5\nbad\t1\n")
    (data / "dev.tsv").write_text("sentence\tlabel\ngood\tpositive\nbad\tnegative\n")
    return tiny_onnx, {"data": str(data), "mode": "static"}, "train.tsv: cannot find a text column"


def unknown_calibration_method(tiny_onnx, tmp_path):
    return tiny_onnx, {"mode": "static", "calibration_method": "kl"}, "calibration-method must be one of"


def unknown_operator_type(tiny_onnx, tmp_path):
    return tiny_onnx, {"op_types": ["MatMul", "Matmul"]}, "cannot quantize operator type(s) Matmul"


def negative_budget(tiny_onnx, tmp_path):
    return tiny_onnx, {"max_accuracy_drop": -1.0}, "--max-accuracy-drop must be at least 0, got -1.0"


def no_companion_files(tiny_onnx, tmp_path):
    (tmp_path / "bare").mkdir()
    shutil.copyfile(tiny_onnx / "model.onnx", tmp_path / "bare" / "model.onnx")
    return tmp_path / "bare", {}, "no config.json beside the ONNX model"


@pytest.mark.parametrize("case", [text_renamed_to_onnx, not_a_classifier, float16_model,
                                  calibration_with_wrong_columns, unknown_calibration_method,
                                  unknown_operator_type, negative_budget, no_companion_files])
def test_bad_input_is_a_clear_error_and_writes_nothing(tiny_onnx, tmp_path, case):
    model, settings, message = case(tiny_onnx, tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(CompressError, match=message.replace("(", r"\(").replace(")", r"\)")) as error:
        quantize(QuantizeConfig(model=str(model), **(SMALL | settings)), tmp_path / "out")
    assert "\n" not in str(error.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_unknown_calibration_method_on_the_command_line_is_a_usage_error(tiny_onnx, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit:
        main(["quantize", "--model", str(tiny_onnx), "-o", str(tmp_path / "out"), "--calibration-method", "kl"])
    assert exit.value.code == 2
    assert "invalid choice: 'kl'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
