"""The search's candidates: each made through the recipe runner's cached stages, screened alone by the
harness on the validation role, and ranked within an accuracy budget. The search (compress.engine.search) decides
which to make; this module makes, measures and compares them. It sits at the top with the CLI: it measures through
the harness that compress.core.registry.harness() returns.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from compress.core.budget import within_budget
from compress.core.config import accepted
from compress.core.data import DataConfig
from compress.core.errors import CompressError
from compress.core.models import LoadSettings
from compress.core.pareto import pareto_front
from compress.core.registry import harness
from compress.core.training import Limits, limited
from compress.core.workloads import HEADLINE, HEADLINE_REAL
from compress.engine.commands import commands
from compress.engine.recipe import PlannedStage, place, run_cached
from compress.engine.search_config import SearchConfig

# The final run's size as the plan assumes it: the front and the fastest within each budget came to 6-10
# candidates in the recorded searches; 4 workloads (batch 1 and 32 at length 128, real lengths plain and bucketed).
FINAL_VARIANTS = 8
FINAL_WORKLOADS = 4
MEMORY_SECONDS = 10.0
# What each variant costs beyond its timed turns, its pauses and its scoring (warm-ups, ONNX sessions reopened for
# each phase, the memory probe's process start beyond MEMORY_SECONDS). The RTE search of 2026-12-08
# (amd-avx512-vnni) reserved 6.0 minutes without it and its final run took 13.2: 793 s for 10 variants, 284 s of
# them timed and 61 s scoring.
SETUP_SECONDS = 15.0


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
    key: str = ""                              # the cache key of the stage that made it
    layers: int | None = None                  # encoder layers, for an HF model the search made or was given

    @property
    def output(self) -> Output:
        """What a stage made from this candidate is keyed on."""
        return Output(self.path, self.key)

    def figures(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in ("key", "layers")}


@dataclass(frozen=True)
class Budget:
    """What candidates are ranked against, as a value: the baseline's validation score and file size, the points of
    --metric a candidate may lose, how much smaller the winner's file must be, and when latencies tie."""

    baseline_score: float
    max_accuracy_drop: float
    baseline_mb: float | None = None
    min_size_ratio: float = 1.0
    latency_tie: float = 0.03

    def within(self, candidate: Candidate | None) -> bool:
        return bool(candidate and candidate.score is not None
                    and within_budget(self.baseline_score - candidate.score, self.max_accuracy_drop))

    def tighter(self, drop: float) -> "Budget":
        """The same budget with `drop` points to lose (the high-accuracy point's)."""
        return dataclasses.replace(self, max_accuracy_drop=drop)


@dataclass(frozen=True)
class Output:
    """A stage's output directory and its cache key, which every stage made from it is keyed on."""

    path: str
    key: str


