"""Stage `prune`: remove attention heads, FFN intermediate neurons, whole encoder layers and hidden channels
(compress.core.width), least important first, then recover accuracy on the shared training loop.

Each of `--steps` equal steps scores the current model (compress.core.importance), removes its share of the
target and fine-tunes it with compress.core.training.train, distilling from a teacher when asked (the
distil stage's loss, on teacher logits computed once before any pruning; with --hidden-weight also each
layer's hidden states against a frozen copy of the unpruned model's: with augmented copies and three
epochs it brought 50% pruning of the SST-2 3-layer student within 0.5 point, see reports/history/sst2-prune).

The result is a transformers checkpoint. Removed heads are recorded in config.pruned_heads, from which
transformers 4.57's `from_pretrained` rebuilds exactly these shapes (on 5.x, compress's loader does). BertConfig
has a single intermediate_size, so every layer keeps the same FFN width: per-layer widths would reload
only through a custom loader. FFN neurons are therefore removed evenly, ranked within each layer, and
only heads can be ranked globally.
"""

from __future__ import annotations

import copy
import tempfile
import time
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from compress.core.anatomy import (
    ffn_widths,
    head_counts,
    keep_layers,
    prunable_layers,
    prune_heads,
    prune_neurons,
    pruned_heads,
)
from compress.core.artifacts import check_output_dir
from compress.core.augment import (
    AugmentConfig,
    TrainingRows,
    teacher_labelled,
    training_rows,
)
from compress.core.batching import Features, featurize
from compress.core.config import option
from compress.core.data import DataConfig, LabelledText, LabelSpace
from compress.core.errors import CompressError
from compress.core.importance import METHODS, Scores, importance, lowest
from compress.core.inference import evaluate, is_main_process, loader, predict_logits
from compress.core.losses import DistillLoss, LossWeights
from compress.core.metrics import Metric
from compress.core.models import (
    LoadSettings,
    load_classifier,
    load_fine_tuned,
    load_tokenizer,
)
from compress.core.progress import bar, note
from compress.core.registry import Command, register
from compress.core.roles import load_roles, resolve_data
from compress.core.training import (
    LossFn,
    TrainConfig,
    cross_entropy_loss,
    save_trained,
    train,
)
from compress.core.vocabulary import shrink_vocabulary
from compress.core.width import check_width, hidden_sizes, narrow


@dataclass
class PruneConfig(LoadSettings, LossWeights, TrainConfig, DataConfig, AugmentConfig):
    """Settings of `compress prune`; the training settings drive recovery, whose length is --recovery-epochs."""

    unused = ("epochs",)

    model: str | None = option(None, "fine-tuned classifier checkpoint directory to prune")
    head_ratio: float | None = option(None, "fraction of the attention heads to remove", interval="[0, 1)")
    heads: int | None = option(None, "number of attention heads to remove (instead of --head-ratio)",
                               interval="[0, inf)")
    ffn_ratio: float | None = option(None, "fraction of each layer's FFN intermediate neurons to remove",
                                     interval="[0, 1)")
    # Rounded to a multiple of the layer count: plain transformers reloads only one FFN width for all layers.
    ffn_neurons: int | None = option(None, "FFN neurons to remove in all, the same number from every layer (instead "
                                           "of --ffn-ratio)", interval="[0, inf)")
    layers_to_drop: int = option(0, "whole encoder layers to remove, the least important first", interval="[0, inf)")
    scope: str = option("layer", "layer: the same share of heads from every layer; global: heads ranked across "
                                 "layers, each keeping one", choices=("layer", "global"))
    # Magnitude needs no data but chooses layers poorly: a layer's norms say little about its use.
    importance: str = option("taylor", "what ranks heads, neurons and layers: taylor (|gradient x weight| of the task "
                                       "loss) or magnitude (weight norms)", choices=METHODS)
    importance_batches: int = option(32, "training batches Taylor importance is accumulated over, at each step",
                                     interval="[1, inf)")
    steps: int = option(1, "prune in this many equal steps, re-scoring importance and recovering after each",
                        interval="[1, inf)")
    recovery_epochs: float = option(1.0, "fine-tuning passes over the training data after each pruning step "
                                         "(0: no recovery, unless --max-steps is given)", interval="[0, inf)")
    distill: bool = option(False, "recover by distilling from the unpruned input model (or --teacher): "
                                  "--ce-weight x hard labels + --kd-weight x soft targets")
    teacher: str | None = option(None, "fine-tuned checkpoint to distil from during recovery, instead of the input "
                                       "model (implies --distill); it may use its own tokenizer")
    vocabulary: bool = option(False, "also keep only the word pieces the training text uses, plus special tokens "
                                     "and single characters (no recovery needed)")
    hidden_size: int | None = option(None, "narrow the hidden size to this multiple of the head size; each "
                                           "layer keeps hidden / head size heads",
                                     interval="[1, inf)")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def prunes_structure(config: PruneConfig) -> bool:
    return bool(config.head_ratio or config.heads or config.ffn_ratio or config.ffn_neurons or config.layers_to_drop
                or config.hidden_size)


