"""The compute floor of a model at one shape: the multiply-adds of its encoder layers over the rate this machine's
ONNX Runtime reaches on one int8 product of the model's own FFN size. A profile's kernel time against this floor
says how much of the time is arithmetic and how much goes elsewhere (attention at full length, element-wise
operators, quantizing activations, scheduling). Every product is counted at the int8 rate, so the floor is a lower
bound: attention's two products run in fp32 inside ONNX Runtime's QAttention.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from compress.core.anatomy import prunable_layers
from compress.core.artifacts import ancestors
from compress.core.errors import CompressError
from compress.core.onnx_model import is_onnx_model, session_options
from compress.core.workloads import fixed_name

PROJECTIONS = ("query", "key", "value", "attention_out", "ffn_in", "ffn_out")


def multiply_adds(model: torch.nn.Module, batch: int, length: int) -> dict[str, int]:
    """Multiply-adds of one pass at batch x length through the encoder layers: their projections and FFN ("linear")
    and attention's two products ("attention"). Embedding lookups and the once-per-sequence head are left out."""
    tokens, linear, attention = batch * length, 0, 0
    for block in prunable_layers(model):
        linear += sum(tokens * getattr(block, role).in_features * getattr(block, role).out_features
                      for role in PROJECTIONS)
        attention += 2 * batch * length * length * block.query.out_features
    return {"linear": linear, "attention": attention}


def int8_rate(rows: int, inner: int, outer: int, threads: int | None, spinning: bool = False,
              seconds: float = 0.5) -> float:
    """Multiply-adds per second of ONNX Runtime's DynamicQuantizeMatMul (the operator int8 graphs run their
    products in) on a rows x inner by inner x outer product: the median of timed runs after warm-up."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(rng.integers(-127, 128, (inner, outer), dtype=np.int8), "B"),
               numpy_helper.from_array(np.array([0.01], dtype=np.float32), "scale"),
               numpy_helper.from_array(np.array([0], dtype=np.int8), "zero")]
    graph = helper.make_graph(
        [helper.make_node("DynamicQuantizeMatMul", ["A", "B", "scale", "zero"], ["Y"], domain="com.microsoft")],
        "product", [helper.make_tensor_value_info("A", TensorProto.FLOAT, [rows, inner])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [rows, outer])], weights)
    # IR version 8 (opset 17's): make_model writes the installed onnx's newest, which an older onnxruntime
    # refuses to load.
    model = helper.make_model(graph, ir_version=8, opset_imports=[helper.make_opsetid("", 17),
                                                                  helper.make_opsetid("com.microsoft", 1)])
    with tempfile.TemporaryDirectory(prefix="compress-floor-") as tmp:
        file = Path(tmp) / "product.onnx"
        onnx.save(model, str(file))
        sess = ort.InferenceSession(str(file), session_options(threads, spinning), providers=["CPUExecutionProvider"])
    feed = {"A": rng.standard_normal((rows, inner), dtype=np.float32)}
    for _ in range(20):
        sess.run(None, feed)
    times, end = [], time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 50:
        start = time.perf_counter()
        sess.run(None, feed)
        times.append(time.perf_counter() - start)
    return rows * inner * outer / statistics.median(times)


def torch_source(path: str | os.PathLike) -> Path | None:
    """The PyTorch checkpoint an ONNX model was exported from (its lineage's nearest non-ONNX model), if present."""
    return next((current for current, _ in ancestors(path)
                 if current.is_dir() and not is_onnx_model(current) and (current / "config.json").exists()), None)


def compute_floor(path: str | os.PathLike, threads: int | None, batch: int = 1, length: int = 128,
                  spinning: bool = False) -> dict[str, Any]:
    """The floor of model `path` (PyTorch or ONNX with its PyTorch source in the lineage) at batch x length."""
    from compress.core.models import load_classifier

    source = torch_source(path)
    if source is None:
        raise CompressError(f"no PyTorch checkpoint in the lineage of {path}")
    model = load_classifier(source)
    counted = multiply_adds(model, batch, length)
    widest = max(prunable_layers(model), key=lambda b: b.ffn_in.out_features).ffn_in
    rate = int8_rate(batch * length, widest.in_features, widest.out_features, threads, spinning)
    return {"shape": fixed_name(batch, length), "source": str(source), "multiply_adds": counted,
            "product": [batch * length, widest.in_features, widest.out_features], "gmacs_per_s": rate / 1e9,
            "floor_ms": 1000 * sum(counted.values()) / rate}


def floor_markdown(floor: dict[str, Any], kernel_ms: float | None = None) -> str:
    macs = floor["multiply_adds"]
    rows, inner, outer = floor["product"]
    line = (f"Compute floor at {floor['shape']}: {sum(macs.values()) / 1e6:.1f} M multiply-adds (projections and "
            f"FFN {macs['linear'] / 1e6:.1f} M, attention {macs['attention'] / 1e6:.1f} M) at "
            f"{floor['gmacs_per_s']:.1f} G/s, the rate of one int8 {rows}x{inner} by {inner}x{outer} product here: "
            f"**{floor['floor_ms']:.2f} ms**")
    if kernel_ms:
        line += f"; the kernels take {kernel_ms:.2f} ms, {kernel_ms / floor['floor_ms']:.1f}x the floor"
    return line + "."
