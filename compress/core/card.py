"""Model cards: a README.md with Hugging Face model-card metadata in every model directory a stage or the search
writes, so that a model pushed as it is says what it was made from, how, and what it scores.

transformers, Optimum and ONNX Runtime ignore README.md, so loading the directory is unaffected.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from compress.core.artifacts import VERSION, ancestors
from compress.core.paths import local_path, portable_path

CARD = "README.md"
STAGE_WORDS = {"finetune": "fine-tuned", "distill": "distilled", "prune": "pruned", "export": "exported to ONNX",
               "quantize": "quantized to int8"}
# The default model's hub id: the package that ships it records no id of its own.
DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
SNAPSHOT = re.compile(r"models--([^/]+)--([^/]+)/snapshots/")


def front_matter(directory: str | Path) -> dict[str, Any]:
    """The metadata block of `directory`'s README.md, or {} when it has none or it does not parse."""
    file = Path(directory) / CARD
    if not file.is_file():
        return {}
    text = file.read_text(errors="replace")
    if not text.startswith("---"):
        return {}
    block = text[3:].split("\n---", 1)[0]
    try:
        data = yaml.safe_load(block)
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def hub_id(path: str | Path) -> str | None:
    """The hub id of a model directory where it can be told: a hub cache snapshot, or the bundled default."""
    match = SNAPSHOT.search(Path(path).resolve().as_posix())
    if match:
        return f"{match.group(1)}/{match.group(2)}"
    from compress.core.models import default_model_path

    try:
        return DEFAULT_MODEL_ID if Path(path).resolve() == default_model_path().resolve() else None
    except Exception:  # the default model's package is optional: no package, no match
        return None


def lineage(directory: str | Path) -> tuple[list[tuple[Path, dict[str, Any]]], Path]:
    """(the stages that made `directory`, newest first, each with its manifest; the model the chain starts from)."""
    steps, root = [], Path(directory)
    for path, manifest in ancestors(directory):
        if manifest is None:
            root = local_path(str(path))
            break
        steps.append((path, manifest))
        root = local_path(manifest["inputs"].get("model", {}).get("path", str(path)))
    return steps, root


def inherited(root: Path, parent: Path | None) -> dict[str, Any]:
    """base_model and license, from the parent's card (which carries them forward) or the source model's."""
    found: dict[str, Any] = {}
    for source in (parent, root):
        meta = front_matter(source) if source is not None else {}
        for key in ("license", "base_model"):
            if meta.get(key) and key not in found:
                found[key] = meta[key]
    if "base_model" not in found and hub_id(root):
        found["base_model"] = hub_id(root)
    return found


def _score_entries(manifest: dict[str, Any]) -> dict[str, float]:
    """The validation scores a stage's metrics hold, by metric name (0-1)."""
    metrics = manifest.get("metrics", {})
    scores = metrics.get("eval") or metrics.get("quantized") or {}
    return {k: float(v) for k, v in scores.items() if k in ("accuracy", "score", "macro_f1", "f1") and v is not None}


def model_index(name: str, dataset: str, metric: str, results: dict[str, float]) -> list[dict[str, Any]]:
    """The `model-index` block: one result per data role (validation, test), values in percent."""
    return [{"name": name, "results": [
        {"task": {"type": "text-classification", "name": "Text Classification"},
         "dataset": {"name": dataset, "type": dataset, "split": role},
         "metrics": [{"type": metric, "value": round(value, 2), "name": f"{metric} on the {role} role"}]}
        for role, value in results.items()]}]


