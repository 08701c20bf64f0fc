"""`compress search`: the fastest variant of a fine-tuned classifier within a budget in the user's metric, found
by trying recipes cheapest first, choosing on the validation role and reporting on the test role.

Candidates are chains of the recipe runner's stages, cached in --workdir under the keys `compress run`
uses, so a re-run (or a longer --time-budget, or a run killed and started again) reuses every stage made.
The order:
1. post-training options on the input model: ONNX export, dynamic int8 with 8- or 4-bit embedding
   tables, vocabulary pruning (minutes);
2. students distilled from it, deepest listed first. A student outside the budget sends the search to
   deeper students (every depth between it and the input model) before it gives up on distillation; one
   inside lets it try the next shallower listed depth, unless the loss so far, extrapolated, already
   misses. Training budgets scale with the data: at least --min-train-steps optimiser steps, and
   --small-data-augment teacher-labelled copies below --small-data rows;
3. head/FFN pruning of the fastest student within budget, mildest ratio first, each ratio continuing
   from the previous one's output and recovering on the input model's soft targets.
Every model gets the post-training options; an int8 model that leaves the budget while its fp32
source is inside is retried with the quantization guard keeping sensitive nodes in fp32.
Each candidate is screened alone on the validation role; the Pareto front and the fastest candidates
within each budget are then measured side by side with the baseline on validation and test. Winners are
chosen on validation scores and side-by-side latency; the test role is only reported, with each drop's
paired bootstrap interval. This module sits at the top with the CLI: it measures and reports through the harness
that compress.core.registry.harness() returns.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any, Callable

from compress.core.anatomy import layout_of
from compress.core.artifacts import (
    atomic_output_dir,
    check_output_dir,
    hash_path,
    read_manifest,
)
from compress.core.budget import room
from compress.core.card import write_card
from compress.core.errors import CompressError
from compress.core.models import resolve_model
from compress.core.paths import portable_path
from compress.core.registry import Command, harness, register
from compress.core.roles import load_roles, resolve_data
from compress.core.workloads import HEADLINE
from compress.engine import candidates, plan
from compress.engine.candidates import Candidate, Search
from compress.engine.search_config import SearchConfig
from compress.stages.export import ExportConfig

PARITY_EXAMPLES = ExportConfig.__dataclass_fields__["max_eval_examples"].default


def check_settings(config: SearchConfig) -> None:
    if not config.embedding_bits:
        raise CompressError("--embedding-bits takes 8 and/or 4")
    if config.model is None:
        raise CompressError("search needs --model, the fine-tuned checkpoint directory to compress")
    ratios = len({r for r in config.prune_ratios if r > 0})
    for flag, values in (("--recovery-epochs", config.recovery_epochs),
                         ("--recovery-hidden-weight", config.recovery_hidden_weight),
                         ("--recovery-augment", config.recovery_augment)):
        if ratios and len(values) not in (1, ratios):
            raise CompressError(f"{flag} takes one value or one per pruning ratio ({ratios}), got {len(values)}")


def _post_training(job: Search, name: str, source: Candidate) -> list[Candidate]:
    """ONNX fp32 and int8 of an HF model, and the same after vocabulary pruning; returns the screened ones."""
    made = []
    variants = [(name, source.output, source.chain)]
    if job.config.vocabulary:
        vocab = candidates.make(job, f"{name}-vocab", "prune", {"vocabulary": True}, source.output)
        if vocab:
            variants.append((f"{name}-vocab", vocab, source.chain + ["vocabulary"]))
    for label, model, chain in variants:
        # The parity check keeps export's own sample, or fewer rows: all of validation (the search's default) would
        # check 2,000 rows at each of three batch sizes and three graphs, minutes per candidate.
        parity = min(PARITY_EXAMPLES, job.config.max_eval_examples or PARITY_EXAMPLES)
        onnx = candidates.make(job, f"{label}-onnx", "export", {"optimize": job.config.optimize,
                                                                "max_eval_examples": parity}, model)
        exported = "export (fused)" if job.config.optimize else "export"
        fp32 = candidates.add(job, f"{label}-onnx", onnx, "onnx", chain + [exported])
        if fp32 is None:
            continue
        made.append(fp32)
        for bits in job.config.embedding_bits:
            made += _int8(job, f"{label}-int8" + ("" if bits == 8 else f"-e{bits}"), onnx, fp32,
                          chain + [exported, "int8" + ("" if bits == 8 else f" ({bits}-bit embeddings)")],
                          {"embedding_bits": bits})
    return [c for c in made if c is not None]


def _int8(job: Search, name: str, onnx: candidates.Output, fp32: Candidate, chain: list[str],
          settings: dict[str, Any]) -> list[Candidate | None]:
    int8 = candidates.add(job, name, candidates.make(job, name, "quantize", settings, onnx), "onnx", chain)
    if not (int8 and not job.within(int8) and job.within(fp32)):
        return [int8]
    # int8 alone left the budget: let the guard keep nodes in fp32. Nodes, not whole layers: on the 50%-pruned
    # SST-2 student one node (the position table) sufficed, where a layer would keep 6 MatMuls and QAttention.
    left = room(job.config.max_accuracy_drop, job.baseline.score - fp32.score)
    guarded = candidates.make(job, f"{name}-guarded", "quantize",
                              {**settings, "max_accuracy_drop": left, "sensitivity": "node"}, onnx)
    return [int8, candidates.add(job, f"{name}-guarded", guarded, "onnx",
                                 chain[:-1] + [chain[-1] + " + fp32 fallback"])]


def _model_config(path: str):
    """A checkpoint's transformers config: its depth, and for one not yet head- or FFN-pruned, its widths."""
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(resolve_model(path))


