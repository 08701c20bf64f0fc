"""Calibration: does the model's confidence match how often it is right?"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

DEFAULT_BINS = 15


def calibration(probs: Sequence[Sequence[float]], labels: Sequence[int], bins: int = DEFAULT_BINS) -> dict[str, Any]:
    """Expected calibration error over equal-width confidence bins, plus the bins for a reliability diagram."""
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels)
    confidence, correct = p.max(-1), (p.argmax(-1) == y).astype(float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        mask = which == b
        if not mask.any():
            continue
        conf, acc = float(confidence[mask].mean()), float(correct[mask].mean())
        ece += mask.mean() * abs(acc - conf)
        table.append({"low": float(edges[b]), "high": float(edges[b + 1]), "count": int(mask.sum()),
                      "confidence": conf, "accuracy": acc})
    return {"ece": float(ece), "bins": bins, "mean_confidence": float(confidence.mean()),
            "accuracy": float(correct.mean()), "reliability": table}