def recovers(config: PruneConfig) -> bool:
    return prunes_structure(config) and (config.max_steps is not None or config.recovery_epochs > 0)


def check_settings(config: PruneConfig) -> None:
    """Fail with one line on combinations of settings that are wrong whatever the model (each value's own range
    is checked when the settings are built)."""
    for ratio, count in (("head_ratio", "heads"), ("ffn_ratio", "ffn_neurons")):
        if getattr(config, ratio) is not None and getattr(config, count) is not None:
            raise CompressError(f"give {_flag(ratio)} or {_flag(count)}, not both")
    if config.hidden_size and (config.head_ratio or config.heads):
        raise CompressError("--hidden-size sets the heads too (hidden / head size per layer): drop --head-ratio and "
                            "--heads")
    if not (prunes_structure(config) or config.vocabulary):
        raise CompressError("nothing to prune: give --head-ratio/--heads, --ffn-ratio/--ffn-neurons, "
                            "--layers-to-drop, --hidden-size or --vocabulary")
    if (config.distill or config.teacher) and not recovers(config):
        raise CompressError("--distill and --teacher act during recovery, which follows only the pruning of heads, "
                            "neurons or layers, and which --recovery-epochs 0 turns off")
    for flag, given in (("--augment", config.augment), ("--unlabelled", config.unlabelled)):
        if given and not (config.distill or config.teacher):
            raise CompressError(f"{flag} rows are labelled by a teacher's predictions: give --distill or --teacher")
    if config.hidden_weight and config.hidden_size:
        raise CompressError("--hidden-weight compares hidden states, which --hidden-size makes narrower than the "
                            "teacher's: drop one")
    if config.hidden_weight and not (config.distill or config.teacher):
        raise CompressError("--hidden-weight matches the unpruned model while distilling: give --distill or --teacher")
    config.weights()


def _shares(total: int, sizes: Sequence[int]) -> list[int]:
    """`total` split in proportion to `sizes`, rounded so that the shares add up to `total`."""
    bounds = [0] + [round(total * sum(sizes[:i + 1]) / sum(sizes)) for i in range(len(sizes))]
    return [high - low for low, high in zip(bounds, bounds[1:])]


