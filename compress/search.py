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
paired bootstrap interval. This module sits at the top with the CLI: it uses eval.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from compress.artifacts import atomic_output_dir, check_output_dir, hash_path
from compress.config import from_mapping, option, to_dict
from compress.data import DataConfig
from compress.errors import CompressError
from compress.models import resolve_model
from compress.recipe import STAGES, PlannedStage, run_stage, stage_key

HEADLINE = "b1xl128"
SEARCH_RECORD = "search.json"


@dataclass
class SearchConfig(DataConfig):
    """Settings of `compress search`."""

    model: str | None = option(None, "fine-tuned classifier checkpoint directory to compress; it is also the "
                                     "baseline every candidate is measured against (PyTorch fp32)")
    max_accuracy_drop: float = option(1.0, "budget: most points of --metric on validation a candidate may lose "
                                           "against the baseline", interval="[0, inf)")
    min_size_ratio: float = option(1.0, "the winner's file must be at least this many times smaller than --model's; "
                                        "the high-accuracy point is not held to it", interval="[1, inf)")
    high_accuracy_drop: float = option(0.3, "a second, tighter budget whose fastest candidate the report also shows",
                                       interval="[0, inf)")
    workdir: str = option("artifacts/search", "where every stage output is cached; a re-run reuses them")
    report: str = option("reports/search", "report directory (README.md, index.html, plots, search.json)")
    student_layers: list[int] = option([3, 2], "student depths to distil, deepest first; a depth outside the "
                                               "budget sends the search deeper; 0 skips distillation",
                                       interval="[0, inf)")
    distill_epochs: float = option(2.0, "training passes for each student, at least (see --min-train-steps)",
                                   interval="(0, inf)")
    distill_learning_rate: float = option(1e-4, "peak learning rate for each student", interval="(0, inf)")
    augment: int = option(1, "teacher-labelled augmented copies of each training example for the students",
                          interval="[0, inf)")
    min_train_steps: int = option(2000, "each student trains at least this many optimiser steps (batch 32): "
                                        "more epochs on small data", interval="[0, inf)")
    small_data: int = option(20000, "training sets with fewer rows than this are small: students get "
                                    "--small-data-augment copies instead of --augment", interval="[0, inf)")
    small_data_augment: int = option(3, "augmented copies per example for the students on small data",
                                     interval="[0, inf)")
    prune_ratios: list[float] = option([0.25, 0.5], "fractions of heads and FFN neurons removed from the fastest "
                                                    "student within budget, mildest first; 0 skips pruning",
                                       interval="[0, 1)")
    prune_steps: int = option(1, "pruning steps from one ratio to the next, each followed by recovery",
                              interval="[1, inf)")
    recovery_epochs: list[float] = option([1.0], "recovery passes after each pruning step on the input model's soft "
                                                 "targets; one value, or one per ratio mildest first",
                                          interval="[0, inf)")
    recovery_hidden_weight: list[float] = option([0.0], "weight of matching hidden states with the unpruned "
                                                        "student's during recovery; one value or one per ratio",
                                                 interval="[0, inf)")
    recovery_augment: list[int] = option([0], "teacher-labelled augmented copies per sentence during recovery; "
                                              "one value or one per ratio", interval="[0, inf)")
    embedding_bits: list[int] = option([8, 4], "bits of the quantized embedding tables to try with each int8 model",
                                       choices=(8, 4))
    optimize: bool = option(True, "export fused graphs (compress export --optimize)")
    vocabulary: bool = option(True, "also try each model with its vocabulary cut to the training text's pieces")
    time_budget: float | None = option(None, "wall-clock minutes for the whole search, training included: a "
                                             "training stage that would not finish in the time left is not "
                                             "started; measuring and the report always run", interval="[0, inf)")
    threads: int | None = option(None, "intra-op threads for every measurement (default: the physical cores)",
                                 interval="[1, inf)")
    latency_tie: float = option(0.03, "candidates within this fraction of the fastest one's latency count as "
                                      "equally fast, and the smallest file wins", interval="[0, inf)")
    ort_spinning: bool = option(True, "serve ONNX candidates with ONNX Runtime's intra-op spinning on "
                                      "(compress bench --ort-spinning)")
    screen_seconds: float = option(2.0, "latency budget per workload when screening one candidate", interval="(0, inf)")
    final_seconds: float = option(5.0, "latency budget per workload and variant in the final side-by-side run",
                                  interval="(0, inf)")
    scorecard: bool = option(True, "final run: also score robustness to perturbed text (slower)")


