"""eval.paired: the paired bootstrap interval of a drop, and the verdict against a budget."""

import pytest

from compress.core.metrics import Metric
from eval.paired import paired_delta, verdict


def test_bootstrap_interval_matches_the_binomial_worked_by_hand():
    # 10 rows: on 5 the baseline is right and the variant wrong, on 5 both are right. A resample's drop is
    # 10 points per discordant row drawn, X ~ Binomial(10, 0.5): P(X <= 1) = 11/1024 < 2.5% < P(X <= 2) =
    # 56/1024 and P(X <= 7) = 968/1024 < 97.5% < P(X <= 8) = 1013/1024, so the interval is [-80, -20].
    labels = [1] * 10
    baseline = [1] * 10
    variant = [0] * 5 + [1] * 5
    result = paired_delta(labels, baseline, variant, 2, resamples=20000, seed=0)
    assert result["delta_points"] == pytest.approx(-50.0)
    assert result["interval_points"] == [pytest.approx(-80.0), pytest.approx(-20.0)]


def test_identical_predictions_have_a_zero_width_interval_in_any_metric():
    labels, same = [0, 1, 2, 1, 0, 2], [0, 1, 1, 1, 0, 2]
    for metric in (Metric("accuracy"), Metric("macro-f1"), Metric("mcc")):
        result = paired_delta(labels, same, same, 3, metric, resamples=200)
        assert result["delta_points"] == 0 and result["interval_points"] == [0.0, 0.0]


def test_the_interval_is_seeded_and_covers_the_point_estimate_in_macro_f1():
    labels = [i % 3 for i in range(60)]
    base = labels[:]
    other = [(y + (i % 7 == 0)) % 3 for i, y in enumerate(labels)]
    first = paired_delta(labels, base, other, 3, Metric("macro-f1"), resamples=300, seed=4)
    again = paired_delta(labels, base, other, 3, Metric("macro-f1"), resamples=300, seed=4)
    assert first == again
    low, high = first["interval_points"]
    assert low <= first["delta_points"] <= high < 0


def test_verdict_separates_confidence_from_the_point_estimate():
    assert verdict(-0.5, [-0.9, 0.1], budget=1.0) == "inside with 95% confidence"
    assert verdict(-0.5, [-2.3, 1.2], budget=1.0) == "inside at the point estimate only"
    assert verdict(-1.5, [-2.5, -0.5], budget=1.0) == "outside"