class Schedule:
    """What the model must have lost after each of `steps` equal steps, counted against the input model.

    Ratios of heads refer to the layers that stay; each step first drops its share of layers, then
    removes heads and neurons from the rest, so that nothing is spent on a layer about to go.
    """

    def __init__(self, config: PruneConfig, model: torch.nn.Module):
        layers = prunable_layers(model, f"model {config.model}")
        self.steps, self.scope = config.steps, config.scope
        self.layers = list(range(len(layers)))  # input-model index of each current layer
        self.input_heads = head_counts(model)
        self.input_width = ffn_widths(model)[0]
        self.drop = config.layers_to_drop
        final = len(layers) - self.drop
        if final < 1:
            raise CompressError(f"--layers-to-drop {self.drop} would leave none of the model's {len(layers)} layers")
        self.head_ratio, self.head_count = config.head_ratio or 0.0, config.heads
        spare = sum(sorted(self.input_heads)[:final]) - final
        if self.head_count is not None and self.head_count > spare:
            raise CompressError(f"--heads {self.head_count} is too many: every one of the {final} layers that stay "
                                f"keeps a head, so at most {spare} can go")
        self.width_goal = (round(config.ffn_neurons / final) if config.ffn_neurons is not None
                           else round((config.ffn_ratio or 0.0) * self.input_width))
        self.hidden = (hidden_sizes(model.config.hidden_size, config.hidden_size, layers[0].head_size, self.steps)
                       if config.hidden_size else [])
        if self.width_goal >= self.input_width:
            raise CompressError(f"removing {self.width_goal} FFN neurons from each of the {final} layer(s) that stay "
                                f"would leave none of their {self.input_width}")

    def apply(self, model: torch.nn.Module, scores: Scores, step: int,
              batches: Sequence[dict[str, torch.Tensor]] = ()) -> None:
        """Prune `model` in place to the goal of step `step` (counted from 1); width pruning ranks channels on
        `batches`."""
        done = step / self.steps
        gone = lowest(scores.layers, round(self.drop * done) - (len(self.input_heads) - len(self.layers)))
        if gone:
            kept = [i for i in range(len(self.layers)) if i not in gone]
            keep_layers(model, kept)
            self.layers = [self.layers[i] for i in kept]
            scores = scores.without_layers(gone)
        prune_heads(model, self._heads(model, scores.heads, done))
        width = ffn_widths(model)[0]
        neurons = round(self.width_goal * done) - (self.input_width - width)
        if neurons > 0:
            prune_neurons(model, [lowest(s, neurons) for s in scores.neurons])
        if self.hidden and self.hidden[step - 1] < model.config.hidden_size:
            narrow(model, self.hidden[step - 1], scores.heads, batches)

    def _heads(self, model: torch.nn.Module, scores: list[torch.Tensor], done: float) -> dict[int, list[int]]:
        current = head_counts(model)
        start = [self.input_heads[i] for i in self.layers]
        want = self.head_count if self.head_count is not None else round(self.head_ratio * sum(start))
        goal = round(want * done)
        if self.scope == "layer":
            return {i: lowest(scores[i], min(share, start[i] - 1) - (start[i] - current[i]))
                    for i, share in enumerate(_shares(goal, start))}
        # Normalised per layer as in Michel et al. (2019): raw scores differ in scale between layers (on a
        # fine-tuned MiniLM-L6 the first layer's heads scored twice the fifth's), and a raw global ranking
        # would take most heads from whichever layers happen to score low.
        ranked = sorted((float(s), i, h) for i, layer in enumerate(scores)
                        for h, s in enumerate(layer / layer.norm().clamp_min(1e-12)))
        left = goal - (sum(start) - sum(current))
        chosen: dict[int, list[int]] = {i: [] for i in range(len(current))}
        for _, i, h in ranked:
            if left <= 0:
                break
            if current[i] - len(chosen[i]) > 1:
                chosen[i].append(h)
                left -= 1
        return chosen


def structure(model: torch.nn.Module) -> dict[str, Any]:
    return {"heads_kept": head_counts(model), "ffn_neurons_kept": ffn_widths(model),
            "hidden_size": model.config.hidden_size, "parameters": sum(p.numel() for p in model.parameters())}