def expected_drop(drop: float, removed: int, removing: int) -> float:
    """A student's loss extrapolated linearly in the layers removed from a deeper student's.

    Real losses grow faster than that (SST-2, 6-layer MiniLM teacher, one epoch: 1.6, 3.2 and 8.5
    points with 3, 4 and 5 layers removed), so skipping a student this predicts to miss is safe.
    """
    return max(drop, 0.0) * removing / removed


def student_budget(config: SearchConfig, train_rows: int) -> tuple[float, int]:
    """(epochs, augmented copies) for a student: small data gets more copies, every student enough steps."""
    copies = config.small_data_augment if train_rows < config.small_data else config.augment
    steps_per_epoch = max(1, -(-train_rows * (1 + copies) // 32))
    return max(config.distill_epochs, round(config.min_train_steps / steps_per_epoch, 2)), copies


def _depth_order(config: SearchConfig, layers: int) -> list[int]:
    return sorted({n for n in config.student_layers if 0 < n < layers}, reverse=True)


def _student(job: Search, depth: int) -> tuple[Candidate, list[Candidate]] | None:
    config = job.config
    epochs, copies = student_budget(config, job.train_rows)
    name = f"student{depth}"
    path = candidates.make(job, name, "distill",
                           {"student_layers": depth, "epochs": epochs, "learning_rate": config.distill_learning_rate,
                            "augment": copies, "unlabelled": config.unlabelled}, job.baseline.output,
                           work=job.train_rows * (1 + copies) * epochs * depth)
    student = candidates.add(job, name, path, "hf", [f"distil {depth} layers"], layers=depth)
    if student is None:
        return None
    return student, _post_training(job, name, student)


def _students(job: Search) -> list[tuple[Candidate, list[Candidate]]]:
    """Distilled students: the listed depths deepest first while they stay inside the budget (or before one
    whose extrapolated loss misses); when the deepest listed one misses, deeper ones up to the input model's."""
    config, found = job.config, []
    layers = job.baseline.layers
    listed = _depth_order(config, layers)
    for depth in listed:
        if found and not job.dry_run:
            deeper, variants = found[-1]
            deeper_depth = deeper.layers
            best = max(c.score for c in [deeper, *variants])
            guess = expected_drop(job.baseline.score - best, layers - deeper_depth, layers - depth)
            if guess > config.max_accuracy_drop:
                job.log(f"student{depth}: not trained; {deeper.name} already loses "
                        f"{job.baseline.score - best:.2f} points, which extrapolates to at least {guess:.2f} here")
                job.ledger.skipped.append(f"student{depth} (extrapolated loss {guess:.2f} points)")
                break
        made = _student(job, depth)
        if made is None:
            break
        found.append(made)
        if job.dry_run or any(job.within(c) for c in [made[0], *made[1]]):
            continue
        if len(found) == 1:
            job.log(f"student{depth} is outside the budget: deeper students are tried")
            for deeper_depth in range(depth + 1, layers):
                made = _student(job, deeper_depth)
                if made is None:
                    break
                found.insert(0, made)
                if any(job.within(c) for c in [made[0], *made[1]]):
                    break
        else:
            job.log(f"student{depth} is outside the budget: no shallower student is tried")
        break
    return found


def _closest(students: list[tuple[Candidate, list[Candidate]]]) -> list[Candidate]:
    """The student whose best variant scored highest on validation (none when none was made)."""
    scored = [(max(c.score for c in [s, *v] if c.score is not None), s) for s, v in students
              if any(c.score is not None for c in [s, *v])]
    return [max(scored, key=lambda pair: pair[0])[1]] if scored else []


def _pruned(job: Search, source: Candidate, name: str) -> None:
    """Heads and FFN neurons, each ratio continuing from the previous one's output: the iterative schedule, with a
    candidate at every step and no step trained twice."""
    config = job.config
    shape = _model_config(source.path if Path(source.path).exists() else config.model)
    # A dry run's untrained student has the input model's widths and its own depth.
    layers = source.layers or shape.num_hidden_layers
    heads, width = layers * shape.num_attention_heads, getattr(shape, layout_of(shape).ffn_config)
    done, cuts = 0.0, []
    for i, ratio in enumerate(sorted({r for r in config.prune_ratios if r > 0})):
        cuts.append((f"{name}-prune{round(100 * ratio)}", f"prune heads+FFN to {ratio:g}"
                     + (" (heads ranked across layers)" if config.prune_scope == "global" else ""),
                     {"heads": round(ratio * heads) - round(done * heads), "scope": config.prune_scope,
                      "ffn_neurons": layers * (round(ratio * width) - round(done * width)),
                      **_recovery(config, i)}))
        done = ratio
    _recovered(job, source, layers, cuts)


def _narrowed(job: Search, source: Candidate, name: str) -> None:
    """Hidden sizes, narrowest last, each continuing from the previous one's output, recovered as the mildest
    pruning ratio is (hidden states cannot be matched across widths)."""
    config = job.config
    shape = _model_config(source.path if Path(source.path).exists() else config.model)
    head_size = shape.hidden_size // shape.num_attention_heads
    sizes = sorted({round(f * shape.hidden_size / head_size) * head_size for f in config.hidden_fractions if f > 0},
                   reverse=True)
    _recovered(job, source, source.layers or shape.num_hidden_layers,
               [(f"{name}-h{size}", f"hidden size to {size}", {"hidden_size": size, **_recovery(config, 0),
                                                               "hidden_weight": 0.0})
                # ELECTRA drops its embedding projection when the sizes match, so such a model would not reload.
                for size in sizes if 0 < size < shape.hidden_size and size != getattr(shape, "embedding_size", None)])


def _recovered(job: Search, source: Candidate, layers: int,
               cuts: list[tuple[str, str, dict[str, Any]]]) -> None:
    """One prune stage per (label, description, settings) in `cuts`, each from the previous one's output and
    recovered on the input model's soft targets; stops at the first whose candidates all miss the budget."""
    config, previous = job.config, source
    for label, description, settings in cuts:
        work = job.train_rows * (1 + settings["augment"]) * settings["recovery_epochs"] * layers * config.prune_steps
        path = candidates.make(job, label, "prune",
                               {**settings, "steps": config.prune_steps, "teacher": config.model, "ce_weight": 0.0,
                                "kd_weight": 1.0, "unlabelled": config.unlabelled}, previous.output, work=work)
        made = candidates.add(job, label, path, "hf", previous.chain + [description], layers=layers)
        if made is None:
            break
        previous = made
        variants = _post_training(job, label, made)
        if not job.dry_run and not any(job.within(c) for c in [made, *variants]):
            job.log(f"{label} is outside the budget: no stronger cut of this kind is tried")
            break


def _recovery(config: SearchConfig, i: int) -> dict[str, Any]:
    """The recovery settings of pruning ratio `i` (mildest first): one value for all, or one per ratio."""
    def pick(values: list):
        return values[0] if len(values) == 1 else values[i]

    return {"recovery_epochs": pick(config.recovery_epochs), "augment": pick(config.recovery_augment),
            "hidden_weight": pick(config.recovery_hidden_weight)}


def search(config: SearchConfig, output_dir: str | Path, overwrite: bool = False, dry_run: bool = False,
           log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the search; copy the winner to `output_dir`, write the report; return the summary."""
    check_settings(config)
    output = Path(output_dir)
    if not dry_run:
        check_output_dir(output, overwrite)
    # A hub id becomes its local snapshot, which every stage then takes as a directory.
    base_path = config.resolve(config.model)
    config = resolve_data(dataclasses.replace(config, model=base_path, revision=None), base_path)
    roles = load_roles(config)
    clock = candidates.Clock(config, scored_rows=candidates.final_scored_rows(config, len(roles.validation),
                                                                            len(roles.test)))
    job = Search(config, log, dry_run, clock, train_rows=len(roles.train))
    epochs, copies = student_budget(config, job.train_rows)
    log(f"policy: {job.train_rows} training rows: students train {epochs:g} epochs with {copies} augmented "
        f"cop{'y' if copies == 1 else 'ies'} per row (at least {config.min_train_steps} steps; "
        f"{config.small_data_augment} copies below {config.small_data} rows)")
    layers = _model_config(config.model).num_hidden_layers
    baseline = candidates.screen(job, Candidate("baseline", config.model, "hf", ["input model"],
                                                key=hash_path(base_path), layers=layers), in_dry_run=True)
    job = dataclasses.replace(job, baseline=baseline)
    job.ledger.candidates.append(baseline)
    _post_training(job, "model", job.baseline)
    plan.announce(job, layers, student_budget)
    students = _students(job)
    if dry_run:
        if students:
            _pruned(job, students[-1][0], students[-1][0].name)
            _narrowed(job, students[-1][0], students[-1][0].name)
        return {"dry_run": True, "workdir": config.workdir}
    budget = job.budget()
    inside = [(s, candidates.best([s, *v], budget)) for s, v in students]
    fastest = min((pair for pair in inside if pair[1]), key=lambda pair: pair[1].latency_ms, default=None)
    # With no student inside the budget, cuts of the input model itself are the next step (on BANKING77 a pruned
    # deeper model won), and of the student that came closest.
    sources = [fastest[0]] if fastest else [job.baseline, *_closest(students)]
    if not fastest and config.student_layers != [0]:
        job.note("no student is within the budget: the input model is pruned and narrowed"
                 + (f", and {sources[1].name}" if len(sources) > 1 else ""))
    for source in sources:
        _pruned(job, source, "model" if source is job.baseline else source.name)
        _narrowed(job, source, "model" if source is job.baseline else source.name)

    screened = [c for c in job.ledger.candidates if c.failed is None]
    front = candidates.pareto(screened)
    # Screening timed each candidate alone, so near-ties are settled in the side-by-side run: the front
    # and the three fastest within each budget go there, and the winners are picked from its figures.
    precise_budget = budget.tighter(config.high_accuracy_drop)
    contenders = [*front, *candidates.fastest(screened, budget, 3),
                  *candidates.fastest(screened, budget, 3, sized=True),
                  *candidates.fastest(screened, precise_budget, 3)]
    final = list({c.path: c for c in contenders if c is not job.baseline}.values())
    record_file, result = _final_bench(job, final)
    winner = candidates.best(final, budget, latency="final_latency_ms", sized=True)
    precise = candidates.best(final, precise_budget, latency="final_latency_ms")
    summary = harness().summarize_search(config, record_file, result, winner, precise, front, job.ledger.candidates,
                                      job.ledger.skipped, job.clock.minutes())
    if winner is not None:
        with atomic_output_dir(output, overwrite) as tmp:
            shutil.copytree(Path(winner.path), tmp, dirs_exist_ok=True)
            machine = result["machine"]
            write_card(tmp, read_manifest(winner.path), output.name,
                       {**summary["winner"], "baseline": portable_path(config.model),
                        "machine": f"{machine.get('cpu')} ({machine.get('cpu_kind', 'unknown kind')}), "
                                   f"{result['settings'].get('threads')} threads, {result['created'][:10]}"})
        summary["output"] = str(output)
        job.note(f"winner {winner.name} copied to {output}")
    # Late measurements must not throw the search's work away: a failure is recorded, the winner stays.
    if winner is not None and winner.kind == "onnx":
        try:
            summary["winner_profile"] = _profile(job, winner)
        except Exception as exc:  # the profiler reaches into ONNX Runtime internals; any failure is reported
            summary["winner_profile_failed"] = f"{exc.__class__.__name__}: {exc}"
    harness().write_search_report(summary, record_file, config.report, config.workdir, log)
    return summary


def _profile(job: Search, winner: Candidate) -> dict[str, Any]:
    """The winner's operator profile on validation text, under the thread and spinning settings it was timed with,
    and its compute floor at the same shape."""
    texts = load_roles(job.config, log=lambda _: None).validation.texts
    return harness().profile(winner.path, texts, job.config.threads, job.config.ort_spinning)


def _final_bench(job: Search, final: list[Candidate]) -> tuple[Path, dict[str, Any]]:
    """Baseline and the chosen candidates, interleaved in one full harness run; its record file and record."""
    config = dataclasses.replace(candidates.side_by_side(job.config), names=["baseline"] + [c.name for c in final])
    job.note(f"final side-by-side run: baseline + {len(final)} candidates")
    result = harness().bench([job.config.model] + [c.path for c in final], config)
    for candidate, variant in zip(final, result["variants"][1:]):
        candidate.final_latency_ms = next(e["p50_ms"] for e in variant["latency"] if e["workload"] == HEADLINE)
    record_file = Path(job.config.workdir) / "final-bench.json"
    harness().write_record(result, record_file)
    return record_file, result


def outcome(summary: dict[str, Any]) -> str:
    """What `compress search` prints: the winner, the high-accuracy point, the front and what was skipped (a dry
    run: its plan)."""
    shown = summary if summary.get("dry_run") else {k: summary[k] for k in ("winner", "high_accuracy", "front",
                                                                            "skipped", "output") if k in summary}
    return json.dumps(shown, indent=2, default=str)


register(Command(
    "search", SearchConfig, search, "find the fastest compressed model within an accuracy budget",
    "From a fine-tuned checkpoint, try compression recipes cheapest first (int8 and vocabulary pruning, then "
    "distilled students, then head/FFN pruning of the fastest student within budget), choosing on the validation "
    "role and reporting on the test role; copy the winner to --output. Stage outputs are cached in --workdir, so a "
    "re-run resumes.",
    input_field="model", accepts=("hf",), produces="model", writes="winning model", logs=True, summary=outcome))
