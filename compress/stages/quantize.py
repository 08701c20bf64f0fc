"""Stage `quantize`: an ONNX classifier to int8 with ONNX Runtime, guarded by its accuracy on real data.

Every run scores the int8 model against its float source on the validation role. With a budget
(--max-accuracy-drop) the stage measures how much accuracy each layer (or node) costs when quantized
and keeps the costliest in float32, greedily, until the budget holds; it fails when none does.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from compress.core.artifacts import (
    MANIFEST,
    atomic_output_dir,
    check_output_dir,
    write_manifest,
)
from compress.core.batching import Features, batches, featurize
from compress.core.budget import recorded
from compress.core.card import write_card
from compress.core.config import option, to_dict
from compress.core.data import DataConfig, LabelSpace
from compress.core.errors import CompressError
from compress.core.guard import Trial, keep_within_budget
from compress.core.metrics import Metric, scored
from compress.core.models import load_tokenizer
from compress.core.onnx_model import MODEL_FILE, check_classifier, onnx_logits, session
from compress.core.registry import Command, register
from compress.core.roles import load_roles, resolve_data

CALIBRATION_METHODS = ("minmax", "entropy", "percentile")


@dataclass
class QuantizeConfig(DataConfig):
    """Settings of `compress quantize`; the data settings choose calibration (train) and guard (validation) examples."""

    unused = ("max_train_examples",)

    model: str | None = option(None, "ONNX model directory to quantize (as compress export writes it)")
    mode: str = option("dynamic", "dynamic: activations quantized per batch at run time (CPU); static: ranges "
                                  "fixed by calibration (QDQ)", choices=("dynamic", "static"))
    preset: str = option("none", "tensorrt: static QDQ with symmetric int8 activations and weights, as "
                                 "TensorRT's int8 kernels want (overrides --mode)", choices=("none", "tensorrt"))
    # Per tensor lost several times more accuracy than per channel on the SST-2 teacher (reports/history/sst2-teacher).
    per_channel: bool = option(True, "one weight scale per output column rather than one per tensor")
    reduce_range: bool = option(False, "7-bit weights, which avoid int16 saturation in the u8s8 kernels of x86 "
                                       "CPUs without VNNI; with VNNI they only add rounding error")
    # Gather covers the word embeddings, over half of a small BERT's file; quantizing every operator wrecks BERT.
    op_types: list[str] = option(["MatMul", "Gemm", "Gather", "Attention"], "operator types to quantize (those with "
                                 "constant weights or tables, and fused Attention)")
    # 4 bits: blocks of 32 with one scale each (ONNX Runtime's GatherBlockQuantized).
    embedding_bits: int = option(8, "dynamic mode: bits of the quantized embedding tables", choices=(8, 4))
    calibration_method: str = option("minmax", "how static quantization turns calibration activations into "
                                               "ranges", choices=CALIBRATION_METHODS)
    calibration_examples: int = option(128, "training examples static quantization calibrates on", interval="[1, inf)")
    max_accuracy_drop: float | None = option(None, "most points of --metric lost on validation; the most sensitive "
                                                   "parts stay float32 until it holds, else it fails",
                                                   interval="[0, inf)")
    sensitivity: str = option("layer", "what the guard keeps in float32: whole encoder layers (fewer trials) or "
                                       "single nodes (fewer kept)", choices=("layer", "node"))
    max_length: int = option(128, "tokens per example; longer inputs are truncated", interval="[5, inf)")
    batch_size: int = option(64, "examples per batch when calibrating and evaluating", interval="[1, inf)")


@dataclass(frozen=True)
class Scheme:
    """The ONNX Runtime settings a config resolves to, after the preset."""

    static: bool
    symmetric_activations: bool
    per_channel: bool
    reduce_range: bool
    op_types: tuple[str, ...]
    calibration_method: str
    embedding_bits: int = 8

    @classmethod
    def of(cls, config: QuantizeConfig) -> "Scheme":
        tensorrt = config.preset == "tensorrt"
        return cls(static=tensorrt or config.mode == "static", symmetric_activations=tensorrt,
                   per_channel=config.per_channel, reduce_range=config.reduce_range and not tensorrt,
                   op_types=tuple(config.op_types), calibration_method=config.calibration_method,
                   embedding_bits=config.embedding_bits)


def quantize(config: QuantizeConfig, output_dir: str | Path, overwrite: bool = False) -> dict[str, Any]:
    """Quantize `config.model` to int8, score it against the source on validation, write it with a manifest."""
    started = time.time()
    check_output_dir(Path(output_dir), overwrite)
    if not config.model:
        raise CompressError("quantize needs --model, an ONNX model directory (see compress export)")
    scheme = Scheme.of(config)
    source = check_classifier(config.model)
    _check_float32(source)
    tokenizer, labels = _companions(source.parent)
    pad_id = tokenizer.pad_token_id
    config = resolve_data(config, source.parent)
    roles = load_roles(config)
    metric = Metric.parse(config.metric, labels.names)
    eval_features = featurize(tokenizer, roles.validation, labels, config.max_length)
    calibration = None
    if scheme.static:
        train = roles.train.sample(config.calibration_examples, config.split_seed)
        calibration = featurize(tokenizer, train, labels, config.max_length)

    with tempfile.TemporaryDirectory(prefix="compress-quantize-") as scratch:
        work = Path(scratch)
        prepared = _prepare(source, work / "prepared.onnx")
        graph = _load_graph(prepared)
        targets = _targets(graph, scheme, prepared.name)
        reference = onnx_logits(session(source), eval_features, pad_id, config.batch_size)
        reference_scores = _scores(eval_features, reference, labels.names, metric)
        trials: dict[frozenset[str], Trial] = {}

        def quantized(kept: tuple[str, ...], file: Path) -> Path:
            _quantize(prepared, file, scheme, [n for n in targets if n not in kept], calibration, pad_id,
                      config.batch_size, work, tables={n for n, op in targets.items() if op == "Gather"})
            return file

        def run(kept: tuple[str, ...]) -> Trial:
            if frozenset(kept) not in trials:
                file = quantized(kept, work / "candidate.onnx")
                logits = onnx_logits(session(file), eval_features, pad_id, config.batch_size)
                trials[frozenset(kept)] = Trial(kept, round(file.stat().st_size / 2**20, 2),
                                                _scores(eval_features, logits, labels.names, metric), logits,
                                                float(np.abs(logits - reference).mean()))
                # A node-by-node search of a large model would otherwise fill the disk with candidates.
                file.unlink()
            return trials[frozenset(kept)]

        def drop(trial: Trial) -> float:
            return recorded(100 * (reference_scores["score"] - trial.scores["score"]))

        best, guard = run(()), None
        if config.max_accuracy_drop is not None:
            best, guard = keep_within_budget(list(targets), config.sensitivity, config.max_accuracy_drop, run,
                                             drop, _weight_counts(graph, targets))
        metrics = {
            "source": reference_scores, "quantized": best.scores, "accuracy_drop_points": drop(best),
            "label_agreement": float((best.logits.argmax(-1) == reference.argmax(-1)).mean()),
            "max_abs_logit_diff": float(np.abs(best.logits - reference).max()),
            "quantized_nodes": len(targets) - len(best.kept), "kept_fp32": list(best.kept),
            "targets_by_type": dict(Counter(targets.values())), "scheme": to_dict(scheme),
            "source_mb": round(source.stat().st_size / 2**20, 2), "model_mb": best.model_mb,
        }
        if guard is not None:
            metrics["guard"] = guard
        with atomic_output_dir(output_dir, overwrite) as tmp:
            # Quantizing again is deterministic (calibration comes from the cache) and cheaper than keeping files.
            quantized(best.kept, tmp / MODEL_FILE)
            for companion in source.parent.iterdir():
                if companion.is_file() and companion.suffix not in (".onnx", ".data") and companion.name != MANIFEST:
                    shutil.copyfile(companion, tmp / companion.name)
            manifest = write_manifest(tmp, "quantize", {"model": source.parent}, config, metrics, started,
                                      roles.summary())
            return write_card(tmp, manifest, Path(output_dir).name)


def _check_float32(file: Path) -> None:
    import onnx

    model = onnx.load(str(file), load_external_data=False)
    if any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer):
        raise CompressError(f"{file} is a float16 model; quantize the float32 export instead")
    quantized = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "MatMulInteger"}
    if any(n.op_type in quantized for n in model.graph.node):
        raise CompressError(f"{file} is already quantized; quantize the float32 export instead")


def _companions(directory: Path) -> tuple[Any, LabelSpace]:
    """The tokenizer and label set saved beside the ONNX file, which calibration and the guard need."""
    config = directory / "config.json"
    if not config.exists():
        raise CompressError(f"{directory} has no config.json beside the ONNX model; quantize a directory written "
                            "by compress export")
    id2label = json.loads(config.read_text()).get("id2label")
    if not id2label:
        raise CompressError(f"{config} names no labels (id2label)")
    return load_tokenizer(str(directory)), LabelSpace.from_id2label(id2label)


def _prepare(source: Path, prepared: Path) -> Path:
    """Symbolic shape inference and constant folding, which ONNX Runtime recommends before quantizing.

    Shapes let the quantizer see which tensors are float (it skips tensors of unknown type) and give static
    per-channel quantization its weight axes. The fused export (--optimize, embeddings left unfused) is the
    faster input: on the SST-2 teacher its quantized Attention nodes ran batch 1 x 128 tokens 2.77x faster
    than PyTorch against 2.52x for the plain graph, for 0.23 point instead of 0.11.
    """
    from onnxruntime.quantization.shape_inference import quant_pre_process

    try:
        # auto_merge: the traced graph's reshapes mix symbolic dimensions that inference must unify.
        quant_pre_process(str(source), str(prepared), auto_merge=True)
    except Exception as exc:  # shape inference raises bare Exceptions
        raise CompressError(f"cannot prepare {source} for quantization: {str(exc).strip().splitlines()[0]}") from None
    return prepared


def _load_graph(prepared: Path):
    import onnx

    return onnx.load(str(prepared)).graph


def _targets(graph, scheme: Scheme, file_name: str) -> dict[str, str]:
    """The nodes to quantize, by the name ONNX Runtime's quantizer gives them, with their operator types.

    MatMuls count only with a constant weight, as in ONNX Runtime's dynamic default: the attention MatMuls
    between two activations (scores and context) stay float32 in static mode too, where they cost accuracy.
    Dynamic mode has no int8 Gemm: ONNX Runtime splits a plain Gemm into NAME_MatMul and NAME_Add and
    quantizes the MatMul, so that is the name a Gemm target has there.
    """
    from onnxruntime.quantization.registry import (
        IntegerOpsRegistry,
        QDQRegistry,
        QLinearOpsRegistry,
    )

    known = set(IntegerOpsRegistry) | set(QLinearOpsRegistry) | set(QDQRegistry)
    unknown = [op for op in scheme.op_types if op not in known]
    if unknown:
        raise CompressError(f"ONNX Runtime cannot quantize operator type(s) {', '.join(unknown)}; "
                            f"it handles {', '.join(sorted(known))}")
    weights = {t.name for t in graph.initializer}
    targets = {}
    for node in graph.node:
        if node.op_type not in scheme.op_types or (node.op_type in ("MatMul", "Gemm") and node.input[1] not in weights):
            continue
        if node.op_type == "Gather" and node.input[0] not in weights:
            continue  # index arithmetic on shapes, not an embedding table
        if node.op_type in (QDQRegistry if scheme.static else IntegerOpsRegistry):
            targets[node.name] = node.op_type
        elif node.op_type == "Gemm" and not scheme.static and _plain_gemm(node):
            targets[f"{node.name}_MatMul"] = node.op_type
    if not targets:
        raise CompressError(f"{file_name}: no {' or '.join(scheme.op_types)} nodes that "
                            f"{'static' if scheme.static else 'dynamic'} quantization handles")
    return targets


def _weight_counts(graph, targets: dict[str, str]) -> dict[str, int]:
    """Weights each target reads from the graph's constants (a Gemm target is named after its split MatMul)."""
    sizes = {t.name: int(np.prod(t.dims)) for t in graph.initializer}
    nodes = {n.name: n for n in graph.node}
    counts = {}
    for name in targets:
        node = nodes.get(name) or nodes[name.removesuffix("_MatMul")]
        counts[name] = sum(sizes.get(i, 0) for i in node.input)
    return counts


