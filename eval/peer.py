"""Peers: what a plain user of another tool gets from the same input model, made here so that the harness can
measure it as a reference row in the same run as compress's variants (`compress bench --peer optimum`).

Optimum's row is its documented two-step recipe: export with ORTModelForSequenceClassification, then
ORTQuantizer with the dynamic AutoQuantizationConfig preset for this CPU's int8 instructions.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from compress.core.artifacts import atomic_output_dir, hash_path
from compress.core.errors import CompressError
from compress.core.paths import portable_path
from eval.machine import this_cpu_kind

PEERS = ("optimum",)


def optimum_preset(kind: str) -> str:
    """The AutoQuantizationConfig preset a user picks for a CPU kind (eval.machine.cpu_kind)."""
    if "amx" in kind or "vnni" in kind:
        return "avx512_vnni"
    return "avx512" if "avx512" in kind else "avx2"


def peer_model(peer: str, model: str | Path, workdir: str | Path) -> Path:
    """The peer's int8 model of `model` (a fine-tuned checkpoint directory), made once per input and preset."""
    if peer not in PEERS:
        raise CompressError(f"unknown peer {peer!r} (known: {', '.join(PEERS)})")
    try:
        from optimum.onnxruntime import ORTModelForSequenceClassification, ORTQuantizer
        from optimum.onnxruntime.configuration import AutoQuantizationConfig
    except ImportError:
        raise CompressError("--peer optimum needs Optimum's ONNX Runtime support (pip install 'compress[serving]', "
                            "which needs transformers 4.57)") from None
    from transformers import AutoTokenizer

    preset = optimum_preset(this_cpu_kind())
    out = Path(workdir) / f"optimum-{preset}-{hash_path(model)[:12]}"
    if (out / "peer.json").exists():
        return out
    with atomic_output_dir(out, overwrite=True) as tmp:
        exported = tmp / "exported"
        ORTModelForSequenceClassification.from_pretrained(str(model), export=True).save_pretrained(exported)
        AutoTokenizer.from_pretrained(str(model)).save_pretrained(exported)
        config = getattr(AutoQuantizationConfig, preset)(is_static=False, per_channel=False)
        ORTQuantizer.from_pretrained(exported).quantize(save_dir=tmp, quantization_config=config)
        for file in exported.iterdir():
            if file.suffix != ".onnx" and not (tmp / file.name).exists():
                shutil.copy(file, tmp / file.name)
        shutil.rmtree(exported)
        (tmp / "peer.json").write_text(json.dumps({"peer": "optimum", "preset": f"AutoQuantizationConfig.{preset}"
                                                   "(is_static=False, per_channel=False)",
                                                   "model": portable_path(model)}, indent=1) + "\n")
    return out
