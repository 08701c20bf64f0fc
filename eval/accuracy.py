"""Accuracy of any runner on a labelled split, computed by the same code for every backend."""

from __future__ import annotations

from typing import Any

import numpy as np

from compress.core.batching import Features, featurize
from compress.core.data import LabelledText
from compress.core.metrics import Metric, classification_metrics


def features_for(runner, data: LabelledText, max_length: int = 128) -> Features:
    """Tokenise with the runner's own tokenizer and encode labels in the runner's label space."""
    return featurize(runner.tokenizer, data, runner.labels, max_length)


def score(runner, features: Features, metric: Metric = Metric(), batch_size: int = 64) -> dict[str, Any]:
    """Metrics (`score` is `metric`), and per row the label, prediction and probabilities, for paired comparisons."""
    logits = runner.logits(features, batch_size)
    predictions = logits.argmax(-1)
    shifted = logits - logits.max(-1, keepdims=True)
    probs = np.exp(shifted) / np.exp(shifted).sum(-1, keepdims=True)
    return {"metrics": classification_metrics(features.labels, predictions, len(runner.labels.names), metric),
            "label_names": list(runner.labels.names), "labels": list(features.labels),
            "predictions": predictions.tolist(), "probabilities": probs.round(6).tolist()}


def agreement(baseline: list[int], other: list[int]) -> float:
    a, b = np.asarray(baseline), np.asarray(other)
    return float((a == b).mean())
