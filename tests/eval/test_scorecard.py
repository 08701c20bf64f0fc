"""Scorecard measurements: fidelity, calibration, seeded perturbations, and their gate tolerances."""

import random

import numpy as np
import pytest
from scipy.stats import entropy

from compress.core.data import LabelledText
from eval import robustness
from eval.calibration import calibration
from eval.check import Tolerances, check
from eval.fidelity import fidelity
from eval.report import scorecard_table
from tests.eval.records import record

# Three classes, four rows: rows 0 and 1 flip a->b, row 2 flips c->a, row 3 is unchanged.
BASE = [[0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8], [0.2, 0.7, 0.1]]
VARIANT = [[0.1, 0.8, 0.1], [0.2, 0.7, 0.1], [0.6, 0.2, 0.2], [0.2, 0.7, 0.1]]


def test_fidelity_gives_the_known_agreement_flips_and_kl_divergence():
    out = fidelity(BASE, VARIANT, ["a", "b", "c"])
    assert out["agreement"] == 0.25 and out["flips"] == 3 and out["flip_rate"] == 0.75
    assert out["flips_by_direction"] == {"a->b": 2, "c->a": 1}
    kl = [entropy(p, q) for p, q in zip(BASE, VARIANT)]  # scipy's KL(p || q), an independent implementation
    assert kl[3] == 0 and out["kl_mean"] == pytest.approx(np.mean(kl), rel=1e-9)
    assert out["kl_max"] == pytest.approx(max(kl), rel=1e-9)


def test_flips_list_only_the_directions_that_occur_most_first_in_label_order_on_ties():
    base = [[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]]
    other = [[0.2, 0.8], [0.7, 0.3], [0.6, 0.4], [0.9, 0.1]]
    assert list(fidelity(base, other, ["neg", "pos"])["flips_by_direction"].items()) == [("pos->neg", 2),
                                                                                         ("neg->pos", 1)]
    tied = fidelity([[0.9, 0.1], [0.1, 0.9]], [[0.1, 0.9], [0.9, 0.1]], ["neg", "pos"])["flips_by_direction"]
    assert list(tied) == ["neg->pos", "pos->neg"]
    assert fidelity(base, base, ["neg", "pos"])["flips_by_direction"] == {}


def test_many_classes_record_only_the_directions_that_occur():
    rng = np.random.default_rng(0)
    base, other = rng.dirichlet(np.ones(77), size=300), rng.dirichlet(np.ones(77), size=300)
    out = fidelity(base, other, [f"intent{i}" for i in range(77)])
    assert sum(out["flips_by_direction"].values()) == out["flips"] == int((base.argmax(-1) != other.argmax(-1)).sum())
    assert 0 < len(out["flips_by_direction"]) <= out["flips"] < 77 * 76
    assert all(n > 0 for n in out["flips_by_direction"].values())


def carded(name, flips_by_direction):
    def update(v):
        v["scorecard"] = {"fidelity": {"agreement": 0.9, "flips": sum(flips_by_direction.values()),
                                       "flips_by_direction": flips_by_direction, "kl_mean": 0.01},
                          "calibration": {"ece": 0.05, "mean_confidence": 0.9, "accuracy": 0.88},
                          "robustness": [], "out_of_domain": []}
    return {name: update}


def test_the_scorecard_shows_the_flip_total_and_the_three_largest_directions_with_label_names():
    six = {"balance->refund": 1, "card_lost->card_arrival": 7, "pin->card_lost": 3, "refund->balance": 4,
           "top_up->pin": 2, "card_arrival->card_lost": 0}
    variants = record(**carded("int8", six), **carded("teacher", {}))["variants"]
    rows = {row[0]: row for row in scorecard_table(variants)[1]}
    assert rows["int8"][2] == ("17 (card_lost->card_arrival: 7, refund->balance: 4, pin->card_lost: 3; "
                               "3 more in 2 other directions)")
    assert rows["teacher"][2] == "0"


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
