"""Latency: interleaved, warmed-up, repeated timing of several runners on the same workloads.

Variants are timed in rounds (A B C A B C ...) so drift in machine speed hits all of them alike;
after the minimum runs and time, rounds go on until every median's confidence interval is narrow
or the time budget is spent.
"""

from __future__ import annotations

import dataclasses
import gc
import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from compress.core.progress import bar as progress_bar
from compress.core.workloads import fixed_name, real_name

# The harness's clock and pause; the tests replace both with a fake clock that only the timed runners advance.
clock = time.perf_counter
pause = time.sleep


@dataclass
class Workload:
    """Batches that make one pass: a single fixed-shape batch, or the dataset's real lengths."""

    name: str
    batches: list[dict[str, np.ndarray]]
    batch_size: int
    length: int | None          # None: dynamic padding to each batch's longest row
    sequences: int = 0

    def __post_init__(self):
        self.sequences = sum(len(b["input_ids"]) for b in self.batches)


@dataclass
class LatencySettings:
    warmup: int = 3             # untimed passes per variant before measuring
    min_runs: int = 10          # timed passes per variant at least
    max_runs: int = 1000
    budget_s: float = 5.0       # per variant and workload, once min_runs and min_s are done
    min_s: float = 0.0          # timed seconds per variant at least: a stable median over a 1 s window still
                                # moved 16-21% between runs at batch 1 here, as the machine's state changed
    stable_tolerance: float = 0.01  # stop once every median's confidence half-interval is below this fraction
    settle_s: float = 0.0       # untimed pause after each variant's turn, for spinning threads to go idle
    min_turn_s: float = 0.0     # passes per turn go on until this long, so a turn's cold first pass is one of many


@dataclass
class Samples:
    pass_s: list[float] = field(default_factory=list)
    batch_s: list[float] = field(default_factory=list)

    def extend(self, other: "Samples") -> None:
        self.pass_s += other.pass_s
        self.batch_s += other.batch_s