def check_settings(config: SearchConfig) -> None:
    if not config.embedding_bits:
        raise CompressError("--embedding-bits takes 8 and/or 4")
    if config.model is None:
        raise CompressError("search needs --model, the fine-tuned checkpoint directory to compress")
    ratios = len({r for r in config.prune_ratios if r > 0})
    for flag, values in (("--recovery-epochs", config.recovery_epochs),
                         ("--recovery-hidden-weight", config.recovery_hidden_weight),
                         ("--recovery-augment", config.recovery_augment)):
        if len(values) not in (1, ratios):
            raise CompressError(f"{flag} takes one value or one per pruning ratio ({ratios}), got {len(values)}")


@dataclass
class Candidate:
    """A model the search made and screened: its stage chain and its screening figures."""

    name: str
    path: str
    kind: str                                  # "hf" or "onnx"
    chain: list[str]
    score: float | None = None                 # validation, in points of --metric
    latency_ms: float | None = None            # screening p50 at batch 1, length 128
    throughput: float | None = None            # screening sequences/s at batch 32 on real lengths
    file_mb: float | None = None
    final_latency_ms: float | None = None      # p50 at batch 1, length 128 in the final side-by-side run
    failed: str | None = None

    def figures(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class _State:
    config: SearchConfig
    log: Callable[[str], None]
    dry_run: bool
    started: float = field(default_factory=time.time)
    keys: dict[str, str] = field(default_factory=dict)
    candidates: list[Candidate] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    baseline: Candidate | None = None
    train_rows: int = 0
    depth: dict[str, int] = field(default_factory=dict)           # layers of each HF model made, by path
    seconds_per_layer_row: float | None = None                      # measured training speed, for the budget

    def within(self, candidate: Candidate | None, drop: float | None = None) -> bool:
        budget = self.config.max_accuracy_drop if drop is None else drop
        return bool(candidate and candidate.score is not None
                    and candidate.score >= self.baseline.score - budget - 1e-9)

    def minutes_left(self) -> float | None:
        budget = self.config.time_budget
        return None if budget is None else budget - (time.time() - self.started) / 60

    def clock(self) -> str:
        elapsed = (time.time() - self.started) / 60
        left = self.minutes_left()
        return f"[{elapsed:.1f} min" + ("]" if left is None else f", {max(left, 0):.1f} min left]")


def _data_settings(config: SearchConfig) -> dict[str, Any]:
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(DataConfig)}


def _stage(state: _State, name: str, kind: str, settings: dict[str, Any], parent: str,
           work: float = 0.0) -> str | None:
    """The output directory of stage `kind` on model `parent`: cached, made now, or None if skipped/failed.

    `work` (training rows x epochs x layers) lets a training stage be skipped when the speed measured on
    earlier ones says it would not finish within --time-budget."""
    spec = STAGES[kind]
    cls, _ = spec.load()
    fields = {f.name for f in dataclasses.fields(cls)}
    data = {k: v for k, v in _data_settings(state.config).items() if k in fields}
    planned = PlannedStage(0, name, kind, from_mapping(cls, {**data, **settings}, f"search stage {name}"), [parent])
    key = stage_key(planned, [state.keys[parent]])
    output = Path(state.config.workdir) / f"{name}-{key[:12]}"
    planned.settings = dataclasses.replace(planned.settings, **{spec.input_field: parent})
    state.keys[str(output)] = key
    if output.exists():
        state.log(f"{state.clock()} {name} ({kind}): cached at {output}")
        return str(output)
    if state.dry_run:
        state.log(f"{state.clock()} {name} ({kind}): would run -> {output}")
        return str(output)
    left = state.minutes_left()
    if work and left is not None:
        needed = work * state.seconds_per_layer_row / 60 if state.seconds_per_layer_row else 0.0
        if left <= 0 or needed > left:
            why = "spent" if left <= 0 else f"{left:.0f} min left, about {needed:.0f} needed"
            state.log(f"{state.clock()} {name} ({kind}): skipped, --time-budget {why}")
            state.skipped.append(f"{name} (time budget)")
            return None
    state.log(f"{state.clock()} {name} ({kind}): running -> {output}")
    started = time.time()
    try:
        run_stage(dataclasses.replace(planned, output=output))
    except CompressError as exc:
        state.log(f"{state.clock()} {name} ({kind}): failed: {exc}")
        state.candidates.append(Candidate(name, str(output), spec.produces, [], failed=str(exc)))
        return None
    if work:
        state.seconds_per_layer_row = (time.time() - started) / work
    state.log(f"{state.clock()} {name} ({kind}): done in {time.time() - started:.0f} s")
    return str(output)


