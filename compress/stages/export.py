"""Stage `export`: a Hugging Face classifier checkpoint as an ONNX model, checked against PyTorch.

The output directory holds model.onnx with the tokenizer and config.json beside it, so it loads both
in a plain onnxruntime.InferenceSession and with optimum's ORTModelForSequenceClassification.
"""

from __future__ import annotations

import contextlib
import inspect
import re
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from compress.core.artifacts import atomic_output_dir, check_output_dir, write_manifest
from compress.core.batching import Features, featurize
from compress.core.card import write_card
from compress.core.config import option
from compress.core.data import DataConfig, LabelledText, LabelSpace
from compress.core.errors import CompressError
from compress.core.inference import loader, model_inputs, predict_logits
from compress.core.models import LoadSettings, load_classifier, load_tokenizer
from compress.core.onnx_model import MODEL_FILE, onnx_logits, session
from compress.core.registry import Command, register
from compress.core.roles import load_roles, resolve_data

# Operators the transformer optimizer fuses; their counts show whether fusion found the attention blocks.
FUSED_OPERATORS = ("Attention", "MultiHeadAttention", "EmbedLayerNormalization", "SkipLayerNormalization",
                   "LayerNormalization", "BiasGelu", "FastGelu", "Gelu")


@dataclass
class ExportConfig(LoadSettings, DataConfig):
    """Settings of `compress export`; the data settings choose the real examples of the parity check."""

    unused = ("max_train_examples",)

    model: str | None = option(None, "fine-tuned checkpoint directory to export")
    max_eval_examples: int | None = option(128, "validation examples the ONNX logits are compared with PyTorch's "
                                                "on (all when empty)", interval="[1, inf)")
    opset: int = option(17, "ONNX opset version", interval="[1, inf)")
    max_length: int = option(128, "tokens per parity example; longer inputs are truncated", interval="[5, inf)")
    parity_batch_sizes: list[int] = option([1, 8, 32], "batch sizes of the parity check; batches are padded to "
                                                       "their longest row, so each size also tests other lengths",
                                                       interval="[1, inf)")
    parity_tolerance: float = option(1e-4, "largest absolute logit difference from PyTorch allowed for the "
                                           "float32 graph, plain and optimized", interval="[0, inf)")
    optimize: bool = option(False, "fuse attention, LayerNorm and GELU with ONNX Runtime's transformer optimizer")
    # Off by default: int8 of the fused node has one scale for the whole table, which cost agreement with the
    # teacher (reports/history/sst2-teacher)
    fuse_embeddings: bool = option(False, "with --optimize: also fuse the embedding lookups and their LayerNorm")
    # Off by default on CPU: ONNX Runtime's SkipLayerNormalization kernel was slower there than the unfused pair
    # (reports/history/sst2-search); GPU kernels want it, so --fp16 turns it on.
    fuse_skip_layer_norm: bool = option(False, "with --optimize: also fuse each residual Add with its LayerNorm "
                                               "(always on with --fp16)")
    fp16: bool = option(False, "convert the graph to float16 for GPU inference (inputs and logits keep their "
                               "types)")
    fp16_parity_tolerance: float = option(5e-2, "largest absolute logit difference from PyTorch allowed for the "
                                                "float16 graph (float16 keeps ~3 significant digits)",
                                                interval="[0, inf)")


