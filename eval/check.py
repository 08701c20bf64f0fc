"""`compress check`: the regression gate between a candidate bench record and a committed baseline.

Latency is never compared as absolute time across machines: each variant's p50 is divided by the
p50 of a reference variant measured in the same run, and those relative figures are compared.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from typing import Any

from compress.core.budget import within_budget
from compress.core.config import Settings, add_arguments, from_args, option
from compress.core.errors import CompressError
from compress.core.registry import Command, register
from eval import record
from eval.machine import cpu_kind


@dataclass
class Tolerances(Settings):
    """How much worse than the baseline a candidate may be before the gate fails."""

    max_accuracy_drop: float = option(0.5, "points by which a variant's accuracy drop against its run's reference "
                                           "may exceed the baseline record's", interval="[0, inf)")
    max_reference_accuracy_drop: float = option(2.0, "accuracy points the reference variant itself may lose against "
                                                     "the baseline record's (it may be retrained)", interval="[0, inf)")
    max_latency_increase: float = option(0.15, "relative increase allowed in latency relative to the reference "
                                               "variant (0.15 = 15%)", interval="[0, inf)")
    max_size_increase: float = option(0.02, "relative increase allowed in file size", interval="[0, inf)")
    max_memory_increase: float = option(0.25, "relative increase allowed in peak memory above the interpreter's own",
                                        interval="[0, inf)")
    max_agreement_drop: float = option(2.0, "points of label agreement with the run's reference a variant may lose",
                                       interval="[0, inf)")
    max_flip_rate: float | None = option(None, "largest fraction of eval predictions a variant may flip against "
                                               "its run's reference (e.g. 0.03)", interval="[0, 1]")
    max_ece_increase: float = option(0.03, "increase allowed in expected calibration error", interval="[0, inf)")
    reference: str | None = option(None, "variant whose latency the others are divided by (default: each record's "
                                         "first variant)")
    workloads: list[str] = option([], "latency workloads to compare (default: all present in both records)")


def _by_name(rec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in rec["variants"]}


def _relative_latency(rec: dict[str, Any], reference: str) -> dict[str, dict[str, float]]:
    variants = _by_name(rec)
    if reference not in variants:
        raise CompressError(f"reference variant {reference!r} is not in the record ({', '.join(variants)})")
    ref = {e["workload"]: e["p50_ms"] for e in variants[reference]["latency"]}
    return {name: {e["workload"]: e["p50_ms"] / ref[e["workload"]] for e in v["latency"] if e["workload"] in ref}
            for name, v in variants.items()}


def pick_baseline(candidate: dict[str, Any], baselines: list[dict[str, Any]]) -> tuple[dict[str, Any], bool]:
    """The baseline recorded on the candidate's kind of CPU, and whether there was one (else the first).

    Latency ratios between PyTorch and ONNX Runtime, and int8's above all, depend on the kind of CPU: the quick
    pipeline's int8 graph ran at 0.42x the teacher's batch-32 latency on an AMD EPYC with AVX-512 VNNI and at
    0.62x on one with AVX2 only.
    """
    kind = cpu_kind(candidate["machine"])
    same = [b for b in baselines if cpu_kind(b["machine"]) == kind]
    return (same[0], True) if same else (baselines[0], False)


def check(candidate: dict[str, Any], baseline: dict[str, Any], tol: Tolerances,
          compare_latency: bool = True) -> dict[str, Any]:
    """Compare every variant the baseline has; a variant missing from the candidate is itself a failure.

    Latency and peak memory (ONNX Runtime's kernels and their packed weights differ by instruction set) are gated
    only with `compare_latency`, a baseline from the same kind of CPU; otherwise the latency ratios are reported
    beside the other kind's, not gated."""
    reference = tol.reference or baseline["variants"][0]["name"]
    base_rel, cand_rel = _relative_latency(baseline, reference), _relative_latency(candidate, reference)
    base_v, cand_v = _by_name(baseline), _by_name(candidate)
    failures, checks, ungated = [], [], []

    def compare(variant: str, metric: str, base: float, cand: float, limit: float, worse_if_higher: bool) -> None:
        # Every limit is compared as the accuracy budget is everywhere (compress.core.budget.within_budget).
        regressed = not within_budget(cand - limit if worse_if_higher else limit - cand, 0.0)
        entry = {"variant": variant, "metric": metric, "baseline": base, "candidate": cand, "limit": limit,
                 "regressed": regressed}
        checks.append(entry)
        if regressed:
            failures.append(entry)

    for name, base in base_v.items():
        cand = cand_v.get(name)
        if cand is None:
            failures.append({"variant": name, "metric": "present", "baseline": True, "candidate": False,
                             "regressed": True})
            continue
        if "accuracy" in base and "accuracy" in cand:
            # Paired: each variant against the reference of its own run, so a retrained reference's spread
            # moves both sides of the comparison and only what the compression costs is gated.
            if name == reference:
                b, c = base["accuracy"]["metrics"]["accuracy"] * 100, cand["accuracy"]["metrics"]["accuracy"] * 100
                compare(name, "accuracy", b, c, b - tol.max_reference_accuracy_drop, worse_if_higher=False)
            elif reference in cand_v and "accuracy" in base_v[reference]:
                b, c = _accuracy_drop(base_v, name, reference), _accuracy_drop(cand_v, name, reference)
                compare(name, f"accuracy drop vs {reference} (points)", b, c, b + tol.max_accuracy_drop,
                        worse_if_higher=True)
            if name != reference and "agreement" in base["accuracy"] and "agreement" in cand["accuracy"]:
                b, c = base["accuracy"]["agreement"] * 100, cand["accuracy"]["agreement"] * 100
                compare(name, "agreement", b, c, b - tol.max_agreement_drop, worse_if_higher=False)
        if "scorecard" in base and "scorecard" in cand:
            b, c = base["scorecard"]["calibration"]["ece"], cand["scorecard"]["calibration"]["ece"]
            compare(name, "ece", b, c, b + tol.max_ece_increase, worse_if_higher=True)
        if tol.max_flip_rate is not None and "scorecard" in cand and name != reference:
            b = base.get("scorecard", {}).get("fidelity", {}).get("flip_rate", 0.0)
            compare(name, "flip_rate", b, cand["scorecard"]["fidelity"]["flip_rate"], tol.max_flip_rate,
                    worse_if_higher=True)
        b, c = base["size"]["file_bytes"], cand["size"]["file_bytes"]
        compare(name, "file_bytes", b, c, b * (1 + tol.max_size_increase), worse_if_higher=True)
        if "memory" in base and "memory" in cand and compare_latency:
            b, c = base["memory"]["peak_increment_mb"], cand["memory"]["peak_increment_mb"]
            compare(name, "peak_memory_mb", b, c, b * (1 + tol.max_memory_increase), worse_if_higher=True)
        if name == reference:
            continue
        shared = [w for w in base_rel[name]
                  if w in cand_rel.get(name, {}) and (not tol.workloads or w in tol.workloads)]
        for workload in shared:
            b, c = base_rel[name][workload], cand_rel[name][workload]
            metric = f"latency/{workload} (x {reference})"
            if compare_latency:
                compare(name, metric, b, c, b * (1 + tol.max_latency_increase), worse_if_higher=True)
            else:
                ungated.append(f"  {name} {metric}: {c:.4g} (on {cpu_kind(baseline['machine'])}: {b:.4g})")
    notes = [] if compare_latency else [
        f"no baseline for this kind of CPU ({cpu_kind(candidate['machine'])}), so against the one from "
        f"{cpu_kind(baseline['machine'])} accuracy, agreement, size and variants are gated and latency and memory "
        "only reported (record a baseline on this kind with compress bench):", *ungated]
    return {"passed": not failures, "reference": reference, "failures": failures, "checks": checks, "notes": notes,
            "cpu_kind": cpu_kind(candidate["machine"]), "baseline_cpu_kind": cpu_kind(baseline["machine"])}


def _accuracy_drop(variants: dict[str, dict[str, Any]], name: str, reference: str) -> float:
    accuracy = {key: variants[key]["accuracy"]["metrics"]["accuracy"] for key in (reference, name)}
    return 100 * (accuracy[reference] - accuracy[name])


def describe(summary: dict[str, Any]) -> list[str]:
    """One line per regressed metric, or one line saying all passed."""
    notes = summary.get("notes", [])
    if summary["passed"]:
        return [f"check passed: {len(summary['checks'])} comparisons within tolerance "
                f"(latency relative to {summary['reference']})", *notes]
    lines = list(notes)
    for f in summary["failures"]:
        if f["metric"] == "present":
            lines.append(f"REGRESSION {f['variant']}: variant missing from the candidate record")
        else:
            lines.append(f"REGRESSION {f['variant']} {f['metric']}: {f['candidate']:.4g} vs baseline "
                         f"{f['baseline']:.4g} (limit {f['limit']:.4g})")
    return lines


def _arguments(parser: argparse.ArgumentParser):
    parser.add_argument("candidate", help="bench record of the change under test")
    parser.add_argument("--baseline", required=True, nargs="+", help="committed bench records to compare with, one "
                        "per kind of CPU; the one from the candidate's CPU is used")
    add_arguments(parser, Tolerances)
    parser.add_argument("--summary", help="also write the machine-readable summary (JSON) here")

    def run(args: argparse.Namespace) -> None:
        tolerances = from_args(Tolerances, args)
        candidate = record.load(args.candidate)
        baseline, same_cpu = pick_baseline(candidate, [record.load(b) for b in args.baseline])
        summary = check(candidate, baseline, tolerances, compare_latency=same_cpu)
        if args.summary:
            with open(args.summary, "w") as fh:
                json.dump(summary, fh, indent=1)
        print("\n".join(describe(summary)))
        if not summary["passed"]:
            raise SystemExit(1)
    return run


register(Command(
    "check", Tolerances, check, "regression gate: fail when a candidate is slower, larger or less accurate",
    "Compare a candidate bench record with a committed baseline record. Exits 1 and names each regressed metric; "
    "latency is compared relative to a reference variant measured in the same run, never as absolute times, and only "
    "against a baseline from the same kind of CPU.", form="tool", arguments=_arguments))
