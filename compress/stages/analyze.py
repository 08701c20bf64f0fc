"""Stage `analyze`: how much the validation score drops when each single attention head is masked and when
each whole encoder layer is removed. Writes the table (sensitivity.json, sensitivity.md) and no model; it
shows where pruning can cut and where it cannot."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from compress.core.anatomy import head_masked, layer_removed, prunable_layers
from compress.core.artifacts import atomic_output_dir, check_output_dir, write_manifest
from compress.core.batching import featurize
from compress.core.config import option
from compress.core.data import DataConfig, LabelSpace, data_location
from compress.core.errors import CompressError
from compress.core.inference import is_main_process, predict_logits
from compress.core.metrics import Metric, classification_metrics
from compress.core.models import LoadSettings, load_fine_tuned, load_tokenizer
from compress.core.progress import bar as progress_bar
from compress.core.registry import Command, register
from compress.core.roles import load_roles, resolve_data

SENSITIVITY = "sensitivity"


@dataclass
class AnalyzeConfig(LoadSettings, DataConfig):
    """Settings of `compress analyze`."""

    unused = ("max_train_examples",)

    model: str | None = option(None, "fine-tuned classifier checkpoint directory to analyse")
    max_length: int = option(128, "tokens per example; longer inputs are truncated", interval="[5, inf)")
    eval_batch_size: int = option(128, "examples per batch", interval="[1, inf)")


def analyze(config: AnalyzeConfig, output_dir: str | Path, overwrite: bool = False) -> dict[str, Any]:
    """Score drop on the validation role with each head masked and each layer removed; write the table with a
    manifest and return the manifest."""
    from accelerate import PartialState

    started = time.time()
    check_output_dir(Path(output_dir), overwrite)
    if not config.model:
        raise CompressError("analyze needs --model, the fine-tuned checkpoint directory to analyse")
    model, source = load_fine_tuned(config.model, "model", config)
    layers = prunable_layers(model, f"model {config.model}")
    tokenizer = load_tokenizer(source, model.config.vocab_size)
    config = resolve_data(config, config.model)
    labels = LabelSpace.from_id2label(model.config.id2label)
    roles = load_roles(config)
    features = featurize(tokenizer, roles.validation, labels, config.max_length)
    metric = Metric.parse(config.metric, labels.names)
    device = PartialState().device
    model.to(device).eval()
    targets = torch.tensor(features.labels)

    def score() -> dict[str, float]:
        logits = predict_logits(model, features, tokenizer.pad_token_id, config.eval_batch_size, device)
        return {"accuracy": classification_metrics(features.labels, logits.argmax(-1), len(logits[0]), metric)["score"],
                "loss": F.cross_entropy(torch.from_numpy(logits), targets).item()}

    base = score()

    def change(scores: dict[str, float]) -> dict[str, float]:
        drop = round(100 * (base["accuracy"] - scores["accuracy"]), 4)
        return {"accuracy": scores["accuracy"], "accuracy_drop_points": drop,
                "loss_increase": round(scores["loss"] - base["loss"], 6)}

    bar = progress_bar(total=sum(layer.heads + 1 for layer in layers), desc="sensitivity", unit="eval",
                       disable=not is_main_process())
    heads, removed = [], []
    for i, layer in enumerate(layers):
        for h in range(layer.heads):
            with head_masked(layer, h):
                heads.append({"layer": i, "head": h, **change(score())})
            bar.update(1)
    for i in range(len(layers)):
        with layer_removed(model, i):
            removed.append({"layer": i, **change(score())})
        bar.update(1)
    bar.close()
    metrics = {"eval": base, "examples": len(roles.validation), "heads": heads, "layers": removed}
    location = data_location(config.data)
    with atomic_output_dir(output_dir, overwrite) as tmp:
        (tmp / f"{SENSITIVITY}.json").write_text(json.dumps(metrics, indent=2) + "\n")
        (tmp / f"{SENSITIVITY}.md").write_text(sensitivity_markdown(metrics) + "\n")
        inputs = {"model": source, **({"data": str(location)} if location else {})}
        return write_manifest(tmp, "analyze", inputs, config, metrics, started, roles.summary())


def sensitivity_markdown(metrics: dict[str, Any]) -> str:
    """One row per layer: the drop in points with each head masked, then with the whole layer removed."""
    width = max(row["head"] for row in metrics["heads"]) + 1
    cells = {(row["layer"], row["head"]): row["accuracy_drop_points"] for row in metrics["heads"]}
    lines = [f"Validation score {metrics['eval']['accuracy']:.4f} on {metrics['examples']} examples. Each cell: drop "
             "in points when one head is masked, or the whole layer removed (negative: it improves).", "",
             "| layer | " + " | ".join(f"head {h}" for h in range(width)) + " | whole layer |",
             "|---:|" + "---:|" * (width + 1)]
    for row in metrics["layers"]:
        i = row["layer"]
        heads = [f"{cells[i, h]:.2f}" if (i, h) in cells else "" for h in range(width)]
        lines.append(f"| {i} | " + " | ".join(heads) + f" | {row['accuracy_drop_points']:.2f} |")
    return "\n".join(lines)


register(Command(
    "analyze", AnalyzeConfig, analyze, "measure the score lost when each head is masked or each layer removed",
    "Score the validation role with each attention head masked in turn and each encoder layer removed in turn; prints "
    "the table and writes it as sensitivity.json and sensitivity.md.",
    input_field="model", accepts=("hf",), produces="table", writes="sensitivity table",
    summary=lambda manifest: sensitivity_markdown(manifest["metrics"])))
