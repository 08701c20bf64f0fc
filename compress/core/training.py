"""The one training loop that finetune, distil and pruning recovery share.

A stage supplies a loss function `(model, batch) -> (loss, parts)`; the loop owns batching with
dynamic padding, AdamW with linear warm-up/decay, clipping, seeding, per-epoch evaluation, keeping
the best weights, progress, and data parallelism (accelerate: the same code runs alone, under
`torchrun` or `accelerate launch`, on CPU with gloo or on GPUs).
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import json
import math
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from compress.core import progress
from compress.core.artifacts import atomic_output_dir, write_manifest
from compress.core.batching import Features
from compress.core.card import write_card
from compress.core.config import Settings, option
from compress.core.data import DataConfig, data_location
from compress.core.inference import evaluate, is_main_process, loader, model_inputs
from compress.core.metrics import Metric

LossFn = Callable[[torch.nn.Module, dict[str, torch.Tensor]], tuple[torch.Tensor, dict[str, float]]]


@dataclass
class TrainConfig(Settings):
    """Optimisation settings shared by every stage that trains."""

    epochs: float = option(3.0, "passes over the training data (fractions allowed)", interval="(0, inf)")
    max_steps: int | None = option(None, "stop after this many optimiser steps, whatever --epochs says",
                                   interval="[1, inf)")
    batch_size: int = option(32, "training examples per step and process", interval="[1, inf)")
    learning_rate: float = option(5e-5, "peak AdamW learning rate", interval="(0, inf)")
    weight_decay: float = option(0.01, "AdamW weight decay (not applied to biases and LayerNorm)", interval="[0, inf)")
    warmup_ratio: float = option(0.06, "fraction of steps over which the learning rate rises linearly",
                                 interval="[0, 1]")
    max_grad_norm: float = option(1.0, "gradient clipping norm (0 turns clipping off)", interval="[0, inf)")
    max_length: int = option(128, "tokens per example; longer inputs are truncated", interval="[5, inf)")
    eval_batch_size: int = option(128, "examples per batch when evaluating", interval="[1, inf)")
    group_by_length: bool = option(True, "batch examples of similar length so dynamic padding pads little")
    seed: int = option(42, "seed for initialisation, shuffling and dropout", interval="[0, 4294967295]")


@dataclass(frozen=True)
class Limits:
    """What a caller (the search) allows one training run beyond its settings: a wall-clock deadline
    (time.time()) and a score floor (in --metric, 0-1) it must still be able to reach. They belong to the
    caller's run, not to what is trained, so they stay out of the settings and the cache keys."""

    deadline: float | None = None
    floor: float | None = None


_LIMITS: contextvars.ContextVar[Limits] = contextvars.ContextVar("training_limits", default=Limits())


@contextlib.contextmanager
def limited(limits: Limits) -> Iterator[None]:
    """Train under `limits` inside the block."""
    token = _LIMITS.set(limits)
    try:
        yield
    finally:
        _LIMITS.reset(token)


def reachable(history: list[float], epochs_left: float) -> float:
    """The best score a run can still reach: its last score plus its last gain per epoch for every epoch left.
    Learning curves flatten, so this over-estimates, and a run stopped for missing it would have missed."""
    gain = max(history[-1] - history[-2], 0.0) if len(history) > 1 else 0.0
    return history[-1] + gain * epochs_left


@dataclass
class TrainResult:
    history: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] | None = None
    steps: int = 0
    examples_seen: int = 0
    train_seconds: float = 0.0
    processes: int = 1
    stopped: str | None = None     # why training ended before its steps: "time budget" or "cannot reach the floor"

    def summary(self) -> dict[str, Any]:
        """The figures every training stage reports in its metrics."""
        return {"eval": self.best["eval"] if self.best else None, "best_epoch": self.best and self.best["epoch"],
                "history": self.history, "steps": self.steps, "processes": self.processes,
                "train_seconds": round(self.train_seconds, 1), **({"stopped": self.stopped} if self.stopped else {})}


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def cross_entropy_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor]):
    loss = torch.nn.functional.cross_entropy(model(**model_inputs(batch, model)).logits, batch["labels"])
    return loss, {"ce": loss.item()}