def card_text(directory: str | Path, manifest: dict[str, Any], name: str,
              outcome: dict[str, Any] | None = None) -> str:
    """The card of model directory `directory` (being written; `name` is its final name) from its manifest;
    `outcome`, from the search, adds test figures, speed and size against the baseline measured side by side, and
    the machine."""
    directory = Path(directory)
    steps, root = lineage(directory)
    steps = steps or [(directory, manifest)]
    parent = local_path(manifest["inputs"]["model"]["path"]) if "model" in manifest.get("inputs", {}) else None
    roles = manifest.get("data_roles") or {}
    metric = roles.get("metric") or "accuracy"
    dataset = Path(str(manifest.get("settings", {}).get("data") or "unknown")).name
    scores = _score_entries(manifest)
    results = {"validation": 100 * scores.get("score", scores.get("accuracy", 0.0))} if scores else {}
    if outcome:
        results = {"validation": outcome["validation_score"], "test": outcome["test_score"]}
    onnx = manifest["stage"] in ("export", "quantize")
    meta = {**inherited(root, parent if parent and parent != directory else None),
            "library_name": "onnx" if onnx else "transformers", "pipeline_tag": "text-classification",
            "datasets": [dataset],
            "tags": ["compress", *sorted({s["stage"] for _, s in steps}), *(["onnx"] if onnx else [])]}
    if results:
        meta["model-index"] = model_index(name, dataset, metric, results)
    body = [f"# {name}", "",
            f"A text classifier ({dataset}) {STAGE_WORDS.get(manifest['stage'], manifest['stage'])} by "
            f"[compress](https://pypi.org/project/compress/) {VERSION} on {manifest.get('created', '')[:10]}, "
            f"from `{meta.get('base_model') or portable_path(root)}`.", "", "## Compression lineage", ""]
    for path, step in reversed(steps):
        settings = step.get("settings", {})
        shown = {k: settings[k] for k in ("epochs", "student_layers", "heads", "ffn_neurons", "hidden_size",
                                          "vocabulary", "optimize", "mode", "embedding_bits", "max_accuracy_drop")
                 if settings.get(k) not in (None, False, 0, [])}
        score = _score_entries(step)
        body.append(f"1. **{step['stage']}** ({', '.join(f'{k}={v}' for k, v in shown.items()) or 'defaults'})"
                    + (f": validation {metric} {100 * score.get('score', score.get('accuracy', 0)):.2f}"
                       if score else "") + f", {step.get('created', '')[:10]}")
    if roles:
        body += ["", "## Data", "", roles.get("resolution", "")]
    if outcome:
        low, high = outcome["test_interval_points"]
        body += ["", "## Measured against the uncompressed model", "",
                 f"Chosen by `compress search` on the validation role, reported on the test role, baseline "
                 f"`{outcome['baseline']}` measured side by side in the same run:", "",
                 "| | value |", "|---|---:|",
                 f"| validation {metric} | {outcome['validation_score']:.2f} ({outcome['validation_delta_points']:+.2f}"
                 " points) |",
                 f"| test {metric} | {outcome['test_score']:.2f} ({outcome['test_delta_points']:+.2f} points, "
                 f"95% paired interval [{low:+.2f}, {high:+.2f}]) |",
                 f"| speed-up, batch 1 x 128 tokens (p50) | {outcome['speedup_b1xl128']:.2f}x |",
                 f"| throughput, batch 32 on real lengths | {outcome['throughput_ratio_real_b32']:.2f}x |",
                 f"| file size | {outcome['file_mb']:.1f} MB ({outcome['size_ratio']:.2f}x smaller) |", "",
                 f"Machine: {outcome['machine']}."]
    body += ["", "## Use", "", "```python", "import compress", "", f'classifier = compress.load("{name}")',
             'classifier.probabilities(["a sentence to classify"])', "```", "",
             "Or with ONNX Runtime / Optimum (`ORTModelForSequenceClassification.from_pretrained`)" if onnx else
             "Or with transformers (`AutoModelForSequenceClassification.from_pretrained`)."]
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n\n" + "\n".join(body) + "\n"


def write_card(directory: str | Path, manifest: dict[str, Any], name: str,
               outcome: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write the card into `directory`; returns `manifest`, so that a stage can end with it."""
    (Path(directory) / CARD).write_text(card_text(directory, manifest, name, outcome))
    return manifest