class Clock:
    """The search's time: when it started, this machine's measured training and screening speeds, and what
    --time-budget leaves for making candidates once the final side-by-side run's share is held back."""

    def __init__(self, config: SearchConfig, started: float | None = None, scored_rows: int = 0):
        self.time_budget, self.memory = config.time_budget, config.memory
        final = side_by_side(config)
        # A workload runs at least min_time, then up to workload_seconds more; with spinning, each turn is followed by
        # an untimed pause.
        pauses = 1 + final.settle_ms / final.turn_ms if final.ort_spinning and final.turn_ms else 1.0
        self.workload_seconds = (final.min_time + final.workload_seconds) * pauses
        self.peers = len(config.peer)
        self.started = time.time() if started is None else started
        self.scored_rows = scored_rows   # rows the final run scores per variant (final_scored_rows)
        self.seconds_per_layer_row: float | None = None   # training speed: a stage's seconds per row and layer
        self.seconds_per_scored_row: list[float] = []      # scoring speed, measured in each screening
        self.screen_seconds: list[float] = []              # wall time of each screening

    def minutes(self) -> float:
        return (time.time() - self.started) / 60

    def minutes_left(self) -> float | None:
        """Minutes left for making candidates: --time-budget less what has run and the final run's reserve."""
        return None if self.time_budget is None else self.time_budget - self.minutes() - self.final_minutes()

    def final_minutes(self, variants: int = FINAL_VARIANTS) -> float:
        """The final side-by-side run's expected minutes: for the baseline, `variants` candidates and each peer,
        each workload for the most its settings let it run, scoring every row it scores at the median speed
        screening measured, a fresh process for memory and the setup around them. (The BANKING77 search of
        2026-12-07 reserved 9.9 minutes from three screenings' scoring per variant, and took 15.3: its variants
        scored 16 times the screening's rows.)"""
        if not self.seconds_per_scored_row:
            return 0.0
        per_row = sorted(self.seconds_per_scored_row)[len(self.seconds_per_scored_row) // 2]
        memory = MEMORY_SECONDS if self.memory else 0.0
        each = FINAL_WORKLOADS * self.workload_seconds + per_row * self.scored_rows + memory + SETUP_SECONDS
        return (variants + 1 + self.peers) * each / 60

    def training_minutes(self, work: float) -> float:
        """Expected minutes of a training stage of `work` rows x epochs x layers at the measured speed."""
        return work * self.seconds_per_layer_row / 60 if self.seconds_per_layer_row else 0.0

    def stamp(self) -> str:
        left = self.minutes_left()
        return f"[{self.minutes():.1f} min" + ("]" if left is None else f", {max(left, 0):.1f} min left]")


@dataclass
class Ledger:
    """What the search made (failed ones included) and passed over, in order: the report lists both."""

    candidates: list[Candidate] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Search:
    """One search's settings and fixed facts (the screened input model, the training rows), with its clock and its
    ledger: the only two parts that change as it runs, each with one job."""

    config: SearchConfig
    log: Callable[[str], None]
    dry_run: bool
    clock: Clock
    ledger: Ledger = field(default_factory=Ledger)
    baseline: Candidate | None = None
    train_rows: int = 0

    def budget(self) -> Budget:
        """The ranking budget, once the baseline is screened."""
        return Budget(self.baseline.score, self.config.max_accuracy_drop, self.baseline.file_mb,
                      self.config.min_size_ratio, self.config.latency_tie)

    def within(self, candidate: Candidate | None) -> bool:
        return self.budget().within(candidate)

    def limits(self) -> Limits:
        """A training stage's limits: stop when the time for making candidates is spent, or once its curve cannot
        reach the budget's edge on validation."""
        left = self.clock.minutes_left()
        base = None if self.baseline is None else self.baseline.score      # unscored in a dry run
        floor = None if base is None else (base - self.config.max_accuracy_drop) / 100
        return Limits(deadline=None if left is None else time.time() + 60 * max(left, 0.0), floor=floor)

    def note(self, line: str) -> None:
        """Log `line` behind the clock's stamp."""
        self.log(f"{self.clock.stamp()} {line}")


def settings_for(cls: type, config: SearchConfig, settings: dict[str, Any]) -> Any:
    """Settings class `cls` from the search's data and loading settings (those `cls` accepts) and `settings`."""
    accepted_names = {f.name for f in accepted(cls)}
    shared = [*dataclasses.fields(DataConfig), *dataclasses.fields(LoadSettings)]
    data = {f.name: getattr(config, f.name) for f in shared if f.name in accepted_names}
    return cls(**{**data, **settings})


def make(job: Search, name: str, kind: str, settings: dict[str, Any], parent: Output,
         work: float = 0.0) -> Output | None:
    """The output of stage `kind` on model `parent`: cached, made now, or None if skipped/failed.

    `work` (training rows x epochs x layers) lets a training stage be held back when the speed measured on
    earlier ones says it would not finish within --time-budget."""
    cls = commands()[kind].settings
    planned = place(PlannedStage(0, name, kind, settings_for(cls, job.config, settings), [parent.path]),
                    [parent.key], [parent.path], Path(job.config.workdir))
    clock = job.clock

    def hold() -> str | None:
        left = clock.minutes_left()
        if not work or left is None:
            return None
        needed = clock.training_minutes(work)
        if left > 0 and needed <= left:
            return None
        job.ledger.skipped.append(f"{name} (time budget)")
        return "--time-budget " + ("spent" if left <= 0 else f"{left:.0f} min left, about {needed:.0f} needed")

    started = time.time()
    try:
        with limited(job.limits() if work else Limits()):
            status = run_cached(planned, f"{name} ({kind})", job.dry_run, job.note, hold)
    except CompressError as exc:
        job.note(f"{name} ({kind}): failed: {exc}")
        job.ledger.candidates.append(Candidate(name, str(planned.output), commands()[kind].produces, [],
                                                  failed=str(exc)))
        return None
    if status == "ran" and work:
        clock.seconds_per_layer_row = (time.time() - started) / work
    return None if status == "held" else Output(str(planned.output), planned.key)


def _served(config: SearchConfig) -> dict[str, Any]:
    """What both presets time: the headline shapes, served with the search's threads and spinning."""
    return dict(threads=config.threads, lengths=[128], real_batch_sizes=[32], ort_spinning=config.ort_spinning)


def screening(config: SearchConfig):
    """Harness settings for screening one candidate alone: validation only, batch 1 and real lengths, short."""
    return settings_for(harness().settings, config, dict(
        **_served(config), roles=["validation"], batch_sizes=[1], min_runs=10, real_min_runs=3,
        workload_seconds=config.screen_seconds, min_time=0.0, memory=False, perturbations=["none"]))


def side_by_side(config: SearchConfig):
    """Harness settings for the final run: validation and test, every workload the report shows, longer."""
    return settings_for(harness().settings, config, dict(
        **_served(config), roles=["validation", "test"], max_accuracy_drop=config.max_accuracy_drop,
        batch_sizes=[1, 32],
        peer=config.peer, peer_workdir=str(Path(config.workdir) / "peers"),
        bucket=True, min_runs=config.final_min_runs, real_min_runs=min(5, config.final_min_runs),
        workload_seconds=config.final_seconds,
        min_time=config.final_seconds, memory=config.memory,
        perturbations=["typos", "word_dropout"] if config.scorecard else ["none"],
        perturbation_rows=config.robustness_rows))


def final_scored_rows(config: SearchConfig, validation_rows: int, test_rows: int) -> int:
    """Rows the final run scores per variant: validation, test, and a perturbed copy of (a sample of) test for each
    perturbation and rate of its scorecard."""
    settings = side_by_side(config)
    copies = len([k for k in settings.perturbations if k != "none"]) * len(settings.perturbation_rates)
    return validation_rows + test_rows + copies * min(test_rows, settings.perturbation_rows or test_rows)


def screen(job: Search, candidate: Candidate, in_dry_run: bool = False) -> Candidate:
    """Validation score and a short latency measurement of one candidate on its own (in a dry run only if
    `in_dry_run`: the input model, whose screening prices the plan)."""
    if job.dry_run and not in_dry_run:
        return candidate
    started = time.time()
    record = harness().bench([candidate.path], screening(job.config), progress=False)
    rows = record["data"]["roles"]["validation"]["rows"]
    job.clock.seconds_per_scored_row.append(record["settings"]["scoring_seconds"] / rows)
    job.clock.screen_seconds.append(time.time() - started)
    result = record["variants"][0]
    latency = {e["workload"]: e for e in result["latency"]}
    candidate.score = 100 * result["validation"]["metrics"]["score"]
    candidate.latency_ms = latency[HEADLINE]["p50_ms"]
    candidate.throughput = latency[HEADLINE_REAL]["seq_per_s"]
    candidate.file_mb = result["size"]["file_bytes"] / 1e6
    base = job.baseline or candidate
    job.note(f"  {candidate.name}: validation {job.config.metric} {candidate.score:.2f} "
                f"({candidate.score - base.score:+.2f}), {HEADLINE} {candidate.latency_ms:.2f} ms "
                f"({base.latency_ms / candidate.latency_ms:.2f}x), {candidate.file_mb:.1f} MB")
    return candidate


def add(job: Search, name: str, made: Output | None, kind: str, chain: list[str],
        layers: int | None = None) -> Candidate | None:
    """Screen what a stage made and enter it in the ledger (None when nothing was made)."""
    if made is None:
        return None
    candidate = screen(job, Candidate(name, made.path, kind, chain, key=made.key, layers=layers))
    job.ledger.candidates.append(candidate)
    return candidate


def fastest(candidates: list[Candidate | None], budget: Budget, count: int, latency: str = "latency_ms",
            sized: bool = False) -> list[Candidate]:
    """The `count` fastest candidates within `budget` and, if `sized`, at least its size ratio smaller than the
    baseline."""
    largest = budget.baseline_mb / budget.min_size_ratio if sized and budget.baseline_mb else None
    inside = [c for c in candidates if c and getattr(c, latency) is not None and budget.within(c)
              and (largest is None or (c.file_mb or 0.0) <= largest)]
    return sorted(inside, key=lambda c: getattr(c, latency))[:count]


def best(candidates: list[Candidate | None], budget: Budget, latency: str = "latency_ms",
         sized: bool = False) -> Candidate | None:
    """The fastest candidate within `budget`; among those within its latency tie of it, the smallest file."""
    inside = fastest(candidates, budget, len(candidates), latency, sized)
    if not inside:
        return None
    limit = getattr(inside[0], latency) * (1 + budget.latency_tie)
    tied = [c for c in inside if getattr(c, latency) <= limit]
    return min(tied, key=lambda c: (c.file_mb or 0.0, getattr(c, latency)))


def pareto(candidates: list[Candidate]) -> list[Candidate]:
    scored = [c for c in candidates if c.latency_ms is not None]
    return [scored[i] for i in pareto_front([(c.latency_ms, c.score) for c in scored])]
