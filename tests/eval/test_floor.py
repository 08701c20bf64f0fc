"""eval.floor: the multiply-adds of a model's layers at a shape, the int8 product rate, and the floor they give."""

import json

import pytest

from compress.core.anatomy import prune_heads
from compress.core.models import load_classifier
from eval.floor import compute_floor, floor_markdown, int8_rate, multiply_adds, torch_source
from eval.profile import profile_markdown


def test_multiply_adds_follow_the_layer_shapes_and_shrink_with_pruned_heads(tiny_bert):
    model = load_classifier(tiny_bert)
    c = model.config
    h, ffn, layers = c.hidden_size, c.intermediate_size, c.num_hidden_layers
    counted = multiply_adds(model, batch=2, length=16)
    assert counted["linear"] == layers * 2 * 16 * (4 * h * h + 2 * h * ffn)
    assert counted["attention"] == layers * 2 * 2 * 16 * 16 * h
    head = h // c.num_attention_heads
    prune_heads(model, {0: [0, 1]})
    pruned = multiply_adds(model, batch=2, length=16)
    assert counted["linear"] - pruned["linear"] == 2 * 16 * 4 * h * 2 * head, "q, k, v in and the output's in"
    assert counted["attention"] - pruned["attention"] == 2 * 2 * 16 * 16 * 2 * head


def test_the_int8_rate_is_a_positive_finite_rate_of_the_named_product():
    rate = int8_rate(32, 64, 128, threads=1, seconds=0.05)
    assert 1e6 < rate < 1e14


def test_an_onnx_model_finds_its_pytorch_source_through_the_manifests(tmp_path):
    source, onnx, int8 = (tmp_path / name for name in ("student", "onnx", "int8"))
    for directory in (source, onnx, int8):
        directory.mkdir()
        (directory / "config.json").write_text("{}")
    for directory, parent in ((onnx, source), (int8, onnx)):
        (directory / "model.onnx").write_bytes(b"")
        (directory / "manifest.json").write_text(json.dumps({"inputs": {"model": {"path": str(parent)}}}))
    assert torch_source(int8) == source and torch_source(source) == source
    (onnx / "manifest.json").write_text(json.dumps({"inputs": {"model": {"path": str(tmp_path / "gone")}}}))
    assert torch_source(int8) is None


def test_the_floor_of_an_exported_model_and_how_the_profile_shows_it(trained_tiny_onnx):
    floor = compute_floor(trained_tiny_onnx, threads=1, batch=1, length=32)
    macs = sum(floor["multiply_adds"].values())
    assert floor["shape"] == "b1xl32" and floor["product"][0] == 32
    assert floor["floor_ms"] == pytest.approx(1000 * macs / (floor["gmacs_per_s"] * 1e9))
    line = floor_markdown(floor, kernel_ms=2 * floor["floor_ms"])
    assert "2.0x the floor" in line and f"{floor['floor_ms']:.2f} ms" in line
    profile = {"shape": "b1xl32", "runs": 3, "wall_ms_per_run": 1.0, "kernel_ms_per_run": 0.5,
               "ops": [{"op_type": "MatMul", "share": 1.0, "ms_per_run": 0.5}], "floor": floor}
    assert "Compute floor at b1xl32" in profile_markdown(profile)