def _bench_config(config: SearchConfig, final: bool):
    """The two harness presets: screening (one candidate alone, validation only, short) and the final
    side-by-side run (validation and test, longer, every workload the report shows)."""
    from eval.bench import BenchConfig

    common = dict(**_data_settings(config), threads=config.threads, lengths=[128], real_batch_sizes=[32],
                  ort_spinning=config.ort_spinning)
    if not final:
        return BenchConfig(**common, roles=["validation"], batch_sizes=[1], min_runs=10, real_min_runs=3,
                           time_budget=config.screen_seconds, min_time=0.0, memory=False, perturbations=["none"])
    return BenchConfig(**common, roles=["validation", "test"], budget=config.max_accuracy_drop, batch_sizes=[1, 32],
                       bucket=True, min_runs=30, real_min_runs=5, time_budget=config.final_seconds,
                       min_time=config.final_seconds, memory=True,
                       perturbations=["typos", "word_dropout"] if config.scorecard else ["none"])


def _screen(state: _State, candidate: Candidate) -> Candidate:
    """Validation score and a short latency measurement of one candidate on its own."""
    from eval.bench import bench

    if state.dry_run:
        return candidate
    result = bench([candidate.path], _bench_config(state.config, final=False), progress=False)["variants"][0]
    latency = {e["workload"]: e for e in result["latency"]}
    candidate.score = 100 * result["validation"]["metrics"]["score"]
    candidate.latency_ms = latency[HEADLINE]["p50_ms"]
    candidate.throughput = latency["real-b32"]["seq_per_s"]
    candidate.file_mb = result["size"]["file_bytes"] / 1e6
    base = state.baseline or candidate
    state.log(f"{state.clock()}   {candidate.name}: validation {state.config.metric} {candidate.score:.2f} "
              f"({candidate.score - base.score:+.2f}), {HEADLINE} {candidate.latency_ms:.2f} ms "
              f"({base.latency_ms / candidate.latency_ms:.2f}x), {candidate.file_mb:.1f} MB")
    return candidate


def _add(state: _State, name: str, path: str | None, kind: str, chain: list[str]) -> Candidate | None:
    if path is None:
        return None
    candidate = _screen(state, Candidate(name, path, kind, chain))
    state.candidates.append(candidate)
    return candidate


def _post_training(state: _State, name: str, source: Candidate) -> list[Candidate]:
    """ONNX fp32 and int8 of an HF model, and the same after vocabulary pruning; returns the screened ones."""
    made = []
    variants = [(name, source.path, source.chain)]
    if state.config.vocabulary:
        vocab = _stage(state, f"{name}-vocab", "prune", {"vocabulary": True}, source.path)
        if vocab:
            variants.append((f"{name}-vocab", vocab, source.chain + ["vocabulary"]))
    for label, path, chain in variants:
        onnx = _stage(state, f"{label}-onnx", "export", {"optimize": state.config.optimize}, path)
        exported = "export (fused)" if state.config.optimize else "export"
        fp32 = _add(state, f"{label}-onnx", onnx, "onnx", chain + [exported])
        if fp32 is None:
            continue
        made.append(fp32)
        for bits in state.config.embedding_bits:
            made += _int8(state, f"{label}-int8" + ("" if bits == 8 else f"-e{bits}"), onnx, fp32,
                          chain + [exported, "int8" + ("" if bits == 8 else f" ({bits}-bit embeddings)")],
                          {"embedding_bits": bits})
    return [c for c in made if c is not None]


