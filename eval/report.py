"""`compress report`: bench records -> a Markdown README, a self-contained HTML page and PNG plots."""

from __future__ import annotations

import argparse
import base64
import html
import os
from pathlib import Path
from typing import Any, Sequence

from compress.core.artifacts import atomic_output_dir
from compress.core.pareto import pareto_front
from compress.core.paths import portable_path
from compress.core.registry import Command, register
from compress.core.workloads import HEADLINE, HEADLINE_REAL
from eval import record

HEADLINE_WORKLOADS = (HEADLINE, HEADLINE_REAL)
FLIP_DIRECTIONS_SHOWN = 3


def _variants(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """All variants of all records; ratios stay relative to each record's own baseline."""
    out = []
    for rec in records:
        for v in rec["variants"]:
            out.append({**v, "_baseline": rec["variants"][0]["name"]})
    return out


def _latency(v: dict[str, Any], workload: str) -> dict[str, Any] | None:
    return next((e for e in v["latency"] if e["workload"] == workload), None)


def _headline_workload(variants: list[dict[str, Any]]) -> str:
    names = [e["workload"] for e in variants[0]["latency"]]
    return next((w for w in HEADLINE_WORKLOADS if w in names), names[0])


def _accuracy(v: dict[str, Any]) -> float | None:
    return v["accuracy"]["metrics"]["accuracy"] * 100 if "accuracy" in v else None


def _fmt(value: Any, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def main_table(variants: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    workload = _headline_workload(variants)
    head = ["variant", "made by", "backend", "precision", "accuracy %", "Δ pts", "agreement %", "size MB", "size x",
            "peak RSS MB", f"{workload} p50 ms", "p90 ms", "p99 ms", "speed-up x", f"{HEADLINE_REAL} seq/s",
            "throughput x"]
    rows = []
    for v in variants:
        acc = v.get("accuracy", {})
        lat, real = _latency(v, workload), _latency(v, HEADLINE_REAL)
        rows.append([v["name"], " ← ".join(step["stage"] for step in v.get("lineage", [])) or "-", v["backend"],
                     v["precision"], _fmt(_accuracy(v)), _fmt(acc.get("accuracy_delta_points"), "+.2f"),
                     _fmt(acc.get("agreement", None) and acc["agreement"] * 100, ".1f"),
                     _fmt(v["size"]["file_bytes"] / 1e6, ".1f"), _fmt(v["size"].get("size_ratio")),
                     _fmt(v.get("memory", {}).get("peak_rss_mb"), ".0f"),
                     _fmt(lat and lat["p50_ms"]), _fmt(lat and lat["p90_ms"]), _fmt(lat and lat["p99_ms"]),
                     _fmt(lat and lat.get("speedup_p50")), _fmt(real and real["seq_per_s"], ".1f"),
                     _fmt(real and real.get("throughput_ratio"))])
    return head, rows


def roles_table(variants: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Validation (what chose) beside test (what is reported), with each test drop's paired interval."""
    if not any("validation" in v for v in variants):
        return [], []
    head = ["variant", "validation score %", "Δ pts", "test score %", "Δ pts", "95% paired interval", "verdict",
            "test agreement %"]
    rows = []
    for v in variants:
        val, test = v.get("validation", {}), v.get("accuracy", {})
        paired = test.get("paired", {})
        interval = paired.get("interval_points")
        rows.append([v["name"], _fmt(val and val["metrics"]["score"] * 100),
                     _fmt(val.get("paired", {}).get("delta_points"), "+.2f"),
                     _fmt(test and test["metrics"].get("score", test["metrics"]["accuracy"]) * 100),
                     _fmt(paired.get("delta_points"), "+.2f"),
                     f"[{interval[0]:+.2f}, {interval[1]:+.2f}]" if interval else "-", paired.get("verdict", "-"),
                     _fmt(test.get("agreement") and test["agreement"] * 100, ".1f")])
    return head, rows


def latency_table(variants: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    head = ["variant", "workload", "runs", "p50 ms", "p90 ms", "p99 ms", "seq/s", "speed-up x (p50)"]
    rows = [[v["name"], e["workload"], str(e["runs"]), _fmt(e["p50_ms"]), _fmt(e["p90_ms"]), _fmt(e["p99_ms"]),
             _fmt(e["seq_per_s"], ".1f"), _fmt(e.get("speedup_p50"))] for v in variants for e in v["latency"]]
    return head, rows


def scorecard_table(variants: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Fidelity, calibration, robustness and out-of-domain accuracy: is it still the same model?"""
    carded = [v for v in variants if "scorecard" in v]
    if not carded:
        return [], []
    noise = [(r["perturbation"], r["rate"]) for r in carded[0]["scorecard"]["robustness"]]
    extra = [o["data"] for o in carded[0]["scorecard"]["out_of_domain"]]
    head = ["variant", "agreement %", "flips (largest directions)", "KL mean", "ECE", "confidence / accuracy %"]
    head += [f"{k}@{r:g} drop pts" for k, r in noise] + [f"OOD {name} acc %" for name in extra]
    rows = []
    for v in carded:
        card = v["scorecard"]
        fid, cal = card["fidelity"], card["calibration"]
        row = [v["name"], _fmt(fid["agreement"] * 100, ".1f"), flips_cell(fid),
               _fmt(fid["kl_mean"], ".4f"), _fmt(cal["ece"], ".4f"),
               f"{cal['mean_confidence'] * 100:.1f} / {cal['accuracy'] * 100:.1f}"]
        row += [_fmt(r["drop_points"], "+.2f") for r in card["robustness"]]
        row += [_fmt(o["accuracy"] * 100) for o in card["out_of_domain"]]
        rows.append(row)
    return head, rows


def _robustness_rows(variants: list[dict[str, Any]]) -> str:
    """How many test rows the perturbed copies scored, when a sample (records before 2026-12-08 name none)."""
    card = next((v["scorecard"] for v in variants if v.get("scorecard", {}).get("robustness")), None)
    test = next((len(v["accuracy"]["labels"]) for v in variants if "labels" in v.get("accuracy", {})), None)
    rows = card["robustness"][0].get("rows") if card else None
    return f", on a seeded sample of {rows} test rows, against the same rows unperturbed" \
        if rows is not None and rows != test else ""


def flips_cell(fid: dict[str, Any]) -> str:
    """The number of flips and its few largest directions: all ordered pairs of classes would not fit a table."""
    # Records written before fidelity dropped the empty directions still list every pair, unsorted.
    directions = sorted(((k, n) for k, n in fid["flips_by_direction"].items() if n), key=lambda item: -item[1])
    if not directions:
        return str(fid["flips"])
    shown = ", ".join(f"{k}: {n}" for k, n in directions[:FLIP_DIRECTIONS_SHOWN])
    rest = directions[FLIP_DIRECTIONS_SHOWN:]
    if rest:
        shown += f"; {sum(n for _, n in rest)} more in {len(rest)} other direction{'s' * (len(rest) > 1)}"
    return f"{fid['flips']} ({shown})"


def _markdown_table(head: list[str], rows: list[list[str]]) -> str:
    rule = "|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|"
    lines = ["| " + " | ".join(head) + " |", rule]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _html_table(head: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


MARKERS = "osD^vP*Xph<>"


def _plain_ms_axis(axis, values: Sequence[float]) -> None:
    """A log axis labelled in plain milliseconds (2, 5, 10, 20), never 2x10^1: denser steps on a narrow range."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    positive = [v for v in values if v and v > 0] or [1.0]
    narrow = max(positive) / min(positive) < 30
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 1.5, 2.0, 3.0, 5.0, 7.0) if narrow else (1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _budget(variants: list[dict[str, Any]]) -> float | None:
    # Records before 2026-12-03 name the budget budget_points.
    return next((paired.get("max_accuracy_drop", paired.get("budget_points")) for v in variants
                 for paired in [v.get("accuracy", {}).get("paired", {})]
                 if "max_accuracy_drop" in paired or "budget_points" in paired), None)


def _accuracy_plot(variants: list[dict[str, Any]], workload: str, chosen: str | None, plt) -> Any | None:
    """Test drop against latency: each variant a marker listed in the legend (labels never overlap), its paired 95%
    interval as an error bar, the budget as a line, the Pareto front and the chosen variant marked."""
    scored = [(v, _latency(v, workload)["p50_ms"]) for v in variants
              if _accuracy(v) is not None and _latency(v, workload)]
    if not scored:
        return None
    paired = all("paired" in v["accuracy"] for v, _ in scored[1:])
    fig, ax = plt.subplots(figsize=(10, 5))
    points = []
    for i, (v, ms) in enumerate(scored):
        if paired:
            p = v["accuracy"].get("paired", {"delta_points": 0.0, "interval_points": [0.0, 0.0]})
            y, (low, high) = p["delta_points"], p["interval_points"]
            err = [[y - low], [high - y]]
        else:
            y, err = _accuracy(v), None
        points.append((ms, y))
        label = v["name"] + (" (baseline)" if i == 0 and v["name"] != "baseline" else "")
        ax.errorbar([ms], [y], yerr=err, fmt=MARKERS[i % len(MARKERS)], color=f"C{i % 10}", markersize=7, capsize=3,
                    label=label, zorder=3)
    front = pareto_front(points)
    ax.plot([points[i][0] for i in front], [points[i][1] for i in front], "-", color="#999", lw=1, zorder=1,
            label="Pareto front")
    budget = _budget(variants)
    if paired:
        ax.axhline(0, color="#555", lw=0.8)
        if budget is not None:
            ax.axhline(-budget, color="#d62728", ls="--", lw=1.2,
                       label=f"budget: -{budget:g} point{'s' * (budget != 1)}")
    for (v, ms), (_, y) in zip(scored, points):
        if v["name"] == chosen:
            ax.scatter([ms], [y], s=300, facecolors="none", edgecolors="black", linewidths=1.5, zorder=4,
                       label=f"chosen: {chosen}")
    ax.set_xscale("log")
    _plain_ms_axis(ax.xaxis, [ms for ms, _ in points])
    ax.set_xlabel(f"latency p50 at {workload} (ms, log scale)")
    ax.set_ylabel("test change vs baseline (points, 95% paired interval)" if paired else "accuracy (%)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    ax.set_title("Accuracy against latency")
    return fig


def plots(variants: list[dict[str, Any]], out: Path, chosen: str | None = None) -> dict[str, Path]:
    """accuracy_vs_latency.png (front, intervals, budget, `chosen` marked), latency_per_shape.png, size.png,
    reliability.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = {}
    workload = _headline_workload(variants)
    names = [v["name"] for v in variants]
    fig = _accuracy_plot(variants, workload, chosen, plt)
    if fig is not None:
        files["accuracy_vs_latency"] = out / "accuracy_vs_latency.png"
        fig.tight_layout()
        fig.savefig(files["accuracy_vs_latency"], dpi=110)
        plt.close(fig)

    workloads = [e["workload"] for e in variants[0]["latency"]]
    fig, ax = plt.subplots(figsize=(max(7, len(workloads) * 1.4) + 3, 4.5))
    width = 0.8 / len(variants)
    for i, v in enumerate(variants):
        values = [(_latency(v, w) or {}).get("p50_ms", 0) for w in workloads]
        ax.bar([x + i * width for x in range(len(workloads))], values, width, label=v["name"])
    ax.set_xticks([x + width * (len(variants) - 1) / 2 for x in range(len(workloads))], workloads, rotation=20)
    ax.set_yscale("log")
    _plain_ms_axis(ax.yaxis, [(_latency(v, w) or {}).get("p50_ms", 0) for v in variants for w in workloads])
    ax.set_ylabel("p50 latency per batch (ms, log scale)")
    ax.set_title("Latency per shape")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    ax.grid(axis="y", alpha=0.3)
    files["latency_per_shape"] = out / "latency_per_shape.png"
    fig.tight_layout()
    fig.savefig(files["latency_per_shape"], dpi=110)
    plt.close(fig)

    carded = [v for v in variants if "scorecard" in v]
    if carded:
        fig, ax = plt.subplots(figsize=(9, 5))
        ax.plot([0, 1], [0, 1], "--", color="#999", label="perfect calibration")
        for v in carded:
            table = v["scorecard"]["calibration"]["reliability"]
            ax.plot([b["confidence"] for b in table], [b["accuracy"] for b in table], "-o", markersize=3,
                    label=f"{v['name']} (ECE {v['scorecard']['calibration']['ece']:.3f})")
        ax.set_xlabel("mean confidence in bin")
        ax.set_ylabel("accuracy in bin")
        ax.set_title(f"Reliability diagram ({carded[0]['scorecard']['calibration']['bins']} bins)")
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
        ax.grid(alpha=0.3)
        files["reliability"] = out / "reliability.png"
        fig.tight_layout()
        fig.savefig(files["reliability"], dpi=110)
        plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.barh(names, [v["size"]["file_bytes"] / 1e6 for v in variants], color="#1f77b4")
    ax.invert_yaxis()
    ax.set_xlabel("file size (MB)")
    ax.set_title("Size per variant")
    files["size"] = out / "size.png"
    fig.tight_layout()
    fig.savefig(files["size"], dpi=110)
    plt.close(fig)
    return files


def _machine_lines(records: Sequence[dict[str, Any]]) -> list[str]:
    lines = []
    for rec in records:
        m, s = rec["machine"], rec["settings"]
        flags = ", ".join(f for f, on in m.get("int8_flags", {}).items() if on) or "none"
        gpus = "; ".join(f"{g['name']} (driver {g['driver']})" for g in m.get("gpus", [])) or "none"
        versions = ", ".join(f"{k} {v}" for k, v in m.get("versions", {}).items())
        lines += [f"- **{rec['created']}**: {m.get('cpu')} ({m.get('physical_cores')} physical cores), "
                  f"{s.get('threads')} intra-op threads, device {s.get('device')}; int8-relevant CPU flags: {flags}; "
                  f"GPUs: {gpus}; ONNX Runtime providers: {', '.join(m.get('onnxruntime_providers', []))}",
                  f"  - data: {rec['data'].get('source')}; "
                  f"isolation: {s.get('isolation')}", f"  - versions: {versions}"]
    return lines


def _lineage_lines(variants: list[dict[str, Any]]) -> list[str]:
    lines = []
    for v in variants:
        steps = []
        for step in v.get("lineage", []):
            settings = ", ".join(f"{k}={val}" for k, val in step.get("settings", {}).items())
            steps.append(f"{step['stage']}" + (f" ({settings})" if settings else "") + f" `{step['path']}`")
        lines.append(f"- **{v['name']}**: " + (" ← ".join(steps) or "no manifest"))
    return lines


def write_report(record_files: Sequence[str | os.PathLike], output: str | os.PathLike, title: str = "compress report",
                 extra_sections: Sequence[tuple[str, str, str]] = (), chosen: str | None = None) -> Path:
    """Write README.md, index.html and the PNG plots into `output` (replaced as a whole).

    `extra_sections` are (heading, markdown, html) triples appended by other harness parts; `chosen` names the
    variant a search chose, marked in the plots.
    """
    records = [record.load(f) for f in record_files]
    variants = _variants(records)
    with atomic_output_dir(output, overwrite=True) as tmp:
        for i, rec in enumerate(records):
            record.write(rec, tmp / ("bench.json" if len(records) == 1 else f"bench-{i + 1}.json"))
        files = plots(variants, tmp, chosen)
        main_head, main_rows = main_table(variants)
        lat_head, lat_rows = latency_table(variants)
        sources = ", ".join(f"`{portable_path(f)}`" for f in record_files)
        md = [f"# {title}", "", f"Generated by `compress report` from {sources}. Ratios (Δ, size x, speed-up x, "
              f"throughput x) compare each variant with the first variant of its bench run "
              f"(`{variants[0]['_baseline']}`), measured side by side.", "", "## Variants", "",
              _markdown_table(main_head, main_rows), ""]
        md += [f"![{name}]({path.name})" for name, path in files.items()]
        roles_head, roles_rows = roles_table(variants)
        if roles_rows:
            data = records[0]["data"]
            md += ["", "## Validation chooses, test reports", "", f"Scores in {data.get('metric', 'accuracy')}; "
                   f"{data.get('roles', {}).get('resolution', '')}. Each Δ is the variant minus its run's baseline on "
                   "the same rows; the interval is a seeded paired bootstrap of the test Δ.", "",
                   _markdown_table(roles_head, roles_rows)]
        card_head, card_rows = scorecard_table(variants)
        if card_rows:
            md += ["", "## Scorecard: is it still the same model?", "", "Agreement, flips and KL divergence compare "
                   "each variant's predictions with its run's baseline on the test role; ECE uses equal-width "
                   "confidence bins; robustness is the accuracy drop on seeded perturbed eval text"
                   f"{_robustness_rows(variants)} (see `eval/robustness.py` for what each perturbation changes).",
                   "",
                   _markdown_table(card_head, card_rows)]
        md += ["", "## Latency per workload", "", _markdown_table(lat_head, lat_rows), "", "## Lineage", ""]
        md += _lineage_lines(variants) + ["", "## Machine and settings", ""] + _machine_lines(records)
        for heading, markdown, _ in extra_sections:
            md += ["", f"## {heading}", "", markdown]
        (tmp / "README.md").write_text("\n".join(md) + "\n")

        images = "".join(f'<figure><img alt="{n}" src="data:image/png;base64,'
                         f'{base64.b64encode(p.read_bytes()).decode()}"><figcaption>{n.replace("_", " ")}'
                         f"</figcaption></figure>" for n, p in files.items())
        lineage = "".join(f"<li>{html.escape(line[2:]).replace('**', '')}</li>" for line in _lineage_lines(variants))
        machine = "".join(f"<li>{html.escape(line.strip()[2:]).replace('**', '')}</li>"
                          for line in _machine_lines(records))
        extra = "".join(f"<h2>{html.escape(h)}</h2>{body}" for h, _, body in extra_sections)
        page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>
body{{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1400px}}
table{{border-collapse:collapse;font-size:13px;margin:1em 0}}
th,td{{border:1px solid #ccc;padding:4px 8px;text-align:right}}
th{{background:#f3f3f3}}td:first-child,th:first-child{{text-align:left}}
figure{{display:inline-block;margin:1em;max-width:100%;vertical-align:top}}img{{max-width:100%}}</style></head><body><h1>{html.escape(title)}</h1>
<p>Ratios compare each variant with the first variant of its bench run, measured side by side.</p>
<h2>Variants</h2>{_html_table(main_head, main_rows)}
{"<h2>Validation chooses, test reports</h2>" + _html_table(roles_head, roles_rows) if roles_rows else ""}
<h2>Plots</h2>{images}
{"<h2>Scorecard</h2>" + _html_table(card_head, card_rows) if card_rows else ""}
<h2>Latency per workload</h2>{_html_table(lat_head, lat_rows)}<h2>Lineage</h2><ul>{lineage}</ul>
<h2>Machine and settings</h2><ul>{machine}</ul>{extra}</body></html>"""
        (tmp / "index.html").write_text(page)
    return Path(output)


def _arguments(parser: argparse.ArgumentParser):
    parser.add_argument("records", nargs="+", metavar="RESULTS", help="bench JSON records (compress bench -o)")
    parser.add_argument("-o", "--output", required=True, help="report directory (replaced as a whole)")
    parser.add_argument("--title", default="compress report", help="report title")

    def run(args: argparse.Namespace) -> None:
        print(f"wrote {write_report(args.records, args.output, args.title)}/README.md and index.html")
    return run


register(Command(
    "report", None, write_report, "turn bench records into a Markdown + HTML report with plots",
    "Write README.md, a self-contained index.html and PNG plots (accuracy vs latency with the Pareto front, latency "
    "per shape, size per variant) from bench records.", form="tool", arguments=_arguments))
