"""The search's summary and report: what it chose on validation, how that fares on test, and every candidate it
screened, written next to the harness's usual report (plots, lineage, machine)."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any, Callable

from compress.core.config import to_dict
from compress.core.workloads import HEADLINE, HEADLINE_REAL, real_name
from eval.profile import profile_markdown
from eval.report import write_report

SEARCH_RECORD = "search.json"


def summarize(config: Any, record_file: Path, result: dict[str, Any], winner: Any, precise: Any, front: list[Any],
              candidates: list[Any], skipped: list[str], minutes: float) -> dict[str, Any]:
    """The search's summary: the winner and the high-accuracy point with their figures from the final
    side-by-side record `result` (validation chose, test reports), and every candidate's screening figures."""
    measured = {v["name"]: v for v in result["variants"]}
    peers = [v for v in result["variants"] if v["name"].endswith("-peer")]

    def figures(candidate: Any) -> dict[str, Any] | None:
        if candidate is None:
            return None
        v = measured[candidate.name]
        latency = {e["workload"]: e for e in v["latency"]}
        base_real = {e["workload"]: e for e in measured["baseline"]["latency"]}[HEADLINE_REAL]
        test = v["accuracy"]["paired"]
        return {"name": candidate.name, "path": candidate.path, "chain": candidate.chain,
                "validation_score": 100 * v["validation"]["metrics"]["score"],
                "validation_delta_points": v["validation"]["paired"]["delta_points"],
                "test_score": 100 * v["accuracy"]["metrics"]["score"],
                "test_delta_points": test["delta_points"], "test_interval_points": test["interval_points"],
                "test_verdict": test.get("verdict"), "test_agreement": v["accuracy"]["agreement"],
                "test_over_budget": -test["delta_points"] > config.max_accuracy_drop + 1e-9,
                "speedup_b1xl128": latency[HEADLINE]["speedup_p50"],
                "throughput_ratio_real_b32": latency[HEADLINE_REAL]["throughput_ratio"],
                "throughput_ratio_real_b32_bucketed_vs_baseline_plain":
                    latency[real_name(32, bucket=True)]["seq_per_s"] / base_real["seq_per_s"],
                "size_ratio": v["size"]["size_ratio"], "file_mb": v["size"]["file_bytes"] / 1e6,
                **{f"vs_{p['name']}": {"speedup_b1xl128": _p50(p) / latency[HEADLINE]["p50_ms"],
                                       "test_delta_points": p["accuracy"]["paired"]["delta_points"]}
                   for p in peers}}

    baseline = measured["baseline"]
    return {"baseline": config.model, "metric": config.metric,
            "max_accuracy_drop": config.max_accuracy_drop, "chosen_on": "validation", "reported_on": "test",
            "data_roles": result["data"]["roles"],
            "baseline_scores": {"validation": 100 * baseline["validation"]["metrics"]["score"],
                                "test": 100 * baseline["accuracy"]["metrics"]["score"]},
            "winner": figures(winner), "high_accuracy": figures(precise),
            "front": [c.name for c in front], "candidates": [c.figures() for c in candidates],
            "skipped": skipped, "record": str(record_file), "settings": to_dict(config), "minutes": round(minutes, 1),
            "machine": {k: result["machine"].get(k) for k in ("cpu", "cpu_kind", "physical_cores")},
            "threads": result["settings"].get("threads")}


def _p50(variant: dict[str, Any]) -> float:
    return next(e["p50_ms"] for e in variant["latency"] if e["workload"] == HEADLINE)


