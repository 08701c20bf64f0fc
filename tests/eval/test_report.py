"""`compress report`: Markdown, self-contained HTML, plots, and the Pareto front."""

import json

from compress.core.pareto import pareto_front
from eval.report import write_report
from tests.eval.records import record


def test_pareto_front_keeps_only_undominated_points_sorted_by_latency():
    points = [(24.0, 90.0), (18.0, 90.0), (7.5, 89.6), (10.0, 89.0), (5.0, 85.0)]
    assert pareto_front(points) == [4, 2, 1]


def test_report_writes_markdown_html_and_plots(tmp_path):
    (tmp_path / "r.json").write_text(json.dumps(record()))
    out = write_report([tmp_path / "r.json"], tmp_path / "report", title="SST-2")
    readme = (out / "README.md").read_text()
    assert readme.startswith("# SST-2")
    assert "| int8 | export | onnxruntime | int8 | 89.60 |" in readme
    for png in ("accuracy_vs_latency.png", "latency_per_shape.png", "size.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"({png})" in readme
    page = (out / "index.html").read_text()
    assert page.count("data:image/png;base64,") == 3 and 'src="http' not in page
    assert "test cpu" in page and "avx512_vnni" in readme


def test_report_replaces_an_older_report_without_leftovers(tmp_path):
    (tmp_path / "r.json").write_text(json.dumps(record()))
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "stale.png").write_bytes(b"old")
    write_report([tmp_path / "r.json"], tmp_path / "report")
    assert not (tmp_path / "report" / "stale.png").exists()
    assert not list(tmp_path.glob(".report.tmp-*"))
