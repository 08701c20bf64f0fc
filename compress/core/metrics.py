"""Classification metrics: the single place every stage and the harness score predictions.

`Metric` is the user's budget metric (`--metric`): accuracy, macro-F1, the F1 of one named class, or
MCC. Best epochs, the quantization guard, the search and the report all choose and state drops in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from compress.core.errors import CompressError

METRIC_HELP = "accuracy, macro-f1, f1:CLASS (the F1 of the class named CLASS) or mcc"


@dataclass(frozen=True)
class Metric:
    """A named metric over label ids; `positive` is the class whose F1 `f1:CLASS` scores."""

    name: str = "accuracy"
    positive: int | None = None

    @classmethod
    def parse(cls, spec: str, names: Sequence[str] = ()) -> "Metric":
        """`spec` checked against the task's label names (needed only for f1:CLASS)."""
        if spec in ("accuracy", "macro-f1", "mcc"):
            return cls(spec)
        if spec.startswith("f1:"):
            wanted = spec[3:]
            if names and wanted not in names:
                raise CompressError(f"--metric {spec}: no class {wanted!r} (classes: {', '.join(names)})")
            return cls(spec, list(names).index(wanted) if names else None)
        raise CompressError(f"--metric must be {METRIC_HELP}, got {spec!r}")

    def __call__(self, labels: Sequence[int], predictions: Sequence[int], num_labels: int) -> float:
        y, p = np.asarray(labels), np.asarray(predictions)
        if self.name == "accuracy":
            return float((y == p).mean())
        confusion = np.bincount(y * num_labels + p, minlength=num_labels * num_labels).reshape(num_labels, num_labels)
        if self.name == "mcc":
            return _mcc(confusion)
        f1 = _f1_per_class(confusion)
        if self.positive is not None:
            return float(f1[self.positive])
        return float(f1[(confusion.sum(0) + confusion.sum(1)) > 0].mean())  # classes that occur, as sklearn does


def _f1_per_class(confusion: np.ndarray) -> np.ndarray:
    tp = np.diag(confusion).astype(float)
    denominator = confusion.sum(0) + confusion.sum(1)
    return np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)


def _mcc(confusion: np.ndarray) -> float:
    """Multi-class Matthews correlation (Gorodkin's R_K), as sklearn's matthews_corrcoef computes it."""
    t, p = confusion.sum(1).astype(float), confusion.sum(0).astype(float)
    c, s = float(np.trace(confusion)), float(confusion.sum())
    denominator = np.sqrt((s * s - p @ p) * (s * s - t @ t))
    return float((c * s - t @ p) / denominator) if denominator else 0.0


def classification_metrics(labels: Sequence[int], predictions: Sequence[int], num_labels: int,
                           metric: Metric = Metric()) -> dict[str, float]:
    """Accuracy always; F1 (binary, or macro for multi-class) and MCC when two classes occur; `score` is `metric`."""
    y = np.asarray(labels)
    p = np.asarray(predictions)
    if y.shape != p.shape or y.size == 0:
        raise ValueError(f"need equal, non-empty label and prediction arrays, got {y.shape} and {p.shape}")
    out = {"accuracy": Metric()(y, p, num_labels), "n": int(y.size)}
    if len(np.unique(y)) > 1:
        out["f1"] = Metric("f1:", 1)(y, p, num_labels) if num_labels == 2 else Metric("macro-f1")(y, p, num_labels)
        out["mcc"] = Metric("mcc")(y, p, num_labels)
    out["score"] = metric(y, p, num_labels)
    return out


def scored(labels: Sequence[int], logits: np.ndarray, label_names: Sequence[str],
           metric: Metric = Metric()) -> dict[str, Any]:
    """Metrics of a model's logits (`score` is `metric`), and per row the label, prediction and probabilities: the
    one scoring path of the harness (every candidate the search screens) and of the quantization guard's trials."""
    predictions = logits.argmax(-1)
    shifted = logits - logits.max(-1, keepdims=True)
    probs = np.exp(shifted) / np.exp(shifted).sum(-1, keepdims=True)
    return {"metrics": classification_metrics(labels, predictions, len(label_names), metric),
            "label_names": list(label_names), "labels": list(labels),
            "predictions": predictions.tolist(), "probabilities": probs.round(6).tolist()}
