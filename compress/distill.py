"""Stage `distill`: a shallower student cut from the teacher's own layers, trained to imitate it.

The student is a copy of the teacher that keeps its embeddings, pooler, classifier and a subset of
its encoder layers (default: the top layer of each of N near-equal blocks of teacher layers), so it
starts from weights that already solve the task rather than from scratch. It is then trained with
the shared loop (compress.training.train) on a weighted sum of hard-label cross-entropy, soft-target
KL at a temperature, hidden-state MSE and MiniLM-style attention transfer; a zero weight leaves its
term out entirely, together with the teacher outputs only that term needs.

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
import torch.nn.functional as F

from compress.artifacts import check_output_dir
from compress.augment import AugmentConfig, augment_for, teacher_labelled
from compress.config import option
from compress.data import DataConfig, LabelSpace
from compress.metrics import Metric
from compress.roles import load_roles, resolve_data
from compress.errors import CompressError
from compress.losses import attention_kl, hidden_state_mse, soft_target_kl
from compress.models import load_classifier, load_tokenizer, resolve_model
from compress.training import (TrainConfig, evaluate, featurize, model_inputs, predict_logits, save_trained,
                               train)

DEFAULT_STUDENT_LAYERS = 3


@dataclass
class DistillConfig(TrainConfig, DataConfig, AugmentConfig):
    """Settings of `compress distill`."""

    teacher: str | None = option(None, "fine-tuned teacher: an HF checkpoint directory (required); the student "
                                       "is cut from it and uses its labels and tokenizer")
    student_layers: int | None = option(None, "encoder layers of the student, fewer than the teacher's "
                                              f"(default: {DEFAULT_STUDENT_LAYERS}, or as many as --student-layer-ids)",
                                              interval="[1, inf)")
    student_layer_ids: list[int] = option([], "zero-based teacher layers the student's layers are copied from, in "
                                              "order; none given: the top layer of each of N near-equal blocks, "
                                              "e.g. 6->3: 1 3 5, 6->2: 2 5, 6->1: 5, 12->4: 2 5 8 11",
                                              interval="[0, inf)")
    ce_weight: float = option(0.5, "weight of cross-entropy on the hard labels; --kd-weight 0 --ce-weight 1 is "
                                   "plain fine-tuning of the same student initialisation (the no-distillation "
                                   "baseline)", interval="[0, inf)")
    kd_weight: float = option(0.5, "weight of the KL divergence to the teacher's softened class distribution at "
                                   "--temperature, scaled by T^2 (Hinton et al.)", interval="[0, inf)")
    temperature: float = option(2.0, "softmax temperature of the soft-target term; higher spreads the teacher's "
                                     "probability over more classes", interval="(0, inf)")
    hidden_weight: float = option(0.0, "weight of the MSE between hidden states: embedding output with embedding "
                                       "output, each student layer with the teacher layer it was copied from; "
                                       "runs the teacher on every step", interval="[0, inf)")
    attention_weight: float = option(0.0, "weight of MiniLM-style attention transfer: KL between the teacher's and "
                                          "the student's last-layer self-attention distributions; switches both "
                                          "models to eager attention (slower) and runs the teacher on every step",
                                          interval="[0, inf)")
    cache_teacher: bool = option(True, "compute the teacher's logits for all training rows once, up front, so "
                                       "training steps skip the teacher (default: on); it still runs every step "
                                       "when --hidden-weight or --attention-weight is on, because caching its "
                                       "hidden states for the whole training set would not fit in memory")
    allow_pickle: bool = option(False, "allow loading pickled (.bin) weights, which can run code; only for trusted files")


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


def encoder_layers(model: torch.nn.Module, name: str) -> torch.nn.ModuleList:
    layers = getattr(getattr(model.base_model, "encoder", None), "layer", None)
    if not isinstance(layers, torch.nn.ModuleList):
        raise CompressError(f"{name} is not a BERT-style encoder (no encoder.layer list); BERT, RoBERTa, ELECTRA "
                            "and their kin have one")
    return layers


def build_student(teacher: torch.nn.Module, layer_ids: Sequence[int]) -> torch.nn.Module:
    """A copy of `teacher` with only encoder layers `layer_ids`, in that order; everything else copied as is."""
    return keep_layers(copy.deepcopy(teacher), layer_ids)


def keep_layers(model: torch.nn.Module, layer_ids: Sequence[int]) -> torch.nn.Module:
    """`model` itself, cut down to encoder layers `layer_ids` in that order.

    config.pruned_heads is keyed by layer index and `from_pretrained` prunes those heads before loading
    the weights, so the removed heads of a head-pruned model are renumbered with their layers.
    """
    kept = encoder_layers(model, "the model")
    model.base_model.encoder.layer = torch.nn.ModuleList(kept[i] for i in layer_ids)
    model.config.num_hidden_layers = len(layer_ids)
    pruned = model.config.pruned_heads
    model.config.pruned_heads = {new: sorted(pruned[old]) for new, old in enumerate(layer_ids) if old in pruned}
    return model


class DistillLoss:
    """`(student, batch) -> (loss, parts)` for the shared loop: the weighted sum of the enabled terms.

    `parts` holds each enabled term unweighted. Only terms with a non-zero weight are computed, the
    student and the teacher are asked for hidden states or attentions only when a term uses them,
    and the teacher runs only when a term needs it online: with `teacher_logits` (one row per
    training row, looked up by the batch's `idx`) soft targets cost no teacher pass, and come from
    those logits even when the online model is another one (pruning recovery matches hidden states
    with the unpruned model and soft targets with a separate teacher).
    """

    def __init__(self, weights: dict[str, float], temperature: float = 1.0, teacher: torch.nn.Module | None = None,
                 layer_ids: Sequence[int] = (), teacher_logits: torch.Tensor | None = None):
        self.weights = {term: w for term, w in weights.items() if w}
        self.temperature = temperature
        self.teacher = teacher
        self.teacher_logits = teacher_logits
        # Embedding output with embedding output, then student layer j with its source teacher layer.
        self.pairs = [(0, 0)] + [(j + 1, i + 1) for j, i in enumerate(layer_ids)]
        self.outputs = {"output_hidden_states": "hidden" in self.weights,
                        "output_attentions": "attention" in self.weights}
        self.online = any(self.outputs.values()) or ("kd" in self.weights and teacher_logits is None)

    def __call__(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]):
        inputs = model_inputs(batch)
        student = model(**inputs, **self.outputs)
        teacher = None
        if self.online:
            with torch.no_grad():
                teacher = self.teacher(**inputs, **self.outputs)
        parts = {}
        if "ce" in self.weights:
            parts["ce"] = F.cross_entropy(student.logits, batch["labels"])
        if "kd" in self.weights:
            targets = self.teacher_logits[batch["idx"]] if self.teacher_logits is not None else teacher.logits
            parts["kd"] = soft_target_kl(student.logits, targets, self.temperature)
        if "hidden" in self.weights:
            parts["hidden"] = hidden_state_mse(student.hidden_states, teacher.hidden_states, self.pairs,
                                               batch["attention_mask"])
        if "attention" in self.weights:
            parts["attention"] = attention_kl(student.attentions[-1], teacher.attentions[-1], batch["attention_mask"])
        loss = sum(self.weights[term] * value for term, value in parts.items())
        return loss, {term: value.item() for term, value in parts.items()}


def checked_weights(config: DistillConfig) -> dict[str, float]:
    """The loss weights by term, after checking that at least one is on (each is non-negative by its range)."""
    weights = {"ce": config.ce_weight, "kd": config.kd_weight, "hidden": config.hidden_weight,
               "attention": config.attention_weight}
    if not any(weights.values()):
        raise CompressError("all loss weights are zero; give at least one of --ce-weight, --kd-weight, "
                            "--hidden-weight, --attention-weight")
    return weights


def load_teacher(config: DistillConfig, attention: bool) -> tuple[torch.nn.Module, str]:
    if not config.teacher:
        raise CompressError("give the fine-tuned teacher with --teacher DIR")
    # The attentions the loss compares exist only on the eager path; sdpa is faster everywhere else.
    return load_fine_tuned(config.teacher, "teacher", config.allow_pickle, "eager" if attention else "sdpa")


def load_fine_tuned(path: str, role: str, allow_pickle: bool,
                    attn_implementation: str = "sdpa") -> tuple[torch.nn.Module, str]:
    """(classifier, resolved source) from a local fine-tuned checkpoint directory; `role` names it in errors."""
    if not Path(path).is_dir():
        raise CompressError(f"{role} {path} not found (give a fine-tuned checkpoint directory)")
    source = resolve_model(path, allow_pickle)
    model = load_classifier(source, None, allow_pickle, attn_implementation)
    if not any(a.endswith("ForSequenceClassification") for a in model.config.architectures or []):
        raise CompressError(f"{role} {path} has no classification head; fine-tune it first")
    return model, source


def distill(config: DistillConfig, output_dir: str | Path, overwrite: bool = False) -> dict[str, Any]:
    """Distil `config.teacher` into a shallower student; write its best checkpoint, metrics.json and a manifest."""
    from accelerate import PartialState

    started = time.time()
    check_output_dir(Path(output_dir), overwrite)
    weights = checked_weights(config)
    teacher, source = load_teacher(config, attention=bool(weights["attention"]))
    teacher_layers = encoder_layers(teacher, f"teacher {config.teacher}")
    layer_ids = choose_layer_ids(config, len(teacher_layers))
    tokenizer = load_tokenizer(source)
    config = resolve_data(config, config.teacher)
    roles = load_roles(config)
    train_data, eval_data = roles.train, roles.validation
    labels = LabelSpace.from_id2label(teacher.config.id2label)
    metric = Metric.parse(config.metric, labels.names)
    originals = len(train_data)
    train_data = augment_for(config, train_data, tokenizer, config.seed)
    train_features = featurize(tokenizer, train_data, labels, config.max_length)
    eval_features = featurize(tokenizer, eval_data, labels, config.max_length)

    student = build_student(teacher, layer_ids)
    if weights["attention"]:
        # HF returns attention probabilities after dropout, which would no longer be distributions.
        student.base_model.encoder.layer[-1].attention.self.dropout.p = 0.0
    device = PartialState().device
    teacher.eval().requires_grad_(False).to(device)
    pad_id = tokenizer.pad_token_id
    cache = config.cache_teacher and weights["kd"] > 0 and not (weights["hidden"] or weights["attention"])
    teacher_logits = None
    if cache or config.augment:
        teacher_logits = predict_logits(teacher, train_features, pad_id, config.eval_batch_size, device,
                                        progress="teacher logits")
        teacher_labelled(train_features.labels, teacher_logits, originals)
    loss = DistillLoss(weights, config.temperature, teacher, layer_ids,
                       torch.from_numpy(teacher_logits).to(device) if cache else None)
    teacher_eval = evaluate(teacher, eval_features, pad_id, config.eval_batch_size, device, metric)
    result = train(student, train_features, eval_features, pad_id, config, loss, description="distill", metric=metric)

    metrics = {**result.summary(), "train_examples": originals, "augmented_examples": len(train_features) - originals,
               "eval_examples": len(eval_data), "teacher_eval": teacher_eval, "teacher_layers": len(teacher_layers),
               "student_layer_ids": layer_ids, "teacher_cached": cache}
    return save_trained(output_dir, overwrite, "distill", student, tokenizer, source, config, metrics, started,
                        roles.summary())
