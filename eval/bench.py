"""`compress bench`: accuracy, latency and memory of several variants, side by side in one run."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compress.core.artifacts import ancestors, hash_path
from compress.core.config import option, to_dict
from compress.core.data import DataConfig, load_split
from compress.core.errors import CompressError
from compress.core.metrics import Metric
from compress.core.models import LoadSettings
from compress.core.onnx_model import is_onnx_model, onnx_file
from compress.core.paths import portable_path
from compress.core.progress import note
from compress.core.registry import Command, register
from compress.core.roles import load_roles, resolve_data
from compress.core.serving import model_dir
from compress.core.workloads import HEADLINE, HEADLINE_REAL, fixed_name
from eval import accuracy, calibration, fidelity, latency, machine, memory, paired, record, robustness
from eval.peer import PEERS, peer_model
from eval.runners import VariantSpec, open_runner

# Phased runs alternate PyTorch and ONNX blocks this many times, so a change in the machine's speed during
# the run reaches both sides: with one block each, an ONNX phase once ran 1.65x slower than the run before it.
PHASE_BLOCKS = 3
# Where each role's scores sit in a variant's record: "accuracy" is the reported (test) role.
SCORE_KEYS = {"test": "accuracy", "validation": "validation"}


def isolation(spinning: bool, settle_ms: float, turn_ms: float, phased: bool) -> str:
    if not spinning:
        order = "variants interleaved round by round in one process, ONNX Runtime intra-op spinning off"
    elif phased:
        order = (f"in one process, for each workload {PHASE_BLOCKS} alternating blocks of the PyTorch variants "
                 f"(interleaved, no ONNX Runtime session open) and the ONNX variants (interleaved, intra-op "
                 f"spinning on, turns of at least {turn_ms:g} ms, a {settle_ms:g} ms untimed pause after each "
                 f"turn)")
    else:
        order = (f"variants interleaved round by round in one process, ONNX Runtime intra-op spinning on, turns "
                 f"of at least {turn_ms:g} ms, {settle_ms:g} ms untimed pause after each variant's turn")
    return f"{order}; memory of each variant in a fresh subprocess"


@dataclass
class BenchConfig(LoadSettings, DataConfig):
    """Settings of `compress bench`."""

    unused = ("max_train_examples",)

    threads: int | None = option(None, "intra-op threads for every backend (default: the physical cores)",
                                 interval="[1, inf)")
    device: str = option("cpu", "where to run", choices=("cpu", "cuda"))
    batch_sizes: list[int] = option([1, 8, 32], "batch sizes of the fixed-shape latency grid", interval="[1, inf)")
    lengths: list[int] = option([32, 128], "sequence lengths of the fixed-shape latency grid", interval="[1, inf)")
    real_batch_sizes: list[int] = option([1, 32], "batch sizes for the scored rows' real lengths (dynamic padding)",
                                         interval="[1, inf)")
    real_examples: int = option(256, "scored rows (test, else validation) used for the real-length workloads",
                                interval="[1, inf)")
    bucket: bool = option(False, "also time real lengths with length-sorted batches (sequence bucketing)")
    warmup: int = option(3, "untimed passes per variant and workload", interval="[0, inf)")
    # The minimums: fewer runs and shorter spans gave medians and ratios 12-21% apart between repeated runs
    # (reports/history/sst2-teacher).
    min_runs: int = option(30, "timed passes per variant and fixed-shape workload, at least", interval="[1, inf)")
    real_min_runs: int = option(15, "timed passes over the real-length rows, at least", interval="[1, inf)")
    min_time: float = option(3.0, "timed seconds per variant and workload, at least", interval="[0, inf)")
    workload_seconds: float = option(10.0, "most seconds per variant and workload spent narrowing the median's "
                                           "interval to 1% once the minimums are done", interval="[0, inf)")
    # Spinning is ONNX Runtime's own default and what a latency-bound server runs. PyTorch timed next to live
    # spinning threads ran up to 2.6x slower, so PyTorch variants are then timed in separate blocks, and after
    # 20 ms the previous variant's threads still spun, hence the pause (reports/history/sst2-search).
    ort_spinning: bool = option(False, "let ONNX Runtime's intra-op threads spin between operators, with PyTorch "
                                       "variants timed in separate blocks")
    settle_ms: float = option(100.0, "with --ort-spinning: untimed pause after each variant's turn, in milliseconds",
                              interval="[0, inf)")
    # Long enough that a variant's cold first pass after the pause is one of many.
    turn_ms: float = option(500.0, "with --ort-spinning: shortest turn of each variant, in milliseconds",
                            interval="[0, inf)")
    max_length: int = option(128, "tokens per example when scoring accuracy and building real-length batches",
                             interval="[5, inf)")
    accuracy: bool = option(True, "score each variant on the data roles of --roles")
    roles: list[str] = option(["validation", "test"], "data roles scored: validation (what choices are made on) "
                                                      "and/or test (what is reported)")
    max_accuracy_drop: float | None = option(None, "budget: most points of --metric a variant may lose; its verdict "
                                                   "says if its drop is inside with confidence", interval="[0, inf)")
    bootstrap: int = option(2000, "resamples of the paired bootstrap interval of each variant's drop (seed 0)",
                            interval="[1, inf)")
    memory: bool = option(True, "measure peak memory of each variant in a fresh subprocess")
    names: list[str] = option([], "display names for the variants, in order (default: directory names)")
    calibration_bins: int = option(15, "equal-width confidence bins for the expected calibration error",
                                   interval="[1, inf)")
    perturbations: list[str] = option(["typos", "word_dropout", "case"], "robustness checks on perturbed eval "
                                      "text (typos, word_dropout, case); give 'none' to skip")
    perturbation_rates: list[float] = option([0.05, 0.15], "fraction of characters (typos) or words changed",
                                             interval="[0, 1]")
    perturbation_rows: int | None = option(None, "score each perturbed copy on a seeded sample of this many test "
                                                 "rows, its drop against the same rows (default: all)",
                                           interval="[1, inf)")
    peer: list[str] = option([], "peer tools whose int8 of the baseline checkpoint is timed beside the variants "
                                 "(optimum: its preset for this CPU)", choices=PEERS)
    peer_workdir: str = option("artifacts/peers", "where peer models are made; one is reused while the baseline "
                                                  "and the CPU kind are unchanged")
    extra_eval: list[str] = option([], "extra labelled evaluation sets (any source --data takes, optionally "
                                       "SOURCE:SPLIT), scored separately as out-of-domain accuracy")


def _on_disk(spec: VariantSpec, config: BenchConfig) -> VariantSpec:
    """A variant given as a hub model id, as its snapshot in the local hub cache (named as given)."""
    if spec.path.exists():
        return spec
    return dataclasses.replace(spec, path=Path(config.resolve(str(spec.path))), name=spec.label)


def bench(models: list[str], config: BenchConfig, progress: bool = True) -> dict[str, Any]:
    """Measure every model the same way; the first is the baseline that ratios refer to."""
    import torch

    if not models:
        raise CompressError("give at least one model to bench")
    if config.names and len(config.names) != len(models):
        raise CompressError(f"{len(config.names)} names for {len(models)} models")
    threads = config.threads or machine.physical_cores()
    torch.set_num_threads(threads)
    specs = [_on_disk(VariantSpec.parse(m, config.names[i] if config.names else None), config)
             for i, m in enumerate(models)]
    for name in config.peer:
        if is_onnx_model(specs[0].path):
            raise CompressError(f"--peer {name} makes its model from the baseline, which must be a fine-tuned "
                                "checkpoint directory, not an ONNX model")
        specs.append(VariantSpec(peer_model(name, specs[0].path, config.peer_workdir), None, f"{name}-int8-peer"))
    runners = [open_runner(s, config.device, threads, config.ort_spinning, config.allow_pickle) for s in specs]
    phased = config.ort_spinning and len({r.backend for r in runners}) > 1
    if not set(config.roles) <= {"validation", "test"} or not config.roles:
        raise CompressError(f"--roles takes validation and/or test, got {' '.join(config.roles)}")
    config = resolve_data(config, model_dir(specs[0].path))
    roles = load_roles(config)
    scored = {role: getattr(roles, role) for role in ("validation", "test") if role in config.roles}
    data = scored.get("test", scored.get("validation"))
    features = [accuracy.features_for(r, data, config.max_length) for r in runners]
    started = time.time()

    variants = [{**r.describe(), "sha256": hash_path(model_file(r.spec.path)), "lineage": lineage(r.spec.path),
                 "size": {"file_bytes": memory.file_bytes(model_file(r.spec.path)),
                          "parameters": memory.parameter_count(r.spec.path)},
                 "latency": []} for r in runners]

    say = note if progress else (lambda _: None)
    scoring = time.time()
    if config.accuracy:
        say(f"bench: scoring {len(runners)} variants on {' and '.join(scored)}")
        for role, rows in scored.items():
            for runner, variant, timed in zip(runners, variants, features):
                # The role the latency workloads read is already tokenized; only the other one is tokenized here.
                feats = timed if rows is data else accuracy.features_for(runner, rows, config.max_length)
                variant[SCORE_KEYS[role]] = accuracy.score(runner, feats, Metric.parse(config.metric,
                                                                                       runner.labels.names))
        if "test" in scored:
            _scorecard(runners, data, features, variants, config)
    scoring = time.time() - scoring

    settle = config.settle_ms / 1000 if config.ort_spinning else 0.0
    turn = config.turn_ms / 1000 if config.ort_spinning else 0.0
    settings = latency.LatencySettings(config.warmup, config.min_runs, 1000, config.workload_seconds, config.min_time,
                                       settle_s=settle, min_turn_s=turn)
    real_settings = latency.LatencySettings(config.warmup and 1, config.real_min_runs, 1000, config.workload_seconds,
                                            config.min_time, settle_s=settle, min_turn_s=turn)
    grid = [(b, l) for l in config.lengths for b in config.batch_sizes]
    for b, l in grid:
        say(f"bench: latency at batch {b} x {l} tokens")
        workloads = [latency.fixed_shape(f.encodings, b, l, r.pad_id) for r, f in zip(runners, features)]
        _measure(runners, workloads, settings, variants, progress, phased)
    for b in config.real_batch_sizes:
        for bucket in (False, True) if config.bucket else (False,):
            say(f"bench: latency at batch {b} on real lengths" + (", length-bucketed" if bucket else ""))
            workloads = [latency.real_lengths(f.encodings[:config.real_examples], b, r.pad_id, bucket)
                         for r, f in zip(runners, features)]
            _measure(runners, workloads, real_settings, variants, progress, phased)

    if config.memory:
        say("bench: peak memory, each variant in a fresh process")
        shapes = [[b, l] for b, l in grid]
        for runner, variant in zip(runners, variants):
            # Measured last, in a subprocess: a failure there is recorded, and the figures above are kept.
            try:
                variant["memory"] = memory.measure_memory(runner.spec.path, runner.spec.option, config.device,
                                                          threads, shapes)
            except CompressError as exc:
                variant["memory_failed"] = str(exc)
    _close_sessions(runners)  # spinning threads must not outlive the run (the search times more afterwards)
    _relate_to_baseline(variants, config)
    return {
        "schema": record.SCHEMA,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine.fingerprint(threads),
        "settings": {**to_dict(config), "threads": threads,
                     "isolation": isolation(config.ort_spinning, config.settle_ms, config.turn_ms, phased),
                     "measure_seconds": round(time.time() - started, 1), "scoring_seconds": round(scoring, 2)},
        "data": {"source": str(config.data), "metric": config.metric, "roles": roles.summary(),
                 "scored": {SCORE_KEYS[r]: r for r in scored}, "chosen_on": "validation",
                 "reported_on": "test" if "test" in scored else None},
        "variants": variants,
    }


def _scorecard(runners, data, features, variants, config: BenchConfig) -> None:
    """Fidelity to the baseline, calibration, robustness to perturbed text and out-of-domain accuracy."""
    base = variants[0]["accuracy"]
    kinds = [k for k in config.perturbations if k != "none"]
    rows = data.sampled_rows(config.perturbation_rows)
    sample = data.take(rows)
    noisy = [(k, rate, robustness.perturb(sample, k, rate, seed=0))
             for k in kinds for rate in config.perturbation_rates]
    extra = []
    for item in config.extra_eval:
        source, _, split = item.rpartition(":") if ":" in item and not Path(item).exists() else (item, "", "")
        extra.append((item, load_split(source, split or "test", config.columns)))
    for runner, feats, variant in zip(runners, features, variants):
        acc = variant["accuracy"]
        clean = sum(acc["labels"][i] == acc["predictions"][i] for i in rows) / max(len(rows), 1)
        card = {"fidelity": fidelity.fidelity(base["probabilities"], acc["probabilities"], runner.labels.names),
                "calibration": calibration.calibration(acc["probabilities"], feats.labels, config.calibration_bins),
                "robustness": [], "out_of_domain": []}
        for kind, rate, perturbed in noisy:
            score = accuracy.score(runner, accuracy.features_for(runner, perturbed, config.max_length))
            card["robustness"].append({"perturbation": kind, "rate": rate, "rows": len(rows),
                                       "accuracy": score["metrics"]["accuracy"],
                                       "drop_points": 100 * (clean - score["metrics"]["accuracy"])})
        for name, extra_data in extra:
            score = accuracy.score(runner, accuracy.features_for(runner, extra_data, config.max_length))
            card["out_of_domain"].append({"data": name, "origin": extra_data.origin, **score["metrics"]})
        variant["scorecard"] = card


def _measure(runners, workloads, settings, variants, progress, phased: bool) -> None:
    if not phased:
        results = latency.measure_pairs(list(zip(runners, workloads)), settings, progress)
    else:
        samples = [latency.Samples() for _ in runners]
        for _ in range(PHASE_BLOCKS):
            for ort_phase in (False, True):
                picked = [i for i, r in enumerate(runners) if (r.backend == "onnxruntime") == ort_phase]
                if not ort_phase:
                    _close_sessions(runners)
                part = latency.collect([(runners[i], workloads[i]) for i in picked],
                                       latency.share(settings, PHASE_BLOCKS), progress)
                for i, timed in zip(picked, part):
                    samples[i].extend(timed)
        results = [latency.summarize(s, w) for s, w in zip(samples, workloads)]
    for variant, result in zip(variants, results):
        variant["latency"].append(result)


def _close_sessions(runners) -> None:
    for runner in runners:
        runner.close()


def model_file(path: Path) -> Path:
    return onnx_file(path) if is_onnx_model(path) else path


def lineage(path: Path) -> list[dict[str, Any]]:
    """The chain of stages that made a model, newest first, read from the manifests of its ancestors."""
    return [{"stage": "source", "path": portable_path(current)} if manifest is None else
            {"stage": manifest["stage"], "path": portable_path(current), "settings": _key_settings(manifest)}
            for current, manifest in ancestors(model_dir(path))]


def _key_settings(manifest: dict[str, Any]) -> dict[str, Any]:
    keep = ("mode", "per_channel", "calibration_method", "op_types", "max_accuracy_drop", "student_layers",
            "student_layer_ids", "kd_weight", "hidden_weight", "attention_weight", "head_ratio", "ffn_ratio", "heads",
            "ffn_neurons", "hidden_size", "scope", "layers_to_drop", "epochs", "recovery_epochs", "learning_rate",
            "optimize", "fp16", "preset")
    # A manifest holds only the settings its stage reads (compress.core.artifacts.write_manifest).
    return {k: v for k, v in manifest.get("settings", {}).items() if k in keep and v not in (None, [], False)}


def _relate_to_baseline(variants: list[dict[str, Any]], config: BenchConfig) -> None:
    """Ratios to the baseline; for each scored role the paired change in --metric with its interval."""
    base = variants[0]
    for variant in variants:
        variant["size"]["size_ratio"] = base["size"]["file_bytes"] / max(variant["size"]["file_bytes"], 1)
        for entry, base_entry in zip(variant["latency"], base["latency"]):
            entry.update(latency.ratios(base_entry, entry))
        for key in SCORE_KEYS.values():
            if key not in variant or key not in base:
                continue
            scores, reference = variant[key], base[key]
            labels = reference["labels"]
            scores["accuracy_delta_points"] = 100 * (scores["metrics"]["accuracy"] - reference["metrics"]["accuracy"])
            scores["agreement"] = accuracy.agreement(reference["predictions"], scores["predictions"])
            metric = Metric.parse(config.metric, scores["label_names"])
            scores["paired"] = paired.paired_delta(labels, reference["predictions"], scores["predictions"],
                                                   len(scores["label_names"]), metric, config.bootstrap)
            if config.max_accuracy_drop is not None:
                scores["paired"]["max_accuracy_drop"] = config.max_accuracy_drop
                scores["paired"]["verdict"] = paired.verdict(scores["paired"]["delta_points"],
                                                             scores["paired"]["interval_points"],
                                                             config.max_accuracy_drop)


def summary_table(result: dict[str, Any],
                  workloads: tuple[str, ...] = (HEADLINE, fixed_name(32, 128), HEADLINE_REAL)) -> str:
    """A short Markdown table of the figures people look at first."""
    shown = [w for w in workloads if any(e["workload"] == w for e in result["variants"][0]["latency"])]
    head = ["variant", "backend", "precision", "accuracy", "Δ pts", "agree", "MB", "size x"]
    for w in shown:
        head += [f"{w} p50 ms", f"{w} x"]
    head.append("peak RSS MB")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for v in result["variants"]:
        acc = v.get("accuracy", {})
        row = [v["name"], v["backend"], v["precision"],
               f"{acc['metrics']['accuracy'] * 100:.2f}" if acc else "-",
               f"{acc.get('accuracy_delta_points', 0):+.2f}" if acc else "-",
               f"{acc.get('agreement', 1) * 100:.1f}%" if acc else "-",
               f"{v['size']['file_bytes'] / 1e6:.1f}", f"{v['size']['size_ratio']:.2f}"]
        by_name = {e["workload"]: e for e in v["latency"]}
        for w in shown:
            e = by_name[w]
            row += [f"{e['p50_ms']:.2f}", f"{e['speedup_p50']:.2f}"] if w.startswith("b") else \
                   [f"{e['p50_ms']:.2f}", f"{e['throughput_ratio']:.2f}"]
        row.append(f"{v['memory']['peak_rss_mb']:.0f}" if "memory" in v else "-")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


register(Command(
    "bench", BenchConfig, bench, "measure accuracy, latency and memory of model variants side by side",
    "Bench variants side by side: each MODEL is an HF directory (optionally @fp32/@fp16/@bf16) or an ONNX file or "
    "directory (optionally @cpu/@cuda/@tensorrt). The first is the baseline every ratio refers to.",
    form="variants", accepts=("hf", "onnx"), produces="record", writes="the JSON record (schema compress.bench/1)",
    output_file="bench.json", summary=summary_table))