def candidate_table(summary: dict[str, Any]) -> str:
    base = next(c for c in summary["candidates"] if c["name"] == "baseline")
    rows = summary["data_roles"].get("validation", {}).get("rows")
    edge = base["score"] - summary["max_accuracy_drop"]
    # On a small validation role a budget decision turns on a few rows: the margin says how many.
    lines = [f"| candidate | made by | validation {summary['metric']} | Δ pts | rows from the budget's edge "
             f"| {HEADLINE} p50 ms (screen) | speed-up x | MB | on front |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for c in summary["candidates"]:
        if c["failed"]:
            lines.append(f"| {c['name']} | failed: {c['failed'][:80]} | | | | | | | |")
            continue
        margin = f"{(c['score'] - edge) * rows / 100:+.0f}" if rows else "-"
        lines.append(f"| {c['name']} | {' → '.join(c['chain'])} | {c['score']:.2f} | "
                     f"{c['score'] - base['score']:+.2f} | {margin} | {c['latency_ms']:.2f} | "
                     f"{base['latency_ms'] / c['latency_ms']:.2f} | {c['file_mb']:.1f} | "
                     f"{'yes' if c['name'] in summary['front'] else ''} |")
    return "\n".join(lines)


def outcome(summary: dict[str, Any]) -> str:
    metric = summary["metric"]
    base = summary["baseline_scores"]
    lines = [f"- Chosen on the validation role, reported on the test role ({metric}); baseline: validation "
             f"{base['validation']:.2f}, test {base['test']:.2f}. Roles: {summary['data_roles']['resolution']}"]
    ratio = summary["settings"]["min_size_ratio"]
    sized = f" and at least {ratio:g}x smaller" if ratio > 1 else ""
    for label, key in (("Winner (fastest within the budget of "
                        f"{summary['max_accuracy_drop']:g} point{sized})", "winner"),
                       ("High-accuracy point (fastest within "
                        f"{summary['settings']['high_accuracy_drop']:g} point)", "high_accuracy")):
        f = summary[key]
        if f is None:
            lines.append(f"- {label}: none found")
            continue
        low, high = f["test_interval_points"]
        flag = (f" **Its test drop exceeds the budget of {summary['max_accuracy_drop']:g} point.**"
                if f["test_over_budget"] else "")
        lines.append(f"- {label}: **{f['name']}** ({' → '.join(f['chain'])}): validation {f['validation_score']:.2f} "
                     f"({f['validation_delta_points']:+.2f}); test {f['test_score']:.2f} "
                     f"({f['test_delta_points']:+.2f} pts, 95% paired interval [{low:+.2f}, {high:+.2f}], "
                     f"{f['test_verdict']}; agreement {100 * f['test_agreement']:.1f}%); "
                     f"{f['speedup_b1xl128']:.2f}x at batch 1 length 128, "
                     f"{f['throughput_ratio_real_b32']:.2f}x throughput at batch 32 on real lengths "
                     f"({f['throughput_ratio_real_b32_bucketed_vs_baseline_plain']:.2f}x with length bucketing, "
                     f"against the baseline without), {f['size_ratio']:.2f}x smaller ({f['file_mb']:.1f} MB).{flag}"
                     + "".join(f" Against {k[3:]} (measured in the same run): {p['speedup_b1xl128']:.2f}x its speed at "
                               f"batch 1 length 128, its test change {p['test_delta_points']:+.2f} points."
                               for k, p in f.items() if k.startswith("vs_")))
    if summary["skipped"]:
        lines.append(f"- Not trained: {', '.join(summary['skipped'])}")
    if "winner_profile_failed" in summary:
        lines.append(f"- The winner's profile failed: {summary['winner_profile_failed']}")
    settings = summary["settings"]
    lines.append(f"- Policy: students train at least {settings['min_train_steps']} steps, with "
                 f"{settings['small_data_augment']} augmented copies per row below {settings['small_data']} "
                 f"training rows ({settings['augment']} above); a student outside the budget sends the search to "
                 "deeper ones")
    machine = summary.get("machine")
    if machine:
        lines.append(f"- Machine: {machine['cpu']} ({machine['cpu_kind']}: its int8 instructions decide what int8 "
                     f"gains), {summary['threads']} threads; every int8-or-fp32 choice follows what was measured here")
    lines.append(f"- Search time: {summary['minutes']} min (--time-budget {settings['time_budget']}); stage outputs "
                 f"cached in `{settings['workdir']}`")
    return "\n".join(lines)


def write(summary: dict[str, Any], record_file: Path, report_dir: str | Path, workdir: str | Path,
          log: Callable[[str], None]) -> None:
    """The search report (README.md, index.html, plots, search.json) in `report_dir`; if it cannot be written,
    search.json in `workdir`, with what failed."""
    table, outcome_text = candidate_table(summary), outcome(summary)
    sections = [("Search outcome", outcome_text, "<pre>" + html.escape(outcome_text) + "</pre>"),
                ("Every candidate (screening figures on validation, each measured alone)", table,
                 "<pre>" + html.escape(table) + "</pre>")]
    if "winner_profile" in summary:
        profile = profile_markdown(summary["winner_profile"])
        sections.append(("Where the winner's time goes", profile, "<pre>" + html.escape(profile) + "</pre>"))
    try:
        report = write_report([record_file], report_dir, title=f"compress search on {summary['baseline']}",
                              extra_sections=sections, chosen=(summary["winner"] or {}).get("name"))
    except Exception as exc:  # plotting and file writing: the winner is already saved; say what failed
        log(f"report failed ({exc.__class__.__name__}: {exc}); the search record is {record_file}")
        summary["report_failed"] = f"{exc.__class__.__name__}: {exc}"
        (Path(workdir) / SEARCH_RECORD).write_text(json.dumps(summary, indent=2, default=str) + "\n")
        return
    (report / SEARCH_RECORD).write_text(json.dumps(summary, indent=2, default=str) + "\n")
    log(f"report: {report / 'README.md'}")
