"""ONNX classifiers: validation, ONNX Runtime sessions and batched logits.

Stages (the quantization guard, export parity) and the harness all score ONNX models through
these functions, so an ONNX model's accuracy is computed one way everywhere.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from compress.core.batching import Features, batches
from compress.core.errors import CompressError
from compress.core.progress import bar

MODEL_FILE = "model.onnx"
CLASSIFIER_INPUTS = {"input_ids", "attention_mask"}


def onnx_file(path: str | os.PathLike) -> Path:
    """The .onnx file of an ONNX model given as a file or as a directory holding model.onnx."""
    p = Path(path)
    if p.is_dir():
        candidates = [p / MODEL_FILE] if (p / MODEL_FILE).exists() else sorted(p.glob("*.onnx"))
        if not candidates:
            raise CompressError(f"{p} holds no ONNX model (model.onnx)")
        return candidates[0]
    if not p.exists():
        raise CompressError(f"ONNX model {p} not found")
    return p


def is_onnx_model(path: str | os.PathLike) -> bool:
    p = Path(path)
    return p.suffix == ".onnx" or (p.is_dir() and any(p.glob("*.onnx")))


def check_classifier(path: str | os.PathLike) -> Path:
    """Fail with one line unless `path` is a loadable ONNX model with classifier inputs and a logits output."""
    import onnx

    file = onnx_file(path)
    try:
        model = onnx.load(str(file), load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError and others for corrupt files
        raise CompressError(f"{file} is not a valid ONNX file ({exc.__class__.__name__})") from None
    inputs = {i.name for i in model.graph.input}
    outputs = [o.name for o in model.graph.output]
    if not CLASSIFIER_INPUTS <= inputs or "logits" not in outputs:
        raise CompressError(f"{file} is not a sequence classifier: expected inputs input_ids and attention_mask and "
                            f"output logits, found inputs {sorted(inputs)} and outputs {outputs}")
    return file


def session(path: str | os.PathLike, threads: int | None = None, providers: list[str] | None = None,
            spinning: bool = False, optimization: str = "all", profile_prefix: str | None = None):
    """An InferenceSession with a fixed intra-op thread count; with `profile_prefix`, ONNX Runtime's profiler on.

    Spinning is off by default: ORT's spinning threads keep cores busy after each run and were
    measured slowing a PyTorch model timed next in the same process threefold.
    """
    import onnxruntime as ort

    file = check_classifier(path)
    available = ort.get_available_providers()
    providers = providers or ["CPUExecutionProvider"]
    missing = [p for p in providers if p not in available]
    if missing:
        raise CompressError(f"execution provider(s) {', '.join(missing)} not installed; available: "
                            f"{', '.join(available)}")
    options = session_options(threads, spinning, optimization)
    if profile_prefix:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    # Graphs exported before their residual Adds became Sums (compress.stages.export._residuals_as_sums) would otherwise
    # be re-fused into SkipLayerNormalization, the slower kernel on CPU.
    disabled = ["SkipLayerNormFusion"] if providers == ["CPUExecutionProvider"] else []
    try:
        return ort.InferenceSession(str(file), options, providers=providers, disabled_optimizers=disabled)
    except Exception as exc:  # ORT raises its own Fail/InvalidGraph types
        raise CompressError(f"ONNX Runtime cannot load {file}: {str(exc).splitlines()[0]}") from None


def session_options(threads: int | None = None, spinning: bool = False, optimization: str = "all"):
    """ONNX Runtime session options: `threads` intra-op threads (one inter-op), spinning on or off."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    options.graph_optimization_level = {
        "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL, "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED, "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[optimization]
    return options


def feed(sess, batch: dict) -> dict[str, np.ndarray]:
    """The subset of a batch the session takes, as int64 numpy arrays."""
    names = {i.name for i in sess.get_inputs()}
    return {k: np.asarray(v, dtype=np.int64) for k, v in batch.items() if k in names}


def onnx_logits(sess, features: Features, pad_id: int, batch_size: int = 64, progress: str | None = None) -> np.ndarray:
    """Logits for every row, in row order, with length-sorted batches; `progress` names a progress bar."""
    out = None
    for batch in bar(batches(features, pad_id, batch_size), desc=progress, unit="batch", disable=progress is None,
                     total=-(-len(features) // batch_size)):
        logits = sess.run(["logits"], feed(sess, batch))[0]
        if out is None:
            out = np.zeros((len(features), logits.shape[-1]), dtype=np.float32)
        out[batch["idx"]] = logits.astype(np.float32)
    return out
