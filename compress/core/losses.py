"""Loss terms that make a student imitate a teacher, their weighted sum for the shared training loop, and the
settings that weigh them: shared by the distil stage and pruning recovery.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F

from compress.core.anatomy import prunable_layers
from compress.core.config import Settings, option
from compress.core.errors import CompressError
from compress.core.inference import model_inputs

# Keeps log() finite where a student attention probability underflows to zero; such keys then
# carry a large but finite penalty instead of an infinite one.
_PROB_FLOOR = 1e-12
# The projections whose self-relations MiniLM v2 transfers.
_PROJECTIONS = ("query", "key", "value")
# Terms that compare what the teacher computes inside (hidden states, attentions, projections): cached logits
# cannot stand in for them, so the teacher runs on every step.
_INSIDE_TERMS = ("hidden", "attention", "relation")


def runs_teacher_every_step(weights: dict[str, float]) -> bool:
    return any(weights.get(term) for term in _INSIDE_TERMS)


def soft_target_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(teacher || student) between temperature-softened class distributions, times T².

    The T² factor (Hinton et al., 2015) keeps the gradient scale of this term roughly independent of
    T, so its weight against the hard-label loss means the same at every temperature.
    """
    t = temperature
    return F.kl_div(F.log_softmax(student_logits / t, dim=-1), F.log_softmax(teacher_logits / t, dim=-1),
                    reduction="batchmean", log_target=True) * t * t