def percentile_summary(values_s: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/mean/min in milliseconds (linear interpolation between order statistics)."""
    ms = np.asarray(values_s, dtype=float) * 1e3
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return {"p50_ms": float(p50), "p90_ms": float(p90), "p99_ms": float(p99), "mean_ms": float(ms.mean()),
            "min_ms": float(ms.min())}


def fixed_shape(encodings: list[dict[str, list[int]]], batch_size: int, length: int, pad_id: int) -> Workload:
    """Real token rows cut or padded to exactly `length`; the mask marks real tokens."""
    rows = [encodings[i % len(encodings)] for i in range(batch_size)]
    batch = {}
    for key in rows[0]:
        fill = pad_id if key == "input_ids" else 0
        batch[key] = np.array([(r[key] + [fill] * length)[:length] for r in rows], dtype=np.int64)
    # Rows shorter than `length` get their mask padded with 0s above; truncated rows keep a full mask.
    return Workload(fixed_name(batch_size, length), [batch], batch_size, length)


def real_lengths(encodings: list[dict[str, list[int]]], batch_size: int, pad_id: int,
                 bucket: bool = False) -> Workload:
    """The dataset's rows in order (or length-sorted when bucketing), each batch padded to its longest row."""
    order = sorted(range(len(encodings)), key=lambda i: len(encodings[i]["input_ids"])) if bucket \
        else list(range(len(encodings)))
    batches = []
    for start in range(0, len(order), batch_size):
        rows = [encodings[i] for i in order[start:start + batch_size]]
        width = max(len(r["input_ids"]) for r in rows)
        batches.append({k: np.array([r[k] + [pad_id if k == "input_ids" else 0] * (width - len(r[k])) for r in rows],
                                    dtype=np.int64) for k in rows[0]})
    return Workload(real_name(batch_size, bucket), batches, batch_size, None)


def median_interval(values: Sequence[float], z: float = 1.96) -> tuple[float, float]:
    """Distribution-free ~95% confidence interval of the median: order statistics n/2 -+ z*sqrt(n)/2."""
    ordered = sorted(values)
    n = len(ordered)
    half = z * math.sqrt(n) / 2
    return ordered[max(0, math.floor(n / 2 - half))], ordered[min(n - 1, math.ceil(n / 2 + half))]


def _stable(samples: list[float], tolerance: float) -> bool:
    """The median is known to within `tolerance` of itself (half its confidence interval).

    A median that merely stopped moving after one more round was not enough: repeated runs here
    disagreed by 12% at batch 32, where the PyTorch passes spread from 0.57 to 0.79 s.
    """
    low, high = median_interval(samples)
    return (high - low) / 2 <= tolerance * statistics.median(samples)


def measure_pairs(pairs: Sequence[tuple[Any, Workload]], settings: LatencySettings,
                  progress: bool = True) -> list[dict[str, Any]]:
    """Time each runner on its workload (same shapes, its own tokens), interleaved round by round."""
    return [summarize(s, w) for s, (_, w) in zip(collect(pairs, settings, progress), pairs)]


def share(settings: LatencySettings, parts: int) -> LatencySettings:
    """Settings for one of `parts` blocks that together make one measurement."""
    return dataclasses.replace(settings, min_runs=math.ceil(settings.min_runs / parts),
                               max_runs=math.ceil(settings.max_runs / parts), min_s=settings.min_s / parts,
                               budget_s=settings.budget_s / parts)


def collect(pairs: Sequence[tuple[Any, Workload]], settings: LatencySettings, progress: bool = True) -> list[Samples]:
    """The timed passes of each runner, interleaved round by round, after warm-up."""
    # Garbage collection off while timing, as timeit does: PyTorch's eager forward makes many Python objects,
    # so in a long-lived process with a large heap (a search) full collections landed inside its passes.
    collecting = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        return _collect(pairs, settings, progress)
    finally:
        if collecting:
            gc.enable()


def _collect(pairs: Sequence[tuple[Any, Workload]], settings: LatencySettings, progress: bool) -> list[Samples]:
    runners = [r for r, _ in pairs]
    workload = pairs[0][1]
    prepared = [[r.prepare(b) for b in w.batches] for r, w in pairs]
    for runner, batches in zip(runners, prepared):
        for _ in range(max(1, settings.warmup)):
            for b in batches:
                runner.run(b)
    samples = [Samples() for _ in runners]
    per_round = max(1, settings.min_runs // 5)  # several rounds even at the minimum, so drift is shared
    minimum_done = None
    bar = progress_bar(desc=f"latency {workload.name}", unit="pass", disable=not progress, leave=False)
    while True:
        for runner, batches, s in zip(runners, prepared, samples):
            turn_start, passes = clock(), 0
            while passes < per_round or clock() - turn_start < settings.min_turn_s:
                pass_start = clock()
                for b in batches:
                    t0 = clock()
                    runner.run(b)
                    s.batch_s.append(clock() - t0)
                s.pass_s.append(clock() - pass_start)
                passes += 1
            bar.update(passes)
            if settings.settle_s:
                pause(settings.settle_s)
        runs = min(len(s.pass_s) for s in samples)
        if runs >= settings.max_runs:
            break
        if runs < settings.min_runs or min(sum(s.pass_s) for s in samples) < settings.min_s:
            continue
        minimum_done = minimum_done or clock()
        if (clock() - minimum_done > settings.budget_s * len(runners)
                or all(_stable(s.pass_s, settings.stable_tolerance) for s in samples)):
            break
    bar.close()
    return samples


def summarize(s: Samples, workload: Workload) -> dict[str, Any]:
    pass_p50 = statistics.median(s.pass_s)
    return {"workload": workload.name, "batch_size": workload.batch_size, "length": workload.length,
            "runs": len(s.pass_s), "batches_per_run": len(workload.batches),
            **percentile_summary(s.batch_s), "p50_interval_ms": [1e3 * v for v in median_interval(s.batch_s)],
            "run_p50_ms": pass_p50 * 1e3,
            "seq_per_s": workload.sequences / pass_p50}


def ratios(baseline: dict[str, Any], other: dict[str, Any]) -> dict[str, float]:
    """How many times faster `other` is than `baseline` (p50 latency and throughput)."""
    return {"speedup_p50": baseline["p50_ms"] / other["p50_ms"],
            "throughput_ratio": other["seq_per_s"] / baseline["seq_per_s"]}