def train(model: torch.nn.Module, train_features: Features, eval_features: Features | None, pad_id: int,
          config: TrainConfig, loss_fn: LossFn = cross_entropy_loss, description: str = "train",
          metric: Metric = Metric(), epochs: float | None = None) -> TrainResult:
    """Train `model` in place for `epochs` passes (default: config.epochs); on return it holds the weights that
    scored best in `metric` on `eval_features` (the validation role: the test role is never seen here)."""
    from accelerate import Accelerator
    from transformers import get_linear_schedule_with_warmup

    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    seed_everything(config.seed)
    data = loader(train_features, pad_id, config.batch_size, config.seed, shuffle=True, group=config.group_by_length)
    steps_per_epoch = math.ceil(len(data) / accelerator.num_processes)
    total = config.max_steps or max(1, math.ceil((config.epochs if epochs is None else epochs) * steps_per_epoch))
    no_decay = ("bias", "LayerNorm.weight", "layer_norm", "norm.weight")
    groups = [
        {"params": [p for n, p in model.named_parameters() if p.requires_grad and not any(k in n for k in no_decay)],
         "weight_decay": config.weight_decay},
        {"params": [p for n, p in model.named_parameters() if p.requires_grad and any(k in n for k in no_decay)],
         "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=config.learning_rate)
    # accelerate's scheduler wrapper steps the schedule once per process for every optimiser step (it takes the
    # batch to have grown with the processes), so the schedule counts in those ticks: sized in optimiser steps,
    # warm-up and decay would end after 1/N of the run and the rest would train at learning rate 0.
    ticks = accelerator.num_processes
    schedule = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * total) * ticks, total * ticks)
    wrapped, optimizer, data, schedule = accelerator.prepare(model, optimizer, data, schedule)

    result = TrainResult(processes=accelerator.num_processes)
    best_state, best_score = None, -math.inf
    bar = progress.bar(total=total, desc=description, unit="step", disable=not accelerator.is_local_main_process)
    started = time.time()
    epoch = 0
    # Processes that read the clock apart could stop a step apart and wait for each other for ever.
    limits = _LIMITS.get() if accelerator.num_processes == 1 else Limits()
    wrapped.train()
    while result.steps < total and not result.stopped:
        epoch += 1
        running = 0.0
        for batch in data:
            loss, parts = loss_fn(wrapped, batch)
            accelerator.backward(loss)
            if config.max_grad_norm:
                accelerator.clip_grad_norm_(wrapped.parameters(), config.max_grad_norm)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            result.steps += 1
            result.examples_seen += len(batch["labels"]) * accelerator.num_processes
            running = 0.9 * running + 0.1 * loss.item() if result.steps > 1 else loss.item()
            bar.update(1)
            bar.set_postfix(epoch=epoch, loss=f"{running:.4f}",
                            ex_s=f"{result.examples_seen / max(time.time() - started, 1e-9):.0f}", refresh=False)
            if result.steps >= total:
                break
            if limits.deadline is not None and time.time() > limits.deadline:
                result.stopped = "time budget"
                break
        record = {"epoch": epoch, "step": result.steps, "loss": running, **{k: round(v, 5) for k, v in parts.items()}}
        if eval_features is not None:
            unwrapped = accelerator.unwrap_model(wrapped)
            scores = evaluate(unwrapped, eval_features, pad_id, config.eval_batch_size, accelerator.device, metric)
            record["eval"] = scores
            if scores["score"] > best_score:
                best_score = scores["score"]
                best_state = copy.deepcopy({k: v.detach().cpu() for k, v in unwrapped.state_dict().items()})
                result.best = record
            if accelerator.is_local_main_process and not progress.is_quiet():
                bar.write(f"{description} epoch {epoch} step {result.steps}: loss {running:.4f}, "
                          + ", ".join(f"{k} {v:.4f}" for k, v in scores.items() if k != "n"),
                          file=sys.stderr)  # stdout carries only the stage's JSON summary
            curve = [r["eval"]["score"] for r in result.history if "eval" in r] + [scores["score"]]
            # From the second evaluation on: the first epoch's score says little about where a run ends.
            if (limits.floor is not None and len(curve) > 1 and result.steps < total
                    and reachable(curve, (total - result.steps) / steps_per_epoch) < limits.floor):
                result.stopped = "cannot reach the floor"
        result.history.append(record)
    if result.stopped and accelerator.is_local_main_process:
        progress.note(f"{description}: stopped after {result.steps} of {total} steps ({result.stopped})")
    bar.close()
    result.train_seconds = time.time() - started
    accelerator.wait_for_everyone()
    final = accelerator.unwrap_model(wrapped)
    if best_state is not None:
        final.load_state_dict(best_state)
    return result


def save_trained(output_dir: str | Path, overwrite: bool, stage: str, model: torch.nn.Module, tokenizer,
                 model_source: str, config: DataConfig, metrics: dict[str, Any], started: float,
                 roles: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write a trained checkpoint with its tokenizer, metrics.json and a manifest; return the manifest.

    The manifest names `model_source` as the `model` input, so lineage walks back to the parent
    checkpoint, and the data file when the data is one. Only the main process writes; the others
    return just the metrics.
    """
    if not is_main_process():
        return {"metrics": metrics}
    location = data_location(config.data)
    inputs = {"model": model_source, **({"data": str(location)} if location else {})}
    with atomic_output_dir(output_dir, overwrite) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        return write_card(tmp, write_manifest(tmp, stage, inputs, config, metrics, started, roles),
                          Path(output_dir).name)