def export(config: ExportConfig, output_dir: str | Path, overwrite: bool = False) -> dict[str, Any]:
    """Export `config.model` to ONNX, optionally optimize and convert it to float16, checking parity each step."""
    started = time.time()
    check_output_dir(Path(output_dir), overwrite)
    if not config.model:
        raise CompressError("export needs --model, the checkpoint directory to export")
    if not config.parity_batch_sizes:
        raise CompressError("--parity-batch-sizes must list at least one batch size")
    config = resolve_data(config, config.model)
    source = config.resolve(config.model)
    # Eager attention: ONNX Runtime's attention fusion was only seen to match the eager MatMul/Softmax graph.
    model = load_classifier(source, allow_pickle=config.allow_pickle, attn_implementation="eager").eval()
    tokenizer = load_tokenizer(source, model.config.vocab_size)
    roles = load_roles(config)
    features = _parity_features(roles.validation, config, tokenizer)
    pad_id = tokenizer.pad_token_id
    reference = {size: predict_logits(model, features, pad_id, size) for size in config.parity_batch_sizes}

    def check(file: Path, stage: str, tolerance: float, providers: list[str] | None = None) -> dict[str, Any]:
        return _parity(file, stage, features, pad_id, reference, tolerance, providers)

    with atomic_output_dir(output_dir, overwrite) as tmp:
        file = tmp / MODEL_FILE
        inputs = _export_graph(model, tokenizer, features, file, config.opset)
        parity = {"exported": check(file, "exported", config.parity_tolerance)}
        metrics: dict[str, Any] = {"inputs": inputs, "opset": config.opset}
        if config.optimize:
            metrics["fused_operators"] = _optimize(file, for_gpu=config.fp16, embeddings=config.fuse_embeddings,
                                                   skip_layer_norm=config.fuse_skip_layer_norm or config.fp16)
            parity["optimized"] = check(file, "optimized", config.parity_tolerance)
        if not (config.fuse_skip_layer_norm or config.fp16):
            # After the optimizer, whose attention fusion finds each layer by its residual Add.
            metrics["residual_sums"] = _residuals_as_sums(file)
            parity["served"] = check(file, "served", config.parity_tolerance)
        if config.fp16:
            _to_fp16(file)
            parity["fp16"] = check(file, "float16", config.fp16_parity_tolerance, _fp16_providers())
        metrics["parity"] = parity
        metrics["model_mb"] = round(file.stat().st_size / 2**20, 2)
        model.config.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        manifest = write_manifest(tmp, "export", {"model": source}, config, metrics, started, roles.summary())
        return write_card(tmp, manifest, Path(output_dir).name)


def _parity_features(data: LabelledText, config: ExportConfig, tokenizer) -> Features:
    # Parity compares logits only, so the labels need merely to encode, whatever the model's own label set.
    return featurize(tokenizer, data, LabelSpace.from_data(data), config.max_length)


def _export_graph(model: torch.nn.Module, tokenizer, features: Features, file: Path, opset: int) -> list[str]:
    """Trace `model` to `file` with dynamic batch and sequence axes; returns the graph's input names."""
    sample = model_inputs(next(iter(loader(features, tokenizer.pad_token_id, batch_size=2))), model)
    # Positional arguments in forward()'s order, because the legacy exporter names graph inputs by position.
    names = [p for p in inspect.signature(model.forward).parameters if p in sample]
    axes = {name: {0: "batch", 1: "sequence"} for name in names} | {"logits": {0: "batch"}}
    # The legacy TorchScript exporter rather than dynamo: it takes input_names/output_names as given, so the
    # graph has the input_ids/attention_mask/token_type_ids -> logits signature optimum and the harness expect,
    # and its eager-attention graph is the one ONNX Runtime's transformer optimizer fuses.
    with warnings.catch_warnings(), torch.no_grad(), _additive_mask(model, names):
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export")
        warnings.filterwarnings("ignore", message="The feature will be removed")
        try:
            torch.onnx.export(model, tuple(sample[n] for n in names), str(file), input_names=names,
                              output_names=["logits"], dynamic_axes=axes, opset_version=opset, dynamo=False)
        except (RuntimeError, ValueError) as exc:  # OnnxExporterError is a RuntimeError
            raise CompressError(f"ONNX export failed at opset {opset}: {str(exc).strip().splitlines()[0]}") from None
    _fusable_attention(file)
    return names


