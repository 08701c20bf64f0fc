"""A headline over repeated bench runs: each a fresh process measuring the same variants side by side; for each
variant the median and range of its headline latency and of its ratios to the baseline across runs, and its
accuracy change on the scored role with the paired interval (scores do not change between runs; the run that
differs is flagged).

    python -m eval.repeats RUN1.json RUN2.json RUN3.json
"""

from __future__ import annotations

import statistics
import sys
from typing import Any, Sequence

from compress.core.errors import CompressError
from compress.core.workloads import HEADLINE, HEADLINE_REAL
from eval import record


def _figure(variant: dict[str, Any], workload: str, key: str) -> float | None:
    entry = next((e for e in variant["latency"] if e["workload"] == workload), None)
    return entry[key] if entry else None


def summarize(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per variant: median, low and high of its headline p50 and of each ratio over the runs, and the accuracy
    change."""
    names = [[v["name"] for v in r["variants"]] for r in records]
    if not records or any(n != names[0] for n in names):
        raise CompressError("repeated runs must measure the same variants in the same order")
    rows = []
    for i, name in enumerate(names[0]):
        runs = [r["variants"][i] for r in records]
        row: dict[str, Any] = {"name": name, "runs": len(runs)}
        for label, workload, key in (("latency_ms", HEADLINE, "p50_ms"), ("latency_speedup", HEADLINE, "speedup_p50"),
                                     ("throughput_ratio", HEADLINE_REAL, "throughput_ratio")):
            values = [v for v in (_figure(run, workload, key) for run in runs) if v is not None]
            if values:
                row[label] = {"median": statistics.median(values), "low": min(values), "high": max(values)}
        row["size_ratio"] = runs[0]["size"].get("size_ratio")
        scores = {tuple(sorted((run.get("accuracy") or {}).get("metrics", {}).items())) for run in runs}
        row["scores_agree"] = len(scores) == 1
        row["scored"] = bool(runs[0].get("accuracy"))
        paired = (runs[0].get("accuracy") or {}).get("paired")
        if paired:
            row["test"] = {"delta_points": paired["delta_points"], "interval_points": paired["interval_points"],
                           "verdict": paired.get("verdict")}
        rows.append(row)
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    def spread(row: dict[str, Any], key: str, unit: str = "x") -> str:
        if key not in row:
            return ""
        r = row[key]
        return f"{r['median']:.2f}{unit} ({r['low']:.2f}-{r['high']:.2f})"

    lines = [f"| variant | {HEADLINE} p50 ms, median (range) | speed-up | {HEADLINE_REAL} throughput | size x | "
             "test Δ pts [95% paired interval] |", "|---|---:|---:|---:|---:|---|"]
    for row in rows:
        test = row.get("test")
        change = (f"{test['delta_points']:+.2f} [{test['interval_points'][0]:+.2f}, {test['interval_points'][1]:+.2f}]"
                  + (f" {test['verdict']}" if test.get("verdict") else "")) if test else \
            ("baseline" if row["scored"] else "not scored")
        size = f"{row['size_ratio']:.2f}" if row.get("size_ratio") else ""
        lines.append(f"| {row['name']} | {spread(row, 'latency_ms', '')} | {spread(row, 'latency_speedup')} | "
                     f"{spread(row, 'throughput_ratio')} | {size} | {change}"
                     f"{'' if row['scores_agree'] else ' (scores differ between runs)'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    files = sys.argv[1:] if argv is None else argv
    if len(files) < 2:
        print("usage: python -m eval.repeats RUN.json RUN.json [RUN.json ...]", file=sys.stderr)
        return 2
    try:
        print(f"{len(files)} runs\n\n" + markdown(summarize([record.load(f) for f in files])))
    except CompressError as exc:
        print(f"eval.repeats: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
