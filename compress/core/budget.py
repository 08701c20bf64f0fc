"""The accuracy budget: one comparison and one tolerance, used by the quantization guard, the search, bench's verdict
and the regression gate, all under one name, `max_accuracy_drop` (points of the metric)."""

from __future__ import annotations

# Scores are shares of rows in points: a drop of exactly the budget (1 row in 100 against a budget of 1) must count as
# inside, not 1.0000000000000009 over it; a millionth of a point is far below one row of any evaluation set.
TOLERANCE = 1e-6


def within_budget(drop_points: float, max_accuracy_drop: float) -> bool:
    """Whether losing `drop_points` (negative: a gain) keeps within `max_accuracy_drop` points."""
    return drop_points <= max_accuracy_drop + TOLERANCE


def recorded(drop_points: float) -> float:
    """A drop as manifests and reports record it: to the tolerance, so that a drop equal to the budget reads as
    equal (0.5, not 0.5000000000000004)."""
    return round(drop_points, 6)


def room(max_accuracy_drop: float, drop_points: float) -> float:
    """The budget left after `drop_points` are spent, as a setting: rounded so that float noise in the spent part
    does not give the same setting a new cache key."""
    return round(max_accuracy_drop - drop_points, 4)