def _int8(state: _State, name: str, onnx: str, fp32: Candidate, chain: list[str],
          settings: dict[str, Any]) -> list[Candidate | None]:
    int8 = _add(state, name, _stage(state, name, "quantize", settings, onnx), "onnx", chain)
    if not (int8 and not state.within(int8) and state.within(fp32)):
        return [int8]
    # int8 alone left the budget: let the guard keep nodes in fp32. Nodes, not whole layers: on the 50%-pruned
    # SST-2 student one node (the position table) sufficed, where a layer would keep 6 MatMuls and QAttention.
    room = round(state.config.max_accuracy_drop - (state.baseline.score - fp32.score), 4)
    guarded = _stage(state, f"{name}-guarded", "quantize",
                     {**settings, "max_accuracy_drop": room, "sensitivity": "node"}, onnx)
    return [int8, _add(state, f"{name}-guarded", guarded, "onnx", chain[:-1] + [chain[-1] + " + fp32 fallback"])]


def _fastest(candidates: list[Candidate | None], state: _State, drop: float | None, count: int,
             latency: str = "latency_ms", sized: bool = False) -> list[Candidate]:
    """The `count` fastest candidates within the budget (`drop` points, default: --max-accuracy-drop) and,
    if `sized`, at least --min-size-ratio times smaller than the baseline."""
    largest = state.baseline.file_mb / state.config.min_size_ratio if sized and state.baseline.file_mb else None
    inside = [c for c in candidates if c and getattr(c, latency) is not None and state.within(c, drop)
              and (largest is None or (c.file_mb or 0.0) <= largest)]
    return sorted(inside, key=lambda c: getattr(c, latency))[:count]


def _best(candidates: list[Candidate | None], state: _State, drop: float | None = None,
          latency: str = "latency_ms", sized: bool = False) -> Candidate | None:
    """The fastest candidate within the budget; among those within --latency-tie of it, the smallest file."""
    fastest = _fastest(candidates, state, drop, len(candidates), latency, sized)
    if not fastest:
        return None
    limit = getattr(fastest[0], latency) * (1 + state.config.latency_tie)
    tied = [c for c in fastest if getattr(c, latency) <= limit]
    return min(tied, key=lambda c: (c.file_mb or 0.0, getattr(c, latency)))


def _model_config(path: str) -> dict[str, Any]:
    """The HF config.json of a checkpoint: its depth and, for an unpruned one, its width."""
    return json.loads((Path(resolve_model(path)) / "config.json").read_text())


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


def _student(state: _State, depth: int) -> tuple[Candidate, list[Candidate]] | None:
    config = state.config
    epochs, copies = student_budget(config, state.train_rows)
    name = f"student{depth}"
    path = _stage(state, name, "distill",
                  {"student_layers": depth, "epochs": epochs, "learning_rate": config.distill_learning_rate,
                   "augment": copies}, config.model, work=state.train_rows * (1 + copies) * epochs * depth)
    student = _add(state, name, path, "hf", [f"distil {depth} layers"])
    if student is None:
        return None
    state.depth[student.path] = depth
    return student, _post_training(state, name, student)


def _students(state: _State) -> list[tuple[Candidate, list[Candidate]]]:
    """Distilled students: the listed depths deepest first while they stay inside the budget (or before one
    whose extrapolated loss misses); when the deepest listed one misses, deeper ones up to the input model's."""
    config, found = state.config, []
    layers = _model_config(config.model)["num_hidden_layers"]
    listed = _depth_order(config, layers)
    for depth in listed:
        if found and not state.dry_run:
            deeper, variants = found[-1]
            deeper_depth = state.depth[deeper.path]
            best = max(c.score for c in [deeper, *variants])
            guess = expected_drop(state.baseline.score - best, layers - deeper_depth, layers - depth)
            if guess > config.max_accuracy_drop:
                state.log(f"student{depth}: not trained; {deeper.name} already loses "
                          f"{state.baseline.score - best:.2f} points, which extrapolates to at least {guess:.2f} here")
                state.skipped.append(f"student{depth} (extrapolated loss {guess:.2f} points)")
                break
        made = _student(state, depth)
        if made is None:
            break
        found.append(made)
        if state.dry_run or any(state.within(c) for c in [made[0], *made[1]]):
            continue
        if len(found) == 1:
            state.log(f"student{depth} is outside the budget: deeper students are tried")
            for deeper_depth in range(depth + 1, layers):
                made = _student(state, deeper_depth)
                if made is None:
                    break
                found.insert(0, made)
                if any(state.within(c) for c in [made[0], *made[1]]):
                    break
        else:
            state.log(f"student{depth} is outside the budget: no shallower student is tried")
        break
    return found


