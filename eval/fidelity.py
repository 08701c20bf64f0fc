"""Fidelity to the baseline: is the compressed model still the same model, prediction by prediction?"""

from __future__ import annotations

from collections import Counter
from typing import Any, Sequence

import numpy as np


def fidelity(base_probs: Sequence[Sequence[float]], probs: Sequence[Sequence[float]],
             label_names: Sequence[str]) -> dict[str, Any]:
    """Agreement of predicted labels, flips per (baseline label -> variant label), mean KL(baseline || variant).

    Only directions that occur are listed, most flips first (ties in label order): with many classes the
    ordered pairs run into thousands (5,852 for BANKING77's 77), nearly all of them zero.
    """
    p, q = np.asarray(base_probs, dtype=np.float64), np.asarray(probs, dtype=np.float64)
    if p.shape != q.shape:
        raise ValueError(f"probability arrays differ in shape: {p.shape} vs {q.shape}")
    base_pred, pred = p.argmax(-1), q.argmax(-1)
    pairs = Counter((int(a), int(b)) for a, b in zip(base_pred, pred) if a != b)
    flips = {f"{label_names[a]}->{label_names[b]}": n
             for (a, b), n in sorted(pairs.items(), key=lambda item: (-item[1], item[0]))}
    eps = 1e-12
    kl = (p * (np.log(p + eps) - np.log(q + eps))).sum(-1)
    changed = int((base_pred != pred).sum())
    return {"agreement": float((base_pred == pred).mean()), "flips": changed, "flip_rate": changed / len(p),
            "flips_by_direction": flips, "kl_mean": float(kl.mean()), "kl_max": float(kl.max())}
