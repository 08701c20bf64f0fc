"""Where an ONNX model's time goes: ONNX Runtime's own per-node profile, summed by operator type, against the
model's compute floor (eval.floor).

    python -m eval.profile MODEL [--threads 2] [--batch-size 1] [--length 128] [--spinning]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from compress.core.errors import CompressError
from compress.core.onnx_model import feed, onnx_file, session
from compress.core.workloads import fixed_name
from eval.floor import compute_floor, floor_markdown


def profile_ops(path: str | Path, batch: dict[str, np.ndarray], threads: int | None, runs: int = 30,
                warmup: int = 5, spinning: bool = False) -> dict[str, Any]:
    """Kernel time per operator type over `runs` runs of one batch, after `warmup` runs left out.

    Returns each type's share of kernel time and its mean milliseconds per run, largest first, and the
    mean wall time per run, whose excess over the kernel sum is scheduling and framework overhead.
    """
    with tempfile.TemporaryDirectory(prefix="compress-profile-") as tmp:
        sess = session(onnx_file(path), threads, spinning=spinning, profile_prefix=str(Path(tmp) / "ort"))
        inputs = feed(sess, batch)
        for _ in range(warmup + runs):
            sess.run(["logits"], inputs)
        events = json.loads(Path(sess.end_profiling()).read_text())
    timed = sorted((e for e in events if e.get("cat") == "Session" and e["name"] == "model_run"),
                   key=lambda e: e["ts"])[warmup:]
    start = timed[0]["ts"]
    kernels: dict[str, float] = defaultdict(float)
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time") and event["ts"] >= start:
            kernels[event["args"]["op_name"]] += event["dur"]
    total = sum(kernels.values()) or 1.0
    ops = [{"op_type": op, "share": us / total, "ms_per_run": us / len(timed) / 1000}
           for op, us in sorted(kernels.items(), key=lambda item: -item[1])]
    return {"runs": len(timed), "wall_ms_per_run": sum(e["dur"] for e in timed) / len(timed) / 1000,
            "kernel_ms_per_run": total / len(timed) / 1000, "ops": ops}


def profile_on_text(path: str | Path, texts: list[str], threads: int | None, batch_size: int = 1,
                    length: int = 128, runs: int = 30, spinning: bool = False) -> dict[str, Any]:
    """profile_ops on the first `batch_size` texts, cut or padded to `length` tokens (the b{batch}xl{length} shape)."""
    from compress.core.models import load_tokenizer
    from compress.core.serving import model_dir

    batch = load_tokenizer(str(model_dir(Path(path))))(texts[:batch_size], padding="max_length", truncation=True,
                                           max_length=length, return_tensors="np")
    return {"shape": fixed_name(batch_size, length), "spinning": spinning,
            **profile_ops(path, dict(batch), threads, runs, spinning=spinning)}


def profile_against_floor(path: str | Path, texts: list[str], threads: int | None, batch_size: int = 1,
                          length: int = 128, spinning: bool = False) -> dict[str, Any]:
    """profile_on_text with the model's compute floor at the same shape (or why it could not be found)."""
    profile = profile_on_text(path, texts, threads, batch_size, length, spinning=spinning)
    try:
        profile["floor"] = compute_floor(path, threads, batch_size, length, spinning)
    except CompressError as exc:
        profile["floor_failed"] = str(exc)
    return profile


def profile_markdown(profile: dict[str, Any], top: int = 8) -> str:
    lines = [f"ONNX Runtime profile at {profile['shape']}, {profile['runs']} runs: {profile['wall_ms_per_run']:.2f} ms "
             f"per run, of which kernels {profile['kernel_ms_per_run']:.2f} ms.", "",
             "| operator | share of kernel time | ms per run |", "|---|---:|---:|"]
    lines += [f"| {o['op_type']} | {100 * o['share']:.1f}% | {o['ms_per_run']:.3f} |" for o in profile["ops"][:top]]
    if "floor" in profile:
        lines += ["", floor_markdown(profile["floor"], profile["kernel_ms_per_run"])]
    elif "floor_failed" in profile:
        lines += ["", f"Compute floor not measured: {profile['floor_failed']}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from compress.core.data import DataConfig
    from compress.core.roles import load_roles, resolve_data

    parser = argparse.ArgumentParser(prog="python -m eval.profile", description="Where an ONNX model's time goes at "
                                     "one shape, on its validation text, against its compute floor.")
    parser.add_argument("model", help="ONNX model directory the toolkit wrote")
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads (default: ONNX Runtime's)")
    parser.add_argument("--batch-size", type=int, default=1, help="rows per run")
    parser.add_argument("--length", type=int, default=128, help="tokens per row, cut or padded")
    parser.add_argument("--spinning", action="store_true", help="ONNX Runtime's intra-op spinning on")
    args = parser.parse_args(argv)
    try:
        onnx_file(args.model)
        texts = load_roles(resolve_data(DataConfig(), args.model), log=lambda _: None).validation.texts
        print(profile_markdown(profile_against_floor(args.model, texts, args.threads, args.batch_size, args.length,
                                                     args.spinning)))
    except CompressError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