@contextlib.contextmanager
def _additive_mask(model: torch.nn.Module, names: list[str]) -> Iterator[None]:
    """On transformers 5, the attention mask reaches the model already additive, (1 - mask) x min, while it is
    traced.

    transformers 5 builds its mask in masking_utils, whose traced graph ONNX Runtime's attention fusion does not
    recognise (0 fused attentions), and it uses a ready 4D mask as it is; this is the pattern 4.57 traced and the
    optimizer fuses, so both versions export the same graph. A forward pre-hook, so the graph's node names keep
    the model's own module scopes, which the quantization guard groups by.
    """
    import transformers

    if int(transformers.__version__.split(".")[0]) < 5 or "attention_mask" not in names:
        yield
        return
    position = names.index("attention_mask")
    dtype = next(model.parameters()).dtype

    def additive(module: torch.nn.Module, args: tuple) -> tuple:
        mask = (1.0 - args[position][:, None, None, :].to(dtype)) * torch.finfo(dtype).min
        return (*args[:position], mask, *args[position + 1:])

    handle = model.register_forward_pre_hook(additive)
    try:
        yield
    finally:
        handle.remove()


def _fusable_attention(file: Path) -> int:
    """Rewrite transformers 5's traced attention into the form ONNX Runtime's attention fusion matches, the form
    transformers 4.57 traces (where nothing matches and this is a no-op); returns how many blocks it rewrote.

    Two differences stop the fusion: 5.x reshapes the query, key and value with -1 heads, and the fusion reads the
    head count there; and 5.x scales the scores with a Mul, which the fusion takes for the mask's Mul beside it.
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(file))
    graph = model.graph
    values = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    values |= {n.output[0]: numpy_helper.to_array(n.attribute[0].t) for n in graph.node
               if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value"}
    producers = {o: n for n in graph.node for o in n.output}

    def constant(name: str, value: np.ndarray) -> str:
        graph.initializer.append(numpy_helper.from_array(value, name))
        return name

    def bias_width(name: str) -> int | None:
        add = producers.get(name)
        widths = [values[i].shape[0] for i in (add.input if add is not None and add.op_type == "Add" else ())
                  if i in values and values[i].ndim == 1]
        return widths[0] if widths else None

    rewritten = 0
    for node in graph.node:
        shape = producers.get(node.input[1]) if node.op_type == "Reshape" else None
        if shape is None or shape.op_type != "Concat" or len(shape.input) != 4:
            continue
        heads, size, width = values.get(shape.input[2]), values.get(shape.input[3]), bias_width(node.input[0])
        if heads is not None and size is not None and width and heads.tolist() == [-1]:
            shape.input[2] = constant(f"{node.name}/heads", np.array([width // int(size[0])], dtype=np.int64))
            rewritten += 1
    for softmax in (n for n in graph.node if n.op_type == "Softmax"):
        add = producers.get(softmax.input[0])
        for scale in (producers.get(i) for i in (add.input if add is not None and add.op_type == "Add" else ())):
            if scale is None or scale.op_type != "Mul" or scale.input[1] not in values:
                continue
            if getattr(producers.get(scale.input[0]), "op_type", None) == "MatMul" and values[scale.input[1]].size == 1:
                scale.op_type = "Div"
                scale.input[1] = constant(f"{scale.name}/divisor", (1 / values[scale.input[1]]).astype(np.float32))
    if rewritten:
        used = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
        orphans = [n for n in graph.node if n.op_type == "Constant" and n.output[0] not in used]
        for node in orphans:  # the -1s and scales replaced above; a session warns about each one left
            graph.node.remove(node)
        onnx.save(model, str(file))
    return rewritten // 3


def _parity(file: Path, stage: str, features: Features, pad_id: int, reference: dict[int, np.ndarray],
            tolerance: float, providers: list[str] | None) -> dict[str, Any]:
    """Largest logit difference and argmax agreement between the graph and PyTorch, at every batch size."""
    sess = session(file, providers=providers)
    worst, agree = 0.0, []
    for size, expected in reference.items():
        logits = onnx_logits(sess, features, pad_id, size)
        worst = max(worst, float(np.abs(logits - expected).max()))
        agree.append(logits.argmax(-1) == expected.argmax(-1))
    lengths = [len(r["input_ids"]) for r in features.encodings]
    result = {"max_abs_diff": worst, "label_agreement": float(np.concatenate(agree).mean()),
              "tolerance": tolerance, "examples": len(features), "batch_sizes": list(reference),
              "sequence_lengths": [min(lengths), max(lengths)], "providers": sess.get_providers()}
    if not worst <= tolerance:
        raise CompressError(f"the {stage} ONNX graph's logits differ from PyTorch's by up to {worst:.3g} "
                            f"(tolerance {tolerance:g}); nothing was written")
    return result


def _optimize(file: Path, for_gpu: bool, embeddings: bool, skip_layer_norm: bool) -> dict[str, int]:
    """Rewrite `file` with fused transformer operators; returns how many of each the optimizer made."""
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    options = FusionOptions("bert")
    options.enable_embed_layer_norm = embeddings
    options.enable_skip_layer_norm = skip_layer_norm
    # num_heads=0 and hidden_size=0 make the optimizer read both from each attention block, which a pruned
    # model with different head counts per layer needs.
    optimized = optimize_model(str(file), model_type="bert", num_heads=0, hidden_size=0, use_gpu=for_gpu,
                               optimization_options=options)
    _name_by_layer(optimized)
    optimized.save_model_to_file(str(file))
    counts = optimized.get_fused_operator_statistics()
    return {op: counts.get(op, 0) for op in FUSED_OPERATORS}


def _residuals_as_sums(file: Path) -> int:
    """Write each residual Add that feeds a LayerNormalization as a two-input Sum (the same arithmetic); returns
    how many.

    ONNX Runtime fuses Add + LayerNormalization into SkipLayerNormalization at load, whatever the file says, and
    its CPU kernel is the slower one (ExportConfig.fuse_skip_layer_norm); its fusion matches Add only, so a plain
    InferenceSession, Optimum and pipelines serve the graph as measured, with no session option to pass.
    """
    import onnx

    model = onnx.load(str(file))
    constants = {i.name for i in model.graph.initializer} | {o for n in model.graph.node if n.op_type == "Constant"
                                                              for o in n.output}
    producers = {o: n for n in model.graph.node for o in n.output}
    rewritten = 0
    for node in model.graph.node:
        add = producers.get(node.input[0]) if node.op_type == "LayerNormalization" else None
        if add is not None and add.op_type == "Add" and not constants & set(add.input):
            add.op_type = "Sum"
            rewritten += 1
    onnx.save(model, str(file))
    return rewritten


def _name_by_layer(model) -> None:
    """Name each fused Attention after its encoder layer, as the exporter names the layer's other nodes.

    The optimizer numbers them (Attention_0, ...); the quantization guard groups nodes by layer name and a
    profile is read by it, so the layer is taken from the node that reads the attention's output.
    """
    readers = model.input_name_to_nodes()
    for node in model.get_nodes_by_op_type("Attention"):
        for reader in readers.get(node.output[0], []):
            layer = re.match(r"(.*?layer[._]\d+)[/._]", reader.name)
            if layer:
                node.name = f"{layer.group(1)}/attention/self/Attention"
                break


def _to_fp16(file: Path) -> None:
    import onnx
    from onnxruntime.transformers.onnx_model import OnnxModel

    model = OnnxModel(onnx.load(str(file)))
    # keep_io_types: callers still feed int64 ids and read float32 logits, whatever the precision inside.
    model.convert_float_to_float16(keep_io_types=True)
    model.save_model_to_file(str(file))


def _fp16_providers() -> list[str]:
    """Check the float16 graph where it is meant to run (CUDA) when this machine has it, else on CPU."""
    import onnxruntime as ort

    cuda = "CUDAExecutionProvider"
    return [cuda] if cuda in ort.get_available_providers() else ["CPUExecutionProvider"]


register(Command(
    "export", ExportConfig, export, "export a fine-tuned checkpoint to ONNX, checked against PyTorch",
    "Export a checkpoint to ONNX with dynamic batch and sequence axes, optionally fused (--optimize) and in float16 "
    "(--fp16); fails when its logits differ from PyTorch's beyond the tolerance.",
    input_field="model", accepts=("hf",), produces="onnx", writes="ONNX model"))
