"""compress.core.metrics: every budget metric agrees with scikit-learn's independent implementation."""

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

from compress.core.errors import CompressError
from compress.core.metrics import Metric, classification_metrics, scored


@pytest.fixture(params=[2, 3, 6])
def predictions(request):
    rng = np.random.default_rng(request.param)
    labels = rng.integers(0, request.param, 300)
    noisy = np.where(rng.random(300) < 0.7, labels, rng.integers(0, request.param, 300))
    return request.param, labels, noisy


def test_accuracy_macro_f1_class_f1_and_mcc_match_sklearn(predictions):
    k, y, p = predictions
    assert Metric("accuracy")(y, p, k) == pytest.approx(accuracy_score(y, p))
    assert Metric("macro-f1")(y, p, k) == pytest.approx(f1_score(y, p, average="macro"))
    assert Metric("mcc")(y, p, k) == pytest.approx(matthews_corrcoef(y, p))
    for c in range(k):
        assert Metric(f"f1:{c}", c)(y, p, k) == pytest.approx(f1_score(y, p, labels=[c], average="macro"))


def test_class_f1_is_parsed_by_label_name_and_unknown_names_are_one_line_errors():
    assert Metric.parse("f1:spam", ("ham", "spam")).positive == 1
    with pytest.raises(CompressError, match=r"no class 'eggs' \(classes: ham, spam\)"):
        Metric.parse("f1:eggs", ("ham", "spam"))
    with pytest.raises(CompressError, match="--metric must be"):
        Metric.parse("auc")


def test_classification_metrics_reports_the_chosen_metric_as_score():
    y, p = [0, 0, 1, 1, 1], [0, 1, 1, 1, 0]
    scores = classification_metrics(y, p, 2, Metric.parse("f1:1", ("0", "1")))
    assert scores["score"] == pytest.approx(f1_score(y, p)) and scores["accuracy"] == pytest.approx(0.6)
    assert classification_metrics(y, p, 2)["score"] == scores["accuracy"]


def test_scored_logits_give_the_metrics_of_their_argmax_and_probabilities_that_sum_to_one():
    logits = np.array([[2.0, 0.0], [0.0, 1.0], [3.0, -1.0]])
    out = scored([0, 1, 1], logits, ("negative", "positive"), Metric("mcc"))
    assert out["predictions"] == [0, 1, 0] and out["label_names"] == ["negative", "positive"]
    assert out["metrics"] == classification_metrics([0, 1, 1], [0, 1, 0], 2, Metric("mcc"))
    assert np.allclose(np.sum(out["probabilities"], axis=1), 1.0, atol=1e-5)
