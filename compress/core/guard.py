"""The quantization guard: which parts of a model stay in float32 so that int8 keeps within an accuracy budget.

The quantize stage hands it a `run` that quantizes all but the given nodes and scores the result on validation,
and a `drop` that turns a trial's score into points lost; the guard only decides what to try next.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from compress.core.budget import within_budget
from compress.core.errors import CompressError


@dataclass
class Trial:
    """One quantized candidate: the nodes it left in float32 and how it scored."""

    kept: tuple[str, ...]
    model_mb: float
    scores: dict[str, float]
    logits: np.ndarray
    logit_error: float  # mean absolute difference from the source model's logits


def _groups(targets: list[str], sensitivity: str) -> dict[str, tuple[str, ...]]:
    """Units the guard keeps in float32: single nodes, or the nodes of one encoder layer (or other module)."""
    groups: dict[str, list[str]] = {}
    for name in targets:
        layer = re.match(r"(.*?layer[._]\d+)[/._]", name)
        key = name if sensitivity == "node" else layer.group(1) if layer else name.rpartition("/")[0] or name
        groups.setdefault(key, []).append(name)
    return {k: tuple(v) for k, v in groups.items()}


def keep_within_budget(targets: list[str], sensitivity: str, budget: float, run, drop,
                       weights: dict[str, int]) -> tuple[Trial, dict[str, Any]]:
    """Keep the fewest weights in float32 that bring the accuracy drop within budget.

    First each group alone in float32, fewest weights first, up to the first that meets the budget: on the
    50%-pruned SST-2 student the position-embedding table alone did (no run-time cost), where the harm
    ranking below kept two FFN MatMuls in float32 (0.5 ms more at batch 1 x 128, 20%). Failing that, the
    most harmful groups, most harmful first, until the budget holds.

    A group's harm is measured with that group alone quantized: the accuracy lost, then (for the many ties
    a few hundred examples give) how far its logits move from the source model's. Measuring each group on
    its own rather than leaving it out of a fully quantized model keeps one harmful group from hiding behind
    the others. At least one group stays quantized; if no such configuration meets the budget, the stage
    fails rather than write a model that breaks it.
    """
    everything = run(())
    record = {"max_accuracy_drop": budget, "sensitivity": sensitivity, "all_quantized_drop": drop(everything)}
    if within_budget(drop(everything), budget):
        return everything, record
    groups = _groups(targets, sensitivity)
    size = {key: sum(weights.get(n, 0) for n in nodes) for key, nodes in groups.items()}
    singles, single_trials = [], []
    for key in sorted(groups, key=lambda k: (size[k], k)) if len(groups) > 1 else []:
        single_trials.append(run(groups[key]))
        singles.append({"group": key, "float32_weights": size[key], "drop": drop(single_trials[-1])})
        if within_budget(drop(single_trials[-1]), budget):
            return single_trials[-1], record | {"single_fallbacks": singles, "kept_groups": [key]}
    record["single_fallbacks"] = singles
    alone = {key: run(tuple(n for n in targets if n not in nodes)) for key, nodes in groups.items()}
    order = sorted(groups, key=lambda k: (alone[k].scores["score"], -alone[k].logit_error))
    record["ranking"] = [{"group": k, "nodes": len(groups[k]), "drop_when_alone_quantized": drop(alone[k]),
                          "logit_error_when_alone_quantized": round(alone[k].logit_error, 6)} for k in order]
    steps, kept, tried = [], (), list(alone.values()) + single_trials
    for key in order[:-1]:
        kept += groups[key]
        trial = run(kept)
        tried.append(trial)
        steps.append({"kept_groups": len(steps) + 1, "kept_nodes": len(kept), "drop": drop(trial)})
        if within_budget(drop(trial), budget):
            return trial, record | {"steps": steps, "kept_groups": order[:len(steps)]}
    closest = min(tried, key=drop)
    raise CompressError(f"no configuration meets --max-accuracy-drop {budget:g}: the closest, with "
                        f"{len(targets) - len(closest.kept)} of {len(targets)} nodes quantized, loses "
                        f"{drop(closest):.2f} points (all quantized: {drop(everything):.2f}); nothing was written")
