"""The versioned JSON record a bench run writes; `compress report` and `compress check` read it.

Schema `compress.bench/1` (top level):
  schema       "compress.bench/1"
  created      UTC timestamp
  machine      fingerprint (eval.machine): cpu, int8 flags, threads, gpus, library versions, EPs
  settings     every harness setting that shaped the numbers (threads, workloads, warm-up, budgets,
               isolation: how variants were kept from stealing each other's cores)
  data         source, metric, roles (how train / validation / test were resolved: the line, each role's
               rows, origin and row-id hash), scored ({record key: role}), chosen_on, reported_on
  variants     list, first = baseline; each has:
    name, path, sha256, backend, device, precision, provider|attention, lineage (stages that made it)
    size        {file_bytes, parameters, size_ratio (baseline bytes / this)}
    memory      {baseline_rss_mb, loaded_rss_mb, peak_rss_mb, peak_increment_mb[, gpu_peak_mb, gpu_method]}
    memory_failed  instead of memory, when the probe failed: its one-line error
    accuracy    the test role (reported): {metrics {accuracy, f1, mcc, n, score (= --metric)}, label_names,
                 labels, predictions, accuracy_delta_points, agreement, paired {delta_points,
                 interval_points (paired bootstrap 95%), level, resamples, seed[, max_accuracy_drop, verdict]}}
    validation  the validation role (what choices are made on), the same fields
    scorecard   {fidelity {agreement, flips, flip_rate, flips_by_direction ("a->b": count, the directions
                 that occur, most first), kl_mean, kl_max},
                 calibration {ece, bins, mean_confidence, accuracy, reliability [bins]},
                 robustness [{perturbation, rate, rows, accuracy, drop_points}],
                 out_of_domain [{data, origin, accuracy, f1, mcc, n}]}   (when accuracy is scored)
    latency     list of {workload, batch_size, length (null = real lengths), runs, p50_ms, p90_ms,
                 p99_ms, mean_ms, min_ms, p50_interval_ms ([low, high], ~95% confidence interval of
                 p50), run_p50_ms, seq_per_s, speedup_p50, throughput_ratio}
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from compress.core.artifacts import atomic_file
from compress.core.errors import CompressError

SCHEMA = "compress.bench/1"
REQUIRED = {"schema", "created", "machine", "settings", "data", "variants"}
VARIANT_REQUIRED = {"name", "path", "backend", "precision", "device", "size", "latency"}
LATENCY_REQUIRED = {"workload", "runs", "p50_ms", "p90_ms", "p99_ms", "seq_per_s"}


def validate(record: dict[str, Any], where: str = "record") -> dict[str, Any]:
    """Raise CompressError naming the first missing or wrong part of a bench record."""
    if record.get("schema") != SCHEMA:
        raise CompressError(f"{where}: not a {SCHEMA} record (schema: {record.get('schema')!r})")
    missing = REQUIRED - set(record)
    if missing:
        raise CompressError(f"{where}: missing {', '.join(sorted(missing))}")
    if not record["variants"]:
        raise CompressError(f"{where}: no variants")
    for i, variant in enumerate(record["variants"]):
        gap = VARIANT_REQUIRED - set(variant)
        if gap:
            raise CompressError(f"{where}: variant {i} lacks {', '.join(sorted(gap))}")
        for entry in variant["latency"]:
            gap = LATENCY_REQUIRED - set(entry)
            if gap:
                raise CompressError(f"{where}: variant {variant['name']} latency entry lacks {', '.join(sorted(gap))}")
    return record


def _without_probabilities(record: dict[str, Any]) -> dict[str, Any]:
    """The record less every role's per-row probability matrix, which the bench run summarizes in each variant's
    scorecard (fidelity, calibration) and nothing reads afterwards: on a 77-class test role of 3,080 rows it made
    a record of two variants 18 MB. Per-row labels and predictions stay, for paired statistics and flips."""
    variants = [{key: ({k: v for k, v in block.items() if k != "probabilities"} if isinstance(block, dict) and
                       "predictions" in block else block) for key, block in variant.items()}
                for variant in record["variants"]]
    return {**record, "variants": variants}


def write(record: dict[str, Any], path: str | os.PathLike) -> Path:
    """Validate, then write atomically (temp file + rename), without each row's class probabilities."""
    validate(record)
    with atomic_file(path) as fh:
        json.dump(_without_probabilities(record), fh, indent=1)
        fh.write("\n")
    return Path(path)


def load(path: str | os.PathLike) -> dict[str, Any]:
    p = Path(path)
    if not p.exists():
        raise CompressError(f"bench record {p} not found")
    try:
        record = json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise CompressError(f"{p} is not JSON ({exc.msg} at line {exc.lineno})") from None
    return validate(record, str(p))
