"""The bench JSON record: schema checks on write and load."""

import json

import pytest

from compress.core.errors import CompressError
from eval import record


def minimal():
    entry = {"workload": "b1xl32", "runs": 3, "p50_ms": 1.0, "p90_ms": 1.0, "p99_ms": 1.0, "seq_per_s": 1000.0}
    variant = {"name": "a", "path": "a", "backend": "pytorch", "precision": "fp32", "device": "cpu",
               "size": {"file_bytes": 1}, "latency": [entry]}
    return {"schema": record.SCHEMA, "created": "now", "machine": {}, "settings": {}, "data": {},
            "variants": [variant]}


def test_valid_record_round_trips(tmp_path):
    path = record.write(minimal(), tmp_path / "r.json")
    assert record.load(path) == minimal()
    assert not list(tmp_path.glob(".r.json.*")), "temporary file left behind"


@pytest.mark.parametrize("breakage, message", [
    (lambda r: r.update(schema="other/1"), "not a compress.bench/1 record"),
    (lambda r: r.pop("machine"), "missing machine"),
    (lambda r: r.update(variants=[]), "no variants"),
    (lambda r: r["variants"][0].pop("precision"), "lacks precision"),
    (lambda r: r["variants"][0]["latency"][0].pop("p99_ms"), "lacks p99_ms"),
])
def test_invalid_records_are_refused_with_the_missing_part_named(tmp_path, breakage, message):
    broken = minimal()
    breakage(broken)
    with pytest.raises(CompressError, match=message):
        record.write(broken, tmp_path / "r.json")
    assert not (tmp_path / "r.json").exists()


def test_load_reports_non_json_and_missing_files(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(CompressError, match="is not JSON"):
        record.load(tmp_path / "bad.json")
    with pytest.raises(CompressError, match="not found"):
        record.load(tmp_path / "none.json")
    (tmp_path / "ok.json").write_text(json.dumps(minimal()))
    assert record.load(tmp_path / "ok.json")["variants"][0]["name"] == "a"