def recovery_loss(config: PruneConfig, model: torch.nn.Module, train_data: LabelledText, train_features: Features,
                  originals: int, pad_id: int, labels: LabelSpace,
                  device: torch.device) -> tuple[Callable[[Sequence[int]], LossFn], str | None]:
    """`loss_for(layers)`, the recovery loss of a model whose layers came from input layers `layers`, and
    the teacher recovery distils from, if any.

    Call it before pruning: without --teacher the model itself is the teacher. Either way the teacher's
    logits are computed once here, so recovery steps never run it for soft targets; the rows after
    `originals` are unlabelled text and augmented copies, which get the teacher's predictions as labels. With
    --hidden-weight a frozen copy of the unpruned model is kept, whose layers the pruned ones are matched with.
    """
    if not (config.distill or config.teacher):
        return lambda layers: cross_entropy_loss, None
    unpruned = copy.deepcopy(model).eval().requires_grad_(False) if config.hidden_weight else None
    teacher, features = model, train_features
    if config.teacher:
        teacher, source = load_fine_tuned(config.teacher, "teacher", config)
        if LabelSpace.from_id2label(teacher.config.id2label) != labels:
            theirs = ", ".join(teacher.config.id2label.values())
            raise CompressError(f"teacher {config.teacher} predicts labels {theirs}, the model "
                                f"{', '.join(labels.names)}")
        # The teacher reads the rows with its own tokenizer; its logits are matched to them by row.
        tokenizer = load_tokenizer(source, teacher.config.vocab_size)
        features, pad_id = featurize(tokenizer, train_data, labels, config.max_length), tokenizer.pad_token_id
        teacher.to(device)
    logits = predict_logits(teacher, features, pad_id, config.eval_batch_size, device, progress="teacher logits")
    teacher_labelled(train_features.labels, logits, originals)
    weights = config.weights()
    cached = torch.from_numpy(logits).to(device)

    def loss_for(layers: Sequence[int]) -> LossFn:
        return DistillLoss(weights, config.temperature, unpruned, layers, cached)

    return loss_for, config.teacher or config.model


def _load(config: PruneConfig) -> tuple[torch.nn.Module, str]:
    if not config.model:
        raise CompressError("prune needs --model, the fine-tuned checkpoint directory to prune")
    model, source = load_fine_tuned(config.model, "model", config)
    prunable_layers(model, f"model {config.model}")
    if config.hidden_size:
        check_width(model, config.hidden_size)
    return model, source