def _pruned(state: _State, source: Candidate, name: str) -> None:
    """Each ratio continues from the previous one's output: the iterative schedule, with a candidate at
    every step and no step trained twice."""
    config = state.config
    shape = (_model_config(source.path) if Path(source.path).exists()
             else {**_model_config(config.model), "num_hidden_layers": state.depth[source.path]})  # dry run
    layers, width = shape["num_hidden_layers"], shape["intermediate_size"]
    heads = layers * shape["num_attention_heads"]
    previous, done = source, 0.0
    for i, ratio in enumerate(sorted({r for r in config.prune_ratios if r > 0})):
        label = f"{name}-prune{round(100 * ratio)}"
        epochs = _per_ratio(config.recovery_epochs, i)
        copies = _per_ratio(config.recovery_augment, i)
        path = _stage(state, label, "prune",
                      {"heads": round(ratio * heads) - round(done * heads),
                       "ffn_neurons": layers * (round(ratio * width) - round(done * width)),
                       "steps": config.prune_steps, "recovery_epochs": epochs,
                       "teacher": config.model, "ce_weight": 0.0, "kd_weight": 1.0,
                       "hidden_weight": _per_ratio(config.recovery_hidden_weight, i),
                       "augment": copies}, previous.path,
                      work=state.train_rows * (1 + copies) * epochs * layers * config.prune_steps)
        pruned = _add(state, label, path, "hf", previous.chain + [f"prune heads+FFN to {ratio:g}"])
        if pruned is None:
            break
        state.depth[pruned.path] = layers
        previous, done = pruned, ratio
        variants = _post_training(state, label, pruned)
        if not state.dry_run and not any(state.within(c) for c in [pruned, *variants]):
            state.log(f"{label} is outside the budget: no stronger pruning is tried")
            break


def _per_ratio(values: list, i: int):
    return values[0] if len(values) == 1 else values[i]


def _pareto(candidates: list[Candidate]) -> list[Candidate]:
    from eval.pareto import pareto_front

    scored = [c for c in candidates if c.latency_ms is not None]
    return [scored[i] for i in pareto_front([(c.latency_ms, c.score) for c in scored])]


