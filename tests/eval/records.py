"""Synthetic bench records for report and gate tests (structure of eval.record, made-up figures)."""

import copy

from eval.record import SCHEMA


def variant(name, accuracy, p50_ms, size, precision="fp32", backend="onnxruntime", agreement=1.0, memory=100.0):
    latency = [{"workload": w, "batch_size": b, "length": l, "runs": 20, "p50_ms": p50_ms * f,
                "p90_ms": p50_ms * f * 1.1, "p99_ms": p50_ms * f * 1.3, "mean_ms": p50_ms * f,
                "min_ms": p50_ms * f * 0.9,
                "seq_per_s": b * 1000 / (p50_ms * f)}
               for w, b, l, f in (("b1xl128", 1, 128, 1.0), ("real-b32", 32, None, 6.0))]
    return {"name": name, "path": f"artifacts/{name}", "backend": backend, "precision": precision, "device": "cpu",
            "sha256": "0" * 64, "lineage": [{"stage": "export", "path": f"artifacts/{name}"}],
            "size": {"file_bytes": size, "parameters": size // 4},
            "memory": {"peak_rss_mb": 300 + memory, "peak_increment_mb": memory, "loaded_rss_mb": 250,
                       "baseline_rss_mb": 200},
            "accuracy": {"metrics": {"accuracy": accuracy, "n": 872}, "agreement": agreement,
                         "accuracy_delta_points": 0.0, "predictions": [], "probabilities": []},
            "latency": latency}


def record(scale=1.0, **changes):
    """Teacher, fp32 ONNX and int8 ONNX; `scale` multiplies every latency (a slower machine)."""
    variants = [variant("teacher", 0.90, 24.0 * scale, 90_000_000, backend="pytorch"),
                variant("onnx", 0.90, 18.0 * scale, 90_000_000),
                variant("int8", 0.896, 7.5 * scale, 23_000_000, precision="int8", agreement=0.985)]
    for name, update in changes.items():
        target = next(v for v in variants if v["name"] == name)
        update(target)
    base = variants[0]
    for v in variants:
        v["size"]["size_ratio"] = base["size"]["file_bytes"] / v["size"]["file_bytes"]
        for e, b in zip(v["latency"], base["latency"]):
            e["speedup_p50"] = b["p50_ms"] / e["p50_ms"]
            e["throughput_ratio"] = e["seq_per_s"] / b["seq_per_s"]
    return {"schema": SCHEMA, "created": "2026-11-28T00:00:00Z",
            "machine": {"cpu": "test cpu", "physical_cores": 2, "threads": 2, "int8_flags": {"avx512_vnni": True},
                        "gpus": [], "onnxruntime_providers": ["CPUExecutionProvider"], "versions": {}},
            "settings": {"threads": 2, "device": "cpu", "isolation": "test"},
            "data": {"source": "sst2 dev", "examples": 872}, "variants": copy.deepcopy(variants)}
