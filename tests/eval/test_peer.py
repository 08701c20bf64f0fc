"""eval.peer: Optimum's int8 of the baseline as a reference row measured in the same bench run, its preset chosen by
the CPU's int8 instructions; clear errors where it cannot be made."""

import importlib.util
import json
import sys

import pytest

from compress.core.errors import CompressError
from eval.bench import BenchConfig, bench
from eval.peer import optimum_preset, peer_model

FAST = dict(max_eval_examples=32, batch_sizes=[1], lengths=[16], real_batch_sizes=[8], real_examples=16, warmup=1,
            min_runs=3, real_min_runs=2, workload_seconds=0.1, min_time=0.0, threads=1, memory=False,
            perturbations=["none"])
OPTIMUM = importlib.util.find_spec("optimum") is not None and importlib.util.find_spec("optimum.onnxruntime")


@pytest.mark.parametrize("kind,preset", [("amd-avx2", "avx2"), ("amd-avx512-vnni", "avx512_vnni"),
                                         ("intel-amx", "avx512_vnni"), ("intel-avx512", "avx512"),
                                         ("intel-avx-vnni", "avx512_vnni")])
def test_the_preset_follows_the_cpu_s_int8_instructions(kind, preset):
    assert optimum_preset(kind) == preset


def test_without_optimum_the_peer_is_one_clear_error(trained_tiny_bert, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "optimum.onnxruntime", None)
    with pytest.raises(CompressError, match="needs Optimum's ONNX Runtime support"):
        peer_model("optimum", trained_tiny_bert, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_an_onnx_baseline_cannot_make_a_peer(trained_tiny_onnx, tmp_path):
    with pytest.raises(CompressError, match="must be a fine-tuned checkpoint directory"):
        bench([str(trained_tiny_onnx)], BenchConfig(**FAST, peer=["optimum"], peer_workdir=str(tmp_path)),
              progress=False)


@pytest.mark.skipif(not OPTIMUM, reason="Optimum's ONNX Runtime support is not installed (transformers 4.57 lane)")
def test_optimum_s_int8_is_measured_beside_the_variants_and_made_once(trained_tiny_bert, trained_tiny_onnx,
                                                                      tmp_path):
    config = BenchConfig(**FAST, peer=["optimum"], peer_workdir=str(tmp_path))
    result = bench([str(trained_tiny_bert), str(trained_tiny_onnx)], config, progress=False)
    names = [v["name"] for v in result["variants"]]
    assert names[-1] == "optimum-int8-peer" and len(names) == 3
    peer = result["variants"][-1]
    assert peer["backend"] == "onnxruntime" and "paired" in peer["accuracy"]
    assert next(e for e in peer["latency"] if e["workload"] == "b1xl16")["speedup_p50"] > 0
    (made,) = list(tmp_path.iterdir())
    assert json.loads((made / "peer.json").read_text())["preset"].startswith("AutoQuantizationConfig.")
    stamp = (made / "peer.json").stat().st_mtime_ns
    bench([str(trained_tiny_bert)], config, progress=False)
    assert (made / "peer.json").stat().st_mtime_ns == stamp, "the same baseline reuses the peer model"
