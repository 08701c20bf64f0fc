"""Stage `finetune`: train a classification head (and the encoder) on labelled text."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compress.artifacts import atomic_output_dir, check_output_dir, write_manifest
from compress.config import option, to_dict
from compress.data import DataConfig, load_task_from
from compress.models import load_classifier, load_tokenizer, resolve_model
from compress.training import TrainConfig, featurize, is_main_process, train


@dataclass
class FinetuneConfig(TrainConfig, DataConfig):
    """Settings of `compress finetune`."""

    model: str = option("default", "checkpoint directory or hub id to start from ('default': the bundled MiniLM-L6 BERT)")
    allow_pickle: bool = option(False, "allow loading pickled (.bin) weights, which can run code; only for trusted files")


def finetune(config: FinetuneConfig, output_dir: str | Path, overwrite: bool = False) -> dict[str, Any]:
    """Fine-tune `config.model` on `config.data`; write the best checkpoint, metrics.json and a manifest."""
    started = time.time()
    check_output_dir(Path(output_dir), overwrite)
    train_data, eval_data, labels = load_task_from(config, config.seed)
    source = resolve_model(config.model, config.allow_pickle)
    tokenizer = load_tokenizer(source)
    model = load_classifier(source, labels, config.allow_pickle)
    train_features = featurize(tokenizer, train_data, labels, config.max_length)
    eval_features = featurize(tokenizer, eval_data, labels, config.max_length)
    result = train(model, train_features, eval_features, tokenizer.pad_token_id, config, description="finetune")
    metrics = {"eval": result.best["eval"] if result.best else None, "best_epoch": result.best and result.best["epoch"],
               "history": result.history, "steps": result.steps, "train_examples": len(train_data),
               "eval_examples": len(eval_data), "train_seconds": round(result.train_seconds, 1)}
    manifest = None
    if is_main_process():
        with atomic_output_dir(output_dir, overwrite) as tmp:
            model.save_pretrained(tmp, safe_serialization=True)
            tokenizer.save_pretrained(tmp)
            (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
            manifest = write_manifest(tmp, "finetune", _inputs(config, source), to_dict(config), metrics, started)
    return manifest or {"metrics": metrics}


def _inputs(config: DataConfig, model_source: str) -> dict[str, str]:
    inputs = {"model": model_source}
    if Path(config.data).exists():
        inputs["data"] = config.data
    return inputs
