"""Memory: file size, parameter count, and peak resident memory of a fresh process per variant.

Each variant is loaded and run in its own subprocess (`python -m eval.memory`), so one model's
allocations never inflate another's figure; the ONNX Runtime probe never imports torch.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

from compress.core.errors import CompressError

WEIGHT_SUFFIXES = (".onnx", ".onnx.data", ".data", ".safetensors", ".bin")


def file_bytes(path: Path) -> int:
    """Bytes of the model's weight files (graph plus external data, or safetensors)."""
    if path.is_file():
        extra = [p for p in path.parent.glob(path.name + ".data")] + [p for p in path.parent.glob("*.onnx.data")]
        return path.stat().st_size + sum(p.stat().st_size for p in set(extra))
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES))


def parameter_count(path: Path) -> int:
    """Number of stored weights: safetensors tensors, or ONNX initializers."""
    import numpy as np

    from compress.core.onnx_model import is_onnx_model, onnx_file

    if is_onnx_model(path):
        import onnx

        graph = onnx.load(str(onnx_file(path))).graph
        return int(sum(int(np.prod(t.dims)) for t in graph.initializer))
    from safetensors import safe_open

    total = 0
    for file in sorted(Path(path).glob("*.safetensors")):
        with safe_open(str(file), "np") as fh:
            for name in fh.keys():
                total += int(np.prod(fh.get_slice(name).get_shape()))
    return total


def _peak_rss_mb() -> float:
    """This process's resident high-water mark.

    VmHWM belongs to the address space, which exec replaces; getrusage's ru_maxrss would also carry
    the parent's peak from before the fork and report the same figure for every probe.
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # where /proc is missing; Linux: KiB


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _probe(spec: dict[str, Any]) -> dict[str, Any]:
    """Runs in the child: load one model, run each shape once, report resident and device memory."""
    import numpy as np

    from compress.core.onnx_model import is_onnx_model, session
    from compress.core.serving import model_dir

    path, device, threads = Path(spec["path"]), spec["device"], spec["threads"]
    shapes = spec["shapes"]
    onnx_backend = is_onnx_model(path)
    if not onnx_backend:
        import torch  # noqa: F401  (import cost counted as baseline, like the ORT import)
    else:
        import onnxruntime  # noqa: F401
    baseline = _rss_mb()
    gpu_before = _nvml_used_mb() if device == "cuda" and onnx_backend else None

    # Any in-vocabulary id costs the same; a vocabulary-pruned model may have fewer than 1,000.
    filler = min(1000, json.loads((model_dir(path) / "config.json").read_text())["vocab_size"] - 1)

    def inputs(batch: int, length: int) -> dict[str, np.ndarray]:
        ids = np.full((batch, length), filler, dtype=np.int64)
        return {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}

    if onnx_backend:
        from eval.runners import ORT_PROVIDERS

        provider = spec.get("option") or ("cuda" if device == "cuda" else "cpu")
        sess = session(path, threads, ORT_PROVIDERS[provider])
        names = {i.name for i in sess.get_inputs()}
        loaded = _rss_mb()
        for b, l in shapes:
            sess.run(["logits"], {k: v for k, v in inputs(b, l).items() if k in names})
    else:
        import torch

        from compress.core.anatomy import input_names
        from compress.core.models import load_classifier

        torch.set_num_threads(threads)
        dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[spec.get("option") or "fp32"]
        model = load_classifier(path).to(device=device, dtype=dtype).eval()
        loaded = _rss_mb()
        names = input_names(model)
        with torch.inference_mode():
            for b, l in shapes:
                model(**{k: torch.as_tensor(v, device=device) for k, v in inputs(b, l).items() if k in names})
    peak = _peak_rss_mb()
    out = {"baseline_rss_mb": round(baseline, 1), "loaded_rss_mb": round(loaded, 1), "peak_rss_mb": round(peak, 1),
           "peak_increment_mb": round(peak - baseline, 1), "shapes": shapes}
    if device == "cuda":
        if onnx_backend:
            out["gpu_peak_mb"] = round(_nvml_used_mb() - gpu_before, 1)
            out["gpu_method"] = "nvml device used-memory delta"
        else:
            import torch

            out["gpu_peak_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
            out["gpu_method"] = "torch.cuda.max_memory_allocated"
    return out


def _nvml_used_mb() -> float:
    import pynvml

    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    return pynvml.nvmlDeviceGetMemoryInfo(handle).used / 2**20


def measure_memory(path: Path, option: str | None, device: str, threads: int,
                   shapes: list[tuple[int, int]]) -> dict[str, Any]:
    """Peak memory of a fresh Python process that loads and runs only this model."""
    # The probe runs in the package's own folder, so that `-m eval.memory` finds this package and not an `eval`
    # of the user's; a path relative to the user's working directory is therefore made absolute first.
    spec = {"path": str(Path(path).resolve()), "option": option, "device": device, "threads": threads,
            "shapes": shapes}
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run([sys.executable, "-m", "eval.memory", json.dumps(spec)], capture_output=True, text=True,
                          env=env, cwd=Path(__file__).resolve().parents[1])
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise CompressError(f"memory probe for {path} failed: {tail}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    print(json.dumps(_probe(json.loads(sys.argv[1]))))
