"""Scorecard measurements: fidelity, calibration, seeded perturbations, and their gate tolerances."""

import random

import numpy as np
import pytest

from compress.data import LabelledText
from eval import robustness
from eval.calibration import calibration
from eval.check import Tolerances, check
from eval.fidelity import fidelity
from tests.eval.records import record


def test_a_model_compared_with_itself_agrees_fully_with_zero_flips_and_zero_kl():
    probs = np.random.default_rng(0).dirichlet([1, 1], size=200)
    out = fidelity(probs, probs, ["negative", "positive"])
    assert out["agreement"] == 1.0 and out["flips"] == 0 and out["flip_rate"] == 0.0
    assert out["kl_mean"] == pytest.approx(0.0, abs=1e-9)
    assert out["flips_by_direction"] == {"negative->positive": 0, "positive->negative": 0}


def test_flips_are_counted_per_direction():
    base = [[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]]
    other = [[0.2, 0.8], [0.7, 0.3], [0.6, 0.4], [0.9, 0.1]]
    out = fidelity(base, other, ["neg", "pos"])
    assert out["flips_by_direction"] == {"neg->pos": 1, "pos->neg": 2}
    assert out["agreement"] == 0.25 and out["kl_mean"] > 0


def test_a_perfectly_calibrated_predictor_has_ece_near_zero_and_an_overconfident_one_does_not():
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.5, 1.0, 20000)
    correct = rng.uniform(size=confidence.size) < confidence  # right exactly as often as it claims
    labels = np.where(correct, 1, 0)
    probs = np.stack([1 - confidence, confidence], axis=1)
    calibrated = calibration(probs, labels, bins=10)
    assert calibrated["ece"] < 0.02 and calibrated["bins"] == 10
    overconfident = np.stack([np.full(confidence.size, 0.01), np.full(confidence.size, 0.99)], axis=1)
    bad = calibration(overconfident, labels, bins=10)
    assert bad["ece"] > 0.2
    assert bad["mean_confidence"] == pytest.approx(0.99)


def data(texts):
    return LabelledText(list(texts), None, ["0"] * len(texts))


SENTENCES = ["a gripping , beautifully made film that never lets go of its audience",
             "the plot is thin and the jokes are stale , but the cast is likeable enough"]


@pytest.mark.parametrize("kind", sorted(robustness.PERTURBATIONS))
def test_perturbations_are_deterministic_for_a_seed_and_differ_across_seeds(kind):
    a = robustness.perturb(data(SENTENCES), kind, 0.15, seed=3).texts
    b = robustness.perturb(data(SENTENCES), kind, 0.15, seed=3).texts
    c = robustness.perturb(data(SENTENCES), kind, 0.15, seed=4).texts
    assert a == b and a != SENTENCES and a != c


def test_word_dropout_removes_the_stated_fraction_of_words():
    text = " ".join(f"w{i}" for i in range(40))
    out = robustness.word_dropout(text, 0.25, random.Random(0))
    assert len(out.split()) == 30 and set(out.split()) <= set(text.split())


def test_case_flips_the_stated_fraction_of_words():
    text = " ".join(["word"] * 20)
    out = robustness.case(text, 0.15, random.Random(0)).split()
    assert sum(w == "WORD" for w in out) == 3


def edit_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


def test_typos_edit_about_the_stated_fraction_of_characters():
    text = "abcdefghij" * 10
    out = robustness.typos(text, 0.10, random.Random(0))
    assert 10 <= edit_distance(text, out) <= 20  # ten edits; a swap costs two single-character edits
    assert robustness.typos(text, 0.0, random.Random(0)) == text


def test_gate_fails_when_a_flip_rate_tolerance_is_exceeded():
    def with_flips(rate):
        def update(v):
            v["scorecard"] = {"fidelity": {"flip_rate": rate}, "calibration": {"ece": 0.05}}
        return update

    baseline = record(int8=with_flips(0.01), teacher=with_flips(0.0))
    assert check(record(int8=with_flips(0.02), teacher=with_flips(0.0)), baseline,
                 Tolerances(max_flip_rate=0.03))["passed"]
    failed = check(record(int8=with_flips(0.05), teacher=with_flips(0.0)), baseline, Tolerances(max_flip_rate=0.03))
    assert [(f["variant"], f["metric"]) for f in failed["failures"]] == [("int8", "flip_rate")]
