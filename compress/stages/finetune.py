"""Stage `finetune`: train a classification head (and the encoder) on labelled text."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compress.core.artifacts import check_output_dir
from compress.core.batching import featurize
from compress.core.config import option
from compress.core.data import DataConfig
from compress.core.metrics import Metric
from compress.core.models import LoadSettings, load_classifier, load_tokenizer
from compress.core.registry import Command, register
from compress.core.roles import load_roles, resolve_data
from compress.core.training import TrainConfig, save_trained, train


@dataclass
class FinetuneConfig(LoadSettings, TrainConfig, DataConfig):
    """Settings of `compress finetune`."""

    model: str = option("default", "checkpoint directory or hub id to start from ('default': the bundled MiniLM-L6 "
                                   "BERT)")


def finetune(config: FinetuneConfig, output_dir: str | Path, overwrite: bool = False) -> dict[str, Any]:
    """Fine-tune `config.model` on `config.data`; write the best checkpoint, metrics.json and a manifest."""
    started = time.time()
    check_output_dir(Path(output_dir), overwrite)
    config = resolve_data(config, config.model)
    roles = load_roles(config)
    labels = roles.labels
    source = config.resolve(config.model)
    model = load_classifier(source, labels, config.allow_pickle)
    tokenizer = load_tokenizer(source, model.config.vocab_size)
    train_features = featurize(tokenizer, roles.train, labels, config.max_length)
    eval_features = featurize(tokenizer, roles.validation, labels, config.max_length)
    result = train(model, train_features, eval_features, tokenizer.pad_token_id, config, description="finetune",
                   metric=Metric.parse(config.metric, labels.names))
    metrics = {**result.summary(), "train_examples": len(roles.train), "eval_examples": len(roles.validation)}
    return save_trained(output_dir, overwrite, "finetune", model, tokenizer, source, config, metrics, started,
                        roles.summary())


register(Command(
    "finetune", FinetuneConfig, finetune, "fine-tune a BERT-family checkpoint as a text classifier",
    "Fine-tune a checkpoint on labelled text; the best epoch on the validation role is kept. Runs data-parallel under "
    "torchrun or accelerate launch.",
    input_field="model", accepts=("hf",), produces="hf", writes="fine-tuned model"))
