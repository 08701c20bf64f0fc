"""Fidelity to the baseline: is the compressed model still the same model, prediction by prediction?"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def fidelity(base_probs: Sequence[Sequence[float]], probs: Sequence[Sequence[float]],
             label_names: Sequence[str]) -> dict[str, Any]:
    """Agreement of predicted labels, flips per (baseline label -> variant label), mean KL(baseline || variant)."""
    p, q = np.asarray(base_probs, dtype=np.float64), np.asarray(probs, dtype=np.float64)
    if p.shape != q.shape:
        raise ValueError(f"probability arrays differ in shape: {p.shape} vs {q.shape}")
    base_pred, pred = p.argmax(-1), q.argmax(-1)
    flips = {}
    for a in range(p.shape[1]):
        for b in range(p.shape[1]):
            if a != b:
                flips[f"{label_names[a]}->{label_names[b]}"] = int(((base_pred == a) & (pred == b)).sum())
    eps = 1e-12
    kl = (p * (np.log(p + eps) - np.log(q + eps))).sum(-1)
    changed = int((base_pred != pred).sum())
    return {"agreement": float((base_pred == pred).mean()), "flips": changed, "flip_rate": changed / len(p),
            "flips_by_direction": flips, "kl_mean": float(kl.mean()), "kl_max": float(kl.max())}