def _plain_gemm(node) -> bool:
    """A Gemm that is only MatMul + Add (alpha = beta = 1, A not transposed), which ONNX Runtime can split."""
    import onnx

    attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    return attributes.get("alpha", 1.0) == 1.0 and attributes.get("beta", 1.0) == 1.0 and not attributes.get("transA")


class _CalibrationBatches:
    """Padded batches of the calibration examples, as feeds for ONNX Runtime's calibrator (CalibrationDataReader).

    The calibrator reads them one batch per pass (a stride of 1), because its histogram methods stack all
    tensors of a pass into one array, which fails when batches differ in shape, and it keeps memory to a batch.
    """

    def __init__(self, features: Features, pad_id: int, batch_size: int, input_names: set[str]):
        self._batches = [{k: v for k, v in batch.items() if k in input_names}
                         for batch in batches(features, pad_id, batch_size)]
        self._todo = iter(self._batches)

    def __len__(self) -> int:
        return len(self._batches)

    def set_range(self, start_index: int, end_index: int) -> None:
        self._todo = iter(self._batches[start_index:end_index])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._todo, None)


def _quantize(prepared: Path, output: Path, scheme: Scheme, nodes: list[str], calibration: Features | None,
              pad_id: int, batch_size: int, work: Path, tables: set[str] = frozenset()) -> None:
    """Quantize exactly `nodes` (never empty: ONNX Runtime reads an empty list as every node); `tables` names
    the embedding Gathers among the targets."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    if not scheme.static:
        four_bit = [n for n in nodes if n in tables] if scheme.embedding_bits == 4 else []
        if four_bit:
            prepared = _blockwise_4bit(prepared, four_bit, work / "tables4.onnx")
        # Gemm targets are quantized as the MatMul ONNX Runtime splits them into. The 4-bit tables come from a
        # contrib operator that shape inference cannot type, hence the default tensor type.
        quantize_dynamic(str(prepared), str(output), op_types_to_quantize=sorted({*scheme.op_types, "MatMul"}),
                         per_channel=scheme.per_channel, reduce_range=scheme.reduce_range,
                         weight_type=QuantType.QInt8, nodes_to_quantize=[n for n in nodes if n not in four_bit],
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT} if four_bit else {})
        return
    inputs = {i.name for i in onnx.load(str(prepared), load_external_data=False).graph.input}
    method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
              "percentile": CalibrationMethod.Percentile}[scheme.calibration_method]
    # The calibration cache makes the guard's many trials calibrate once: ranges do not depend on exclusions.
    with contextlib.redirect_stdout(sys.stderr):  # the calibrator prints progress; stdout carries the result
        quantize_static(str(prepared), str(output), _CalibrationBatches(calibration, pad_id, batch_size, inputs),
                        quant_format=QuantFormat.QDQ, op_types_to_quantize=list(scheme.op_types),
                        per_channel=scheme.per_channel, reduce_range=scheme.reduce_range,
                        activation_type=QuantType.QInt8 if scheme.symmetric_activations else QuantType.QUInt8,
                        weight_type=QuantType.QInt8, nodes_to_quantize=nodes, calibrate_method=method,
                        calibration_cache_path=work / "calibration.json",
                        # DedicatedQDQPair: a float32 node sharing an input with quantized ones (value beside
                        # query and key) must read that input unquantized, not their shared dequantized copy.
                        extra_options={"ActivationSymmetric": scheme.symmetric_activations, "WeightSymmetric": True,
                                       "CalibStridedMinMax": 1, "DedicatedQDQPair": True})


def _blockwise_4bit(prepared: Path, tables: list[str], output: Path) -> Path:
    """The embedding tables of `tables` (Gather nodes) as 4-bit symmetric blocks of 32 along the hidden axis.

    quantize_dynamic has no 4-bit Gather; ONNX Runtime's weight-only quantizer has, and it upgrades the
    model to opset 21 for the int4 type.
    """
    import logging

    import onnx

    root = logging.getLogger()
    level = root.level
    # Importing it configures the root logger at INFO, after which every quantizer logs each tensor.
    from onnxruntime.quantization.matmul_nbits_quantizer import (
        DefaultWeightOnlyQuantConfig,
        MatMulNBitsQuantizer,
    )
    root.setLevel(level)

    config = DefaultWeightOnlyQuantConfig(block_size=32, is_symmetric=True, op_types_to_quantize=("Gather",),
                                          quant_axes=(("Gather", 1),))
    logger = logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer")
    level, logger.level = logger.level, logging.ERROR  # it logs every node it looks at
    try:
        quantizer = MatMulNBitsQuantizer(onnx.load(str(prepared)), nodes_to_include=tables, algo_config=config)
        quantizer.process()
    finally:
        logger.setLevel(level)
    onnx.save(quantizer.model.model, str(output))
    return output


def _scores(features: Features, logits: np.ndarray, names: tuple[str, ...], metric: Metric) -> dict[str, float]:
    return scored(features.labels, logits, names, metric)["metrics"]


register(Command(
    "quantize", QuantizeConfig, quantize, "quantize an ONNX classifier to int8, guarded by its accuracy",
    "Quantize an exported ONNX model to int8, dynamic or static with calibration; with --max-accuracy-drop keeps the "
    "most sensitive parts in float32 until the validation score is within budget, or fails.",
    input_field="model", accepts=("onnx",), produces="onnx", writes="quantized model"))
