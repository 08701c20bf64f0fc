"""Is ONNX Runtime's fused SkipLayerNormalization the slow part on this CPU? (Why `compress export --optimize`
leaves residual Add + LayerNorm unfused and `compress.onnx_model.session` disables SkipLayerNormFusion.)

Run from the repository root with two int8 graphs of the same model, one exported with
`--fuse-skip-layer-norm` and one without, e.g.:
  python reports/history/sst2-search/skiplayernorm_check.py FUSED/model.onnx UNFUSED/model.onnx
Plain onnxruntime, 2 intra-op threads, spinning on, batch 1 x 128 tokens, 300 profiled runs after 50 warm-up
runs each; prints mean wall ms per run and kernel ms per operator type.
"""
import collections
import json
import os
import sys
import tempfile

import numpy as np
import onnxruntime as ort


def profile(path: str, disabled: list[str], runs: int = 300, warmup: int = 50) -> tuple[float, dict[str, float]]:
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = 2, 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "1")
    options.enable_profiling = True
    options.profile_file_prefix = os.path.join(tempfile.mkdtemp(), "ort")
    sess = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"], disabled_optimizers=disabled)
    ids = np.random.default_rng(0).integers(1000, 5000, size=(1, 128)).astype(np.int64)
    feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
    feed = {k: v for k, v in feed.items() if k in {i.name for i in sess.get_inputs()}}
    for _ in range(warmup + runs):
        sess.run(None, feed)
    events = json.load(open(sess.end_profiling()))
    timed = sorted((e for e in events if e.get("name") == "model_run"), key=lambda e: e["ts"])[warmup:]
    start = timed[0]["ts"]
    kernels = collections.defaultdict(float)
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and e["ts"] >= start:
            kernels[e["args"]["op_name"]] += e["dur"] / len(timed) / 1000
    return sum(e["dur"] for e in timed) / len(timed) / 1000, dict(kernels)


fused, unfused = sys.argv[1], sys.argv[2]
for label, path, disabled in [("fused graph", fused, []), ("unfused graph, ORT re-fuses", unfused, []),
                              ("unfused graph, SkipLayerNormFusion disabled", unfused, ["SkipLayerNormFusion"])]:
    wall, kernels = profile(path, disabled)
    top = ", ".join(f"{op} {ms:.3f}" for op, ms in sorted(kernels.items(), key=lambda kv: -kv[1])[:6])
    print(f"| {label} | {wall:.2f} | {sum(kernels.values()):.2f} | {top} |", flush=True)
