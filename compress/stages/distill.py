"""Stage `distill`: a shallower student cut from the teacher's own layers, trained to imitate it.

The student is a copy of the teacher that keeps its embeddings, pooler, classifier and a subset of
its encoder layers (default: the top layer of each of N near-equal blocks of teacher layers), so it
starts from weights that already solve the task rather than from scratch. It is then trained with
the shared loop (compress.core.training.train) on a weighted sum of hard-label cross-entropy, soft-target
KL at a temperature, hidden-state MSE, MiniLM-style attention transfer and MiniLM v2's query, key and
value self-relation transfer; a zero weight leaves its term out entirely, together with the teacher
outputs only that term needs.

Students that are also narrower (fewer heads, a smaller FFN) are out of scope here: the pruning
stage removes width, and distil-then-prune composes the two.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch

from compress.core.anatomy import encoder_layers, keep_layers, prunable_layers
from compress.core.artifacts import check_output_dir
from compress.core.augment import AugmentConfig, teacher_labelled, training_rows
from compress.core.batching import featurize
from compress.core.config import option
from compress.core.data import DataConfig, LabelSpace
from compress.core.errors import CompressError
from compress.core.inference import evaluate, predict_logits
from compress.core.losses import DistillLoss, LossWeights, runs_teacher_every_step
from compress.core.metrics import Metric
from compress.core.models import LoadSettings, load_fine_tuned, load_tokenizer
from compress.core.registry import Command, register
from compress.core.roles import load_roles, resolve_data
from compress.core.training import TrainConfig, save_trained, train

DEFAULT_STUDENT_LAYERS = 3


@dataclass
class DistillConfig(LoadSettings, LossWeights, TrainConfig, DataConfig, AugmentConfig):
    """Settings of `compress distill`."""

    teacher: str | None = option(None, "fine-tuned teacher: an HF checkpoint directory (required); the student "
                                       "is cut from it and uses its labels and tokenizer")
    student_layers: int | None = option(None, "encoder layers of the student, fewer than the teacher's "
                                              f"(default: {DEFAULT_STUDENT_LAYERS}, or as many as --student-layer-ids)",
                                              interval="[1, inf)")
    student_layer_ids: list[int] = option([], "teacher layers (from 0) to copy into the student, in order (default: "
                                              "the top layer of each of N near-equal blocks, 6->3: 1 3 5)",
                                              interval="[0, inf)")
    attention_weight: float = option(0.0, "weight of MiniLM-style transfer of the last layer's attention (slower: "
                                          "eager attention, teacher on every step)", interval="[0, inf)")
    relation_weight: float = option(0.0, "weight of MiniLM v2 transfer of the last layer's query, key and value "
                                         "self-relations (teacher on every step)", interval="[0, inf)")
    relation_heads: int | None = option(None, "relation heads the projections are split into (default: the "
                                              "teacher's attention heads)", interval="[1, inf)")
    # Hidden states and attentions are not cached: for a whole training set they would not fit in memory.
    cache_teacher: bool = option(True, "compute the teacher's logits once up front instead of on every step "
                                       "(soft targets only)")

    def terms(self) -> dict[str, float]:
        return {**super().terms(), "attention": self.attention_weight, "relation": self.relation_weight}


def default_layer_ids(teacher_layers: int, student_layers: int) -> list[int]:
    """The top layer of each of `student_layers` near-equal blocks of teacher layers (ceil((i+1)L/N) - 1).

    Top layers because each block's last layer holds what the block computed; the teacher's last
    layer is always kept, so the student's final representation starts as the one the classifier
    was trained on.
    """
    return [-(-(i + 1) * teacher_layers // student_layers) - 1 for i in range(student_layers)]


def choose_layer_ids(config: DistillConfig, teacher_layers: int) -> list[int]:
    ids = list(config.student_layer_ids)
    count = config.student_layers if config.student_layers is not None else len(ids) or DEFAULT_STUDENT_LAYERS
    if ids and len(ids) != count:
        raise CompressError(f"--student-layers is {count} but {len(ids)} --student-layer-ids were given")
    if not 1 <= count < teacher_layers:
        raise CompressError(f"the student needs fewer layers than the teacher's {teacher_layers} (and at least "
                            f"one), got {count}")
    if not ids:
        return default_layer_ids(teacher_layers, count)
    if ids != sorted(set(ids)) or not all(0 <= i < teacher_layers for i in ids):
        raise CompressError(f"--student-layer-ids must be increasing teacher layers in 0..{teacher_layers - 1}, "
                            f"got {' '.join(map(str, ids))}")
    return ids


def choose_relation_heads(config: DistillConfig, teacher: torch.nn.Module) -> int:
    heads = config.relation_heads or teacher.config.num_attention_heads
    width = prunable_layers(teacher)[-1].query.out_features  # the student's too: it is cut from the teacher
    if width % heads:
        raise CompressError(f"--relation-heads {heads} does not divide the teacher's projection width {width}")
    return heads


def build_student(teacher: torch.nn.Module, layer_ids: Sequence[int]) -> torch.nn.Module:
    """A copy of `teacher` with only encoder layers `layer_ids`, in that order; everything else copied as is."""
    return keep_layers(copy.deepcopy(teacher), layer_ids)


def load_teacher(config: DistillConfig, attention: bool) -> tuple[torch.nn.Module, str]:
    if not config.teacher:
        raise CompressError("give the fine-tuned teacher with --teacher DIR")
    # The attentions the loss compares exist only on the eager path; sdpa is faster everywhere else.
    return load_fine_tuned(config.teacher, "teacher", config, "eager" if attention else "sdpa")


def distill(config: DistillConfig, output_dir: str | Path, overwrite: bool = False) -> dict[str, Any]:
    """Distil `config.teacher` into a shallower student; write its best checkpoint, metrics.json and a manifest."""
    from accelerate import PartialState

    started = time.time()
    check_output_dir(Path(output_dir), overwrite)
    weights = config.weights()
    teacher, source = load_teacher(config, attention=bool(weights["attention"]))
    teacher_layers = encoder_layers(teacher, f"teacher {config.teacher}")
    layer_ids = choose_layer_ids(config, len(teacher_layers))
    relation_heads = choose_relation_heads(config, teacher)
    tokenizer = load_tokenizer(source, teacher.config.vocab_size)
    config = resolve_data(config, config.teacher)
    roles = load_roles(config)
    train_data, eval_data = roles.train, roles.validation
    labels = LabelSpace.from_id2label(teacher.config.id2label)
    metric = Metric.parse(config.metric, labels.names)
    rows = training_rows(config, train_data, config.columns, (eval_data, roles.test), tokenizer, config.seed)
    originals = rows.originals
    train_features = featurize(tokenizer, rows.data, labels, config.max_length)
    eval_features = featurize(tokenizer, eval_data, labels, config.max_length)

    student = build_student(teacher, layer_ids)
    if weights["attention"]:
        # HF returns attention probabilities after dropout, which would no longer be distributions.
        prunable_layers(student)[-1].attention_dropout.p = 0.0
    device = PartialState().device
    teacher.eval().requires_grad_(False).to(device)
    pad_id = tokenizer.pad_token_id
    cache = config.cache_teacher and weights["kd"] > 0 and not runs_teacher_every_step(weights)
    teacher_logits = None
    if cache or len(train_features) > originals:
        teacher_logits = predict_logits(teacher, train_features, pad_id, config.eval_batch_size, device,
                                        progress="teacher logits")
        teacher_labelled(train_features.labels, teacher_logits, originals)
    loss = DistillLoss(weights, config.temperature, teacher, layer_ids,
                       torch.from_numpy(teacher_logits).to(device) if cache else None,
                       relation_heads)
    teacher_eval = evaluate(teacher, eval_features, pad_id, config.eval_batch_size, device, metric)
    result = train(student, train_features, eval_features, pad_id, config, loss, description="distill", metric=metric)

    metrics = {**result.summary(), **rows.counts(), "eval_examples": len(eval_data), "teacher_eval": teacher_eval,
               "teacher_layers": len(teacher_layers), "student_layer_ids": layer_ids, "teacher_cached": cache}
    return save_trained(output_dir, overwrite, "distill", student, tokenizer, source, config, metrics, started,
                        roles.summary())


register(Command(
    "distill", DistillConfig, distill, "distil a fine-tuned classifier into a student with fewer layers",
    "Distil a fine-tuned teacher into a student cut from its own layers, on hard labels, soft targets and optionally "
    "hidden states and attentions. Runs data-parallel under torchrun or accelerate launch.",
    input_field="teacher", accepts=("hf",), produces="hf", writes="student model"))
