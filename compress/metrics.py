"""Classification metrics: the single function every stage and the harness use to score predictions."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.metrics import f1_score, matthews_corrcoef


def classification_metrics(labels: Sequence[int], predictions: Sequence[int], num_labels: int) -> dict[str, float]:
    """Accuracy always; F1 (binary, or macro for multi-class) and MCC when both classes occur."""
    y = np.asarray(labels)
    p = np.asarray(predictions)
    if y.shape != p.shape or y.size == 0:
        raise ValueError(f"need equal, non-empty label and prediction arrays, got {y.shape} and {p.shape}")
    out = {"accuracy": float((y == p).mean()), "n": int(y.size)}
    if len(np.unique(y)) > 1:
        average = "binary" if num_labels == 2 else "macro"
        out["f1"] = float(f1_score(y, p, average=average, zero_division=0))
        out["mcc"] = float(matthews_corrcoef(y, p))
    return out