def prune(config: PruneConfig, output_dir: str | Path, overwrite: bool = False) -> dict[str, Any]:
    """Prune `config.model` in `config.steps` steps with recovery; write the checkpoint, metrics.json and a manifest."""
    from accelerate import PartialState

    started = time.time()
    check_output_dir(Path(output_dir), overwrite)
    check_settings(config)
    model, source = _load(config)
    schedule = Schedule(config, model)
    tokenizer = load_tokenizer(source, model.config.vocab_size)
    config = resolve_data(config, config.model)
    roles = load_roles(config)
    train_data, eval_data = roles.train, roles.validation
    originals = len(train_data)
    labels = LabelSpace.from_id2label(model.config.id2label)
    metric = Metric.parse(config.metric, labels.names)
    recovering = recovers(config)
    # Vocabulary pruning keeps the word pieces of the task's own text, not of the augmented copies.
    texts = train_data.texts + (train_data.pairs or [])
    rows = (training_rows(config, train_data, config.columns, (eval_data, roles.test), tokenizer, config.seed)
            if recovering else TrainingRows(train_data, originals))
    train_data = rows.data
    # Importance and recovery read the featurized training set; vocabulary pruning tokenizes the text itself.
    train_features = featurize(tokenizer, train_data, labels, config.max_length) if prunes_structure(config) else None
    eval_features = featurize(tokenizer, eval_data, labels, config.max_length)
    device = PartialState().device
    model.to(device)
    pad_id = tokenizer.pad_token_id
    loss_for, teacher = (recovery_loss(config, model, train_data, train_features, originals, pad_id, labels, device)
                         if recovering else (None, None))
    # Importance is measured on the task's own rows: drawn from a pool with augmented copies, the same
    # 25% step on SST-2 left 88.53 instead of 89.68 right after pruning.
    task_rows = (Features(train_features.encodings[:originals], train_features.labels[:originals])
                 if train_features is not None else None)

    def score() -> dict[str, float]:
        return evaluate(model, eval_features, pad_id, config.eval_batch_size, device, metric)

    before = {"eval": score(), **structure(model)}
    history = []
    for step in range(1, config.steps + 1 if prunes_structure(config) else 1):
        batches = []
        if config.importance == "taylor" or config.hidden_size:
            shuffled = loader(task_rows, pad_id, config.batch_size, config.seed + step, shuffle=True)
            count = min(len(shuffled), config.importance_batches)
            batches = list(bar(islice(shuffled, count), total=count, desc=f"importance {step}/{config.steps}",
                               unit="batch", disable=not is_main_process()))
        scores = importance(model, config.importance, batches if config.importance == "taylor" else ())
        schedule.apply(model, scores, step, batches)
        record = {"step": step, "layers_kept": list(schedule.layers), **structure(model), "eval_pruned": score()}
        if recovering:
            result = train(model, train_features, eval_features, pad_id,
                           config, loss_for(schedule.layers), epochs=config.recovery_epochs,
                           description=f"recover {step}/{config.steps}", metric=metric)
            record["recovery"] = result.summary()
        record["eval"] = record["recovery"]["eval"] if recovering else record["eval_pruned"]
        history.append(record)
        if is_main_process():
            note(f"prune step {step}/{config.steps}: heads {record['heads_kept']}, FFN {record['ffn_neurons_kept']}, "
                 f"accuracy {before['eval']['accuracy']:.4f} -> {record['eval_pruned']['accuracy']:.4f} pruned -> "
                 f"{record['eval']['accuracy']:.4f}")

    final = history[-1] if history else {"eval": before["eval"], "eval_pruned": before["eval"],
                                         "layers_kept": list(schedule.layers), **structure(model)}
    metrics = {"eval": final["eval"], "eval_before": before["eval"], "eval_pruned": final["eval_pruned"],
               "parameters_before": before["parameters"], "parameters_after": final["parameters"],
               "layers_kept": final["layers_kept"], "heads_kept": final["heads_kept"],
               "ffn_neurons_kept": final["ffn_neurons_kept"], "hidden_size": final["hidden_size"],
               "pruned_heads": pruned_heads(model.config),
               "teacher": teacher,
               **rows.counts(), "eval_examples": len(eval_data), "schedule": history}
    if config.vocabulary:
        pieces = len(tokenizer)
        tokenizer = shrink_vocabulary(model, tokenizer, texts)
        eval_features, pad_id = featurize(tokenizer, eval_data, labels, config.max_length), tokenizer.pad_token_id
        metrics.update(eval=score(), vocabulary_before=pieces, vocabulary_after=len(tokenizer),
                       parameters_after=structure(model)["parameters"])
        if is_main_process():
            note(f"vocabulary: {metrics['vocabulary_before']} -> {metrics['vocabulary_after']} pieces, accuracy "
                 f"{final['eval']['accuracy']:.4f} -> {metrics['eval']['accuracy']:.4f}")
    metrics["reload_max_abs_diff"] = reload_difference(model, eval_features, pad_id, config.eval_batch_size, device)
    return save_trained(output_dir, overwrite, "prune", model, tokenizer, source, config, metrics, started,
                        roles.summary())


def reload_difference(model: torch.nn.Module, features: Features, pad_id: int, batch_size: int, device) -> float:
    """Largest |logit| difference between `model` and its copy saved and reloaded by plain `from_pretrained`.

    A pruned checkpoint whose config does not describe its shapes fails to load or loads different
    weights; this measures it on real inputs before anything is written.
    """
    with tempfile.TemporaryDirectory(prefix="compress-reload-") as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        reloaded = load_classifier(tmp).to(device)
        ours = predict_logits(model, features, pad_id, batch_size, device)
        theirs = predict_logits(reloaded, features, pad_id, batch_size, device)
    return float(abs(ours - theirs).max())


register(Command(
    "prune", PruneConfig, prune,
    "remove attention heads, FFN neurons, layers, hidden channels or vocabulary, then recover accuracy",
    "Remove the least important heads, FFN neurons, layers and hidden channels in --steps steps, each followed by "
    "recovery training, and optionally the word pieces the training text never uses. The result reloads in plain "
    "transformers.",
    input_field="model", accepts=("hf",), produces="hf", writes="pruned model"))
