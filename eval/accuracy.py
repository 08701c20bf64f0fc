"""Accuracy of any runner on a labelled split, computed by the same code for every backend."""

from __future__ import annotations

from typing import Any

import numpy as np

from compress.core.batching import Features, featurize
from compress.core.data import LabelledText
from compress.core.metrics import Metric, scored


def features_for(runner, data: LabelledText, max_length: int = 128) -> Features:
    """Tokenise with the runner's own tokenizer and encode labels in the runner's label space."""
    return featurize(runner.tokenizer, data, runner.labels, max_length)


def score(runner, features: Features, metric: Metric = Metric(), batch_size: int = 64) -> dict[str, Any]:
    """Metrics (`score` is `metric`), and per row the label, prediction and probabilities, for paired comparisons."""
    return scored(features.labels, runner.logits(features, batch_size), runner.labels.names, metric)


def agreement(baseline: list[int], other: list[int]) -> float:
    a, b = np.asarray(baseline), np.asarray(other)
    return float((a == b).mean())