def search(config: SearchConfig, output_dir: str | Path, overwrite: bool = False, dry_run: bool = False,
           log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the search; copy the winner to `output_dir`, write the report; return the summary."""
    from compress.roles import load_roles, resolve_data

    check_settings(config)
    output = Path(output_dir)
    if not dry_run:
        check_output_dir(output, overwrite)
    base_path = resolve_model(config.model)
    config = resolve_data(config, base_path)
    state = _State(config, log, dry_run)
    state.train_rows = len(load_roles(config, log).train)
    epochs, copies = student_budget(config, state.train_rows)
    log(f"policy: {state.train_rows} training rows: students train {epochs:g} epochs with {copies} augmented "
        f"cop{'y' if copies == 1 else 'ies'} per row (at least {config.min_train_steps} steps; "
        f"{config.small_data_augment} copies below {config.small_data} rows)")
    state.keys[config.model] = hash_path(base_path)
    state.baseline = _screen(state, Candidate("baseline", config.model, "hf", ["input model"]))
    state.candidates.append(state.baseline)
    _post_training(state, "model", state.baseline)
    students = _students(state)
    if dry_run:
        if students:
            _pruned(state, students[-1][0], students[-1][0].name)
        return {"dry_run": True, "workdir": config.workdir}
    inside = [(s, _best([s, *v], state)) for s, v in students]
    fastest = min((pair for pair in inside if pair[1]), key=lambda pair: pair[1].latency_ms, default=None)
    if fastest:
        _pruned(state, fastest[0], fastest[0].name)

    screened = [c for c in state.candidates if c.failed is None]
    front = _pareto(screened)
    # Screening timed each candidate alone, so near-ties are settled in the side-by-side run: the front
    # and the three fastest within each budget go there, and the winners are picked from its figures.
    contenders = [*front, *_fastest(screened, state, None, 3), *_fastest(screened, state, None, 3, sized=True),
                  *_fastest(screened, state, config.high_accuracy_drop, 3)]
    final = list({c.path: c for c in contenders if c is not state.baseline}.values())
    record_file, result = _final_bench(state, final)
    winner = _best(final, state, latency="final_latency_ms", sized=True)
    precise = _best(final, state, config.high_accuracy_drop, latency="final_latency_ms")
    summary = _summary(state, record_file, result, winner, precise, front)
    if winner is not None:
        with atomic_output_dir(output, overwrite) as tmp:
            shutil.copytree(Path(winner.path), tmp, dirs_exist_ok=True)
        summary["output"] = str(output)
        log(f"{state.clock()} winner {winner.name} copied to {output}")
    # Late measurements must not throw the search's work away: a failure is recorded, the winner stays.
    if winner is not None and winner.kind == "onnx":
        try:
            summary["winner_profile"] = _profile(state, winner)
        except Exception as exc:  # the profiler reaches into ONNX Runtime internals; any failure is reported
            summary["winner_profile_failed"] = f"{exc.__class__.__name__}: {exc}"
    _write_report(state, record_file, summary)
    return summary


def _profile(state: _State, winner: Candidate) -> dict[str, Any]:
    """The winner's operator profile on validation text, under the thread and spinning settings it was timed with."""
    from compress.roles import load_roles
    from eval.machine import physical_cores
    from eval.profile import profile_on_text

    texts = load_roles(state.config, log=lambda _: None).validation.texts
    return profile_on_text(winner.path, texts, state.config.threads or physical_cores(),
                           spinning=state.config.ort_spinning)


def _final_bench(state: _State, final: list[Candidate]) -> tuple[Path, dict[str, Any]]:
    """Baseline and the chosen candidates, interleaved in one full harness run; its record file and record."""
    from eval import record
    from eval.bench import bench

    config = dataclasses.replace(_bench_config(state.config, final=True), names=["baseline"] + [c.name for c in final])
    state.log(f"{state.clock()} final side-by-side run: baseline + {len(final)} candidates")
    result = bench([state.config.model] + [c.path for c in final], config)
    for candidate, variant in zip(final, result["variants"][1:]):
        candidate.final_latency_ms = next(e["p50_ms"] for e in variant["latency"] if e["workload"] == HEADLINE)
    record_file = Path(state.config.workdir) / "final-bench.json"
    record.write(result, record_file)
    return record_file, result


def _summary(state: _State, record_file: Path, result: dict[str, Any], winner: Candidate | None,
             precise: Candidate | None, front: list[Candidate]) -> dict[str, Any]:
    measured = {v["name"]: v for v in result["variants"]}

    def figures(candidate: Candidate | None) -> dict[str, Any] | None:
        if candidate is None:
            return None
        v = measured[candidate.name]
        latency = {e["workload"]: e for e in v["latency"]}
        base_real = {e["workload"]: e for e in measured["baseline"]["latency"]}["real-b32"]
        test = v["accuracy"]["paired"]
        return {"name": candidate.name, "path": candidate.path, "chain": candidate.chain,
                "validation_score": 100 * v["validation"]["metrics"]["score"],
                "validation_delta_points": v["validation"]["paired"]["delta_points"],
                "test_score": 100 * v["accuracy"]["metrics"]["score"],
                "test_delta_points": test["delta_points"], "test_interval_points": test["interval_points"],
                "test_verdict": test.get("verdict"), "test_agreement": v["accuracy"]["agreement"],
                "test_over_budget": -test["delta_points"] > state.config.max_accuracy_drop + 1e-9,
                "speedup_b1xl128": latency[HEADLINE]["speedup_p50"],
                "throughput_ratio_real_b32": latency["real-b32"]["throughput_ratio"],
                "throughput_ratio_real_b32_bucketed_vs_baseline_plain":
                    latency["real-b32-bucketed"]["seq_per_s"] / base_real["seq_per_s"],
                "size_ratio": v["size"]["size_ratio"], "file_mb": v["size"]["file_bytes"] / 1e6}

    baseline = measured["baseline"]
    return {"baseline": state.config.model, "metric": state.config.metric,
            "max_accuracy_drop": state.config.max_accuracy_drop, "chosen_on": "validation", "reported_on": "test",
            "data_roles": result["data"]["roles"],
            "baseline_scores": {"validation": 100 * baseline["validation"]["metrics"]["score"],
                                "test": 100 * baseline["accuracy"]["metrics"]["score"]},
            "winner": figures(winner), "high_accuracy": figures(precise),
            "front": [c.name for c in front], "candidates": [c.figures() for c in state.candidates],
            "skipped": state.skipped, "record": str(record_file), "settings": to_dict(state.config),
            "minutes": round((time.time() - state.started) / 60, 1)}


def _candidate_table(summary: dict[str, Any]) -> str:
    base = next(c for c in summary["candidates"] if c["name"] == "baseline")
    lines = [f"| candidate | made by | validation {summary['metric']} | Δ pts | b1xl128 p50 ms (screen) | speed-up x "
             "| MB | on front |", "|---|---|---:|---:|---:|---:|---:|---|"]
    for c in summary["candidates"]:
        if c["failed"]:
            lines.append(f"| {c['name']} | failed: {c['failed'][:80]} | | | | | | |")
            continue
        lines.append(f"| {c['name']} | {' → '.join(c['chain'])} | {c['score']:.2f} | "
                     f"{c['score'] - base['score']:+.2f} | {c['latency_ms']:.2f} | "
                     f"{base['latency_ms'] / c['latency_ms']:.2f} | {c['file_mb']:.1f} | "
                     f"{'yes' if c['name'] in summary['front'] else ''} |")
    return "\n".join(lines)


def _outcome(summary: dict[str, Any]) -> str:
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
                     f"against the baseline without), {f['size_ratio']:.2f}x smaller ({f['file_mb']:.1f} MB).{flag}")
    if summary["skipped"]:
        lines.append(f"- Not trained: {', '.join(summary['skipped'])}")
    if "winner_profile_failed" in summary:
        lines.append(f"- The winner's profile failed: {summary['winner_profile_failed']}")
    settings = summary["settings"]
    lines.append(f"- Policy: students train at least {settings['min_train_steps']} steps, with "
                 f"{settings['small_data_augment']} augmented copies per row below {settings['small_data']} "
                 f"training rows ({settings['augment']} above); a student outside the budget sends the search to "
                 "deeper ones")
    lines.append(f"- Search time: {summary['minutes']} min; stage outputs cached in `{settings['workdir']}`")
    return "\n".join(lines)


