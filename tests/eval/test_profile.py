"""eval.profile: ONNX Runtime's per-node profile summed by operator type, warm-up runs left out."""

import pytest

from compress.core.data import load_split
from eval.profile import profile_markdown, profile_on_text


@pytest.fixture(scope="module")
def tiny_onnx(tiny_bert, tmp_path_factory):
    from compress.stages.export import ExportConfig, export

    out = tmp_path_factory.mktemp("profile") / "onnx"
    export(ExportConfig(model=str(tiny_bert), max_eval_examples=8, parity_batch_sizes=[8]), out)
    return out


def test_kernel_time_by_operator_type_over_the_timed_runs_only(tiny_onnx):
    profile = profile_on_text(tiny_onnx, load_split("sst2", "dev").texts, threads=1, batch_size=2, length=32, runs=7)
    assert profile["shape"] == "b2xl32" and profile["runs"] == 7
    shares = [o["share"] for o in profile["ops"]]
    assert sum(shares) == pytest.approx(1.0) and shares == sorted(shares, reverse=True)
    assert {"MatMul", "Softmax"} <= {o["op_type"] for o in profile["ops"]} | {"FusedMatMul"}
    ops = {o["op_type"] for o in profile["ops"]}
    assert "LayerNormalization" in ops and "SkipLayerNormalization" not in ops, \
        "CPU sessions keep residual Add + LayerNorm unfused (the slower kernel here)"
    assert 0 < profile["kernel_ms_per_run"] <= profile["wall_ms_per_run"]
    assert sum(o["ms_per_run"] for o in profile["ops"]) == pytest.approx(profile["kernel_ms_per_run"])
    table = profile_markdown(profile, top=3)
    assert table.count("\n| ") == 4 and profile["ops"][0]["op_type"] in table


def test_bad_input_is_a_one_line_error(tmp_path, capsys):
    from eval.profile import main

    assert main([str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("python -m eval.profile: error:") and "model.onnx" in err and "\n" not in err