def hidden_state_mse(student_states: Sequence[torch.Tensor], teacher_states: Sequence[torch.Tensor],
                     pairs: Sequence[tuple[int, int]], attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean over (student index, teacher index) pairs of the per-element MSE on real tokens.

    Padding positions are left out: their states are whatever the models make of pad tokens, and
    matching them would only add noise that depends on how the batch happened to be padded.
    """
    mask = attention_mask.unsqueeze(-1).to(student_states[0].dtype)
    denominator = mask.sum() * student_states[0].shape[-1]
    per_pair = [((student_states[s] - teacher_states[t]) ** 2 * mask).sum() / denominator for s, t in pairs]
    return torch.stack(per_pair).mean()


def attention_kl(student_probs: torch.Tensor, teacher_probs: torch.Tensor,
                 attention_mask: torch.Tensor) -> torch.Tensor:
    """MiniLM's self-attention transfer: KL(teacher || student) over the keys of each head and query.

    Inputs are attention probabilities [batch, heads, queries, keys]; the mean runs over heads and
    real (non-padding) queries. Padded keys hold probability zero in both models and add nothing.
    """
    per_query = F.kl_div(student_probs.clamp_min(_PROB_FLOOR).log(), teacher_probs, reduction="none").sum(-1)
    mask = attention_mask[:, None, :].to(per_query.dtype)
    return (per_query * mask).sum() / (mask.sum() * per_query.shape[1])


def self_relations(states: torch.Tensor, heads: int, attention_mask: torch.Tensor) -> torch.Tensor:
    """MiniLM v2's relation distributions of one projection's output [batch, tokens, width]: split into `heads`
    relation heads, softmax of the scaled dot products of each token with every real token, [batch, heads,
    tokens, tokens].

    Relation heads need not be the model's attention heads, so a teacher and a student with different head
    counts still give distributions of the same shape.
    """
    batch, tokens, width = states.shape
    split = states.view(batch, tokens, heads, width // heads).transpose(1, 2)
    scores = split @ split.transpose(-1, -2) / math.sqrt(width // heads)
    padding = attention_mask[:, None, None, :] == 0
    return scores.masked_fill(padding, torch.finfo(scores.dtype).min).softmax(-1)


def relation_kl(student: dict[str, torch.Tensor], teacher: dict[str, torch.Tensor], heads: int,
                attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean over the query, key and value projections of the KL between their self-relations (MiniLM v2)."""
    return torch.stack([attention_kl(self_relations(student[role], heads, attention_mask),
                                     self_relations(teacher[role], heads, attention_mask), attention_mask)
                        for role in _PROJECTIONS]).mean()


@contextlib.contextmanager
def last_layer_projections(model: torch.nn.Module):
    """The outputs of the last encoder layer's query, key and value projections in the forward passes run inside.

    Hooks on the projections rather than output_attentions: they work on the fast SDPA path, and MiniLM v2
    compares the projections themselves.
    """
    block = prunable_layers(getattr(model, "module", model))[-1]
    captured: dict[str, torch.Tensor] = {}
    handles = [getattr(block, role).register_forward_hook(
        lambda module, args, output, role=role: captured.__setitem__(role, output)) for role in _PROJECTIONS]
    try:
        yield captured
    finally:
        for handle in handles:
            handle.remove()


@dataclass
class LossWeights(Settings):
    """How distillation weighs its terms (distil, and pruning recovery when it distils)."""

    ce_weight: float = option(0.5, "weight of cross-entropy on the hard labels", interval="[0, inf)")
    kd_weight: float = option(0.5, "weight of the KL divergence to the teacher's softened outputs, times T^2",
                              interval="[0, inf)")
    temperature: float = option(2.0, "softmax temperature of the soft targets", interval="(0, inf)")
    hidden_weight: float = option(0.0, "weight of the MSE between matched layers' hidden states (runs the teacher "
                                       "on every step)", interval="[0, inf)")

    def weights(self) -> dict[str, float]:
        """The weight of each term by name, after checking that at least one is on (each is non-negative by its
        range)."""
        weights = self.terms()
        if not any(weights.values()):
            raise CompressError("all loss weights are zero; give at least one of "
                                + ", ".join(f"--{term}-weight" for term in weights))
        return weights

    def terms(self) -> dict[str, float]:
        return {"ce": self.ce_weight, "kd": self.kd_weight, "hidden": self.hidden_weight}


class DistillLoss:
    """`(student, batch) -> (loss, parts)` for the shared loop: the weighted sum of the enabled terms.

    `parts` holds each enabled term unweighted. Only terms with a non-zero weight are computed, the
    student and the teacher are asked for hidden states or attentions, or have their last layer's
    projections hooked, only when a term uses them, and the teacher runs only when a term needs it
    online: with `teacher_logits` (one row per training row, looked up by the batch's `idx`) soft
    targets cost no teacher pass, and come from those logits even when the online model is another
    one (pruning recovery matches hidden states with the unpruned model and soft targets with a
    separate teacher).
    """

    def __init__(self, weights: dict[str, float], temperature: float = 1.0, teacher: torch.nn.Module | None = None,
                 layer_ids: Sequence[int] = (), teacher_logits: torch.Tensor | None = None, relation_heads: int = 1):
        self.weights = {term: w for term, w in weights.items() if w}
        self.relation_heads = relation_heads
        self.temperature = temperature
        self.teacher = teacher
        self.teacher_logits = teacher_logits
        # Embedding output with embedding output, then student layer j with its source teacher layer.
        self.pairs = [(0, 0)] + [(j + 1, i + 1) for j, i in enumerate(layer_ids)]
        self.outputs = {"output_hidden_states": "hidden" in self.weights,
                        "output_attentions": "attention" in self.weights}
        self.online = runs_teacher_every_step(self.weights) or ("kd" in self.weights and teacher_logits is None)

    def _projections(self, model: torch.nn.Module):
        return last_layer_projections(model) if "relation" in self.weights else contextlib.nullcontext({})

    def __call__(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]):
        inputs = model_inputs(batch, model)
        with self._projections(model) as student_projections:
            student = model(**inputs, **self.outputs)
        teacher = None
        if self.online:
            with torch.no_grad(), self._projections(self.teacher) as teacher_projections:
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
        if "relation" in self.weights:
            parts["relation"] = relation_kl(student_projections, teacher_projections, self.relation_heads,
                                            batch["attention_mask"])
        loss = sum(self.weights[term] * value for term, value in parts.items())
        return loss, {term: value.item() for term, value in parts.items()}
