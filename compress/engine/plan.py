"""The search's plan: before the work, what it expects to try within --time-budget and the budget at which each
later family of candidates (students, pruning, hidden size) becomes reachable, from the data size, the model's
depth and this machine's training speed. It sits at the top with the search."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from compress.core.artifacts import read_manifest
from compress.engine.candidates import Search


@dataclass
class Step:
    """One planned family member: its name and the minutes it is expected to take."""

    name: str
    train_minutes: float | None
    post_minutes: float | None

    @property
    def minutes(self) -> float | None:
        if self.train_minutes is None or self.post_minutes is None:
            return None
        return self.train_minutes + self.post_minutes


def recorded_speed(model: str, layers: int) -> float | None:
    """Seconds per training row and layer in the input model's own fine-tuning record, if compress made it."""
    manifest = read_manifest(model) or {}
    metrics, settings = manifest.get("metrics", {}), manifest.get("settings", {})
    rows = (metrics.get("steps") or 0) * (settings.get("batch_size") or 0) * (metrics.get("processes") or 1)
    if not (metrics.get("train_seconds") and rows and layers):
        return None
    return metrics["train_seconds"] / (rows * layers)


def steps(config: Any, train_rows: int, layers: int, speed: float | None, post_minutes: float | None,
          student_budget) -> list[Step]:
    """The families in the order the search tries them: each listed student, then head/FFN pruning and hidden-size
    narrowing of the shallowest one (each ratio or size recovered on the input model's soft targets)."""
    def train(work: float) -> float | None:
        return None if speed is None else work * speed / 60

    epochs, copies = student_budget(config, train_rows)
    depths = sorted({n for n in config.student_layers if 0 < n < layers}, reverse=True)
    planned = [Step(f"student{d}", train(train_rows * (1 + copies) * epochs * d), post_minutes) for d in depths]
    depth = depths[-1] if depths else layers
    cut_of = f"student{depth}" if depths else "the input model"
    ratios = sorted({r for r in config.prune_ratios if r > 0})
    recovery = train_rows * (1 + config.recovery_augment[0]) * config.recovery_epochs[0] * depth
    if ratios:
        planned.append(Step(f"{cut_of} with {', '.join(f'{r:g}' for r in ratios)} of heads and FFN pruned",
                            train(recovery * len(ratios)), None if post_minutes is None
                            else post_minutes * len(ratios)))
    fractions = [f for f in config.hidden_fractions if f > 0]
    if fractions:
        planned.append(Step(f"{cut_of} narrowed to {', '.join(f'{f:g}' for f in fractions)} of its hidden size",
                            train(recovery * len(fractions)), None if post_minutes is None
                            else post_minutes * len(fractions)))
    return planned


def lines(planned: list[Step], budget: float | None, spent: float | None, final_minutes: float | None,
          speed_source: str, estimated: bool = False) -> list[str]:
    """The plan as the search prints it: each family with its expected minutes, whether --time-budget reaches it,
    and the budget that would. `estimated`: `spent` is a dry run's estimate, not minutes that ran."""
    def fmt(value: float | None) -> str:
        return "?" if value is None else f"{value:.1f}"

    post = (f"about {fmt(spent)} min expected for the input model's int8 and vocabulary candidates (each priced "
            "at two screenings of the input model: its stage and its screening)" if estimated
            else f"{fmt(spent)} min spent on the input model's int8 and vocabulary candidates")
    head = (f"plan: {post}; the final side-by-side run takes about {fmt(final_minutes)} min; training speed "
            f"{speed_source}")
    out, at = [head], spent
    for step in planned:
        at = None if at is None or step.minutes is None else at + step.minutes
        line = f"plan: {step.name}: ~{fmt(step.train_minutes)} min training + ~{fmt(step.post_minutes)} min int8 and "\
               "screening"
        if at is not None:
            needed = at + (final_minutes or 0.0)
            line += f", done by minute {at:.1f}; " + ("reachable" if budget is None or needed <= budget else
                                                       f"not within --time-budget {budget:g}: needs about "
                                                       f"{needed:.0f}")
        out.append(line)
    return out


def announce(job: Search, layers: int, student_budget) -> None:
    """Print what the search `job` expects to try within --time-budget, from the
    minutes the input model's own candidates took and the training speed of its fine-tuning record (or, later, of
    the first training stage)."""
    config, clock = job.config, job.clock
    recorded = recorded_speed(config.model, layers)
    clock.seconds_per_layer_row = clock.seconds_per_layer_row or recorded
    screened = [c for c in job.ledger.candidates if c.name.startswith("model")]
    if job.dry_run:
        # Nothing but the input model is measured in a dry run: each of its candidates is priced at two of its
        # screenings (the search of 2026-12-07 on BANKING77 spent 3.2 min on 6 of them).
        spent = 2 * len(screened) * clock.screen_seconds[-1] / 60 if clock.screen_seconds else None
    else:
        spent = clock.minutes()
    post = spent if screened else None
    source = (f"{1e6 * recorded:.0f} us per row and layer, from the input model's fine-tuning record" if recorded
              else "unknown until the first student has trained")
    planned = steps(config, job.train_rows, layers, clock.seconds_per_layer_row, post, student_budget)
    for line in lines(planned, config.time_budget, spent, clock.final_minutes(), source, estimated=job.dry_run):
        job.log(line)
