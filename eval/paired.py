"""Paired comparison of two variants scored on the same rows: the metric's change with a seeded bootstrap
interval, and what that says about an accuracy budget.

Rows are resampled with replacement and both variants are scored on the same resample, so the interval
reflects how much the difference, not each score, depends on which rows happened to be in the split.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from compress.core.budget import within_budget
from compress.core.metrics import Metric

LEVEL = 0.95


def paired_delta(labels: Sequence[int], baseline: Sequence[int], variant: Sequence[int], num_labels: int,
                 metric: Metric = Metric(), resamples: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Variant minus baseline in points of `metric` (x100), with its 95% percentile-bootstrap interval."""
    y, base, other = np.asarray(labels), np.asarray(baseline), np.asarray(variant)
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(y), size=(resamples, len(y)))
    if metric.name == "accuracy":  # the common case, vectorised: the mean of per-row correctness differences
        change = (other == y).astype(float) - (base == y).astype(float)
        samples = change[rows].mean(1)
    else:
        samples = np.array([metric(y[r], other[r], num_labels) - metric(y[r], base[r], num_labels) for r in rows])
    tail = 100 * (1 - LEVEL) / 2
    low, high = np.percentile(samples, [tail, 100 - tail])
    return {"delta_points": 100 * (metric(y, other, num_labels) - metric(y, base, num_labels)),
            "interval_points": [100 * float(low), 100 * float(high)], "level": LEVEL, "resamples": resamples,
            "seed": seed}


def verdict(delta_points: float, interval_points: Sequence[float], budget: float) -> str:
    """Whether a drop is within `budget` points: with confidence (the interval's worst end is), at the point
    estimate only, or not at all."""
    if within_budget(-interval_points[0], budget):
        return "inside with 95% confidence"
    if within_budget(-delta_points, budget):
        return "inside at the point estimate only"
    return "outside"