def _write_report(state: _State, record_file: Path, summary: dict[str, Any]) -> None:
    import html

    from eval.report import write_report
    from eval.profile import profile_markdown

    table, outcome = _candidate_table(summary), _outcome(summary)
    sections = [("Search outcome", outcome, "<pre>" + html.escape(outcome) + "</pre>"),
                ("Every candidate (screening figures on validation, each measured alone)", table,
                 "<pre>" + html.escape(table) + "</pre>")]
    if "winner_profile" in summary:
        profile = profile_markdown(summary["winner_profile"])
        sections.append(("Where the winner's time goes", profile, "<pre>" + html.escape(profile) + "</pre>"))
    try:
        report = write_report([record_file], state.config.report, title=f"compress search on {state.config.model}",
                              extra_sections=sections)
    except Exception as exc:  # plotting and file writing: the winner is already saved; say what failed
        state.log(f"report failed ({exc.__class__.__name__}: {exc}); the search record is {record_file}")
        summary["report_failed"] = f"{exc.__class__.__name__}: {exc}"
        (Path(state.config.workdir) / SEARCH_RECORD).write_text(json.dumps(summary, indent=2, default=str) + "\n")
        return
    (report / SEARCH_RECORD).write_text(json.dumps(summary, indent=2, default=str) + "\n")
    state.log(f"report: {report / 'README.md'}")
