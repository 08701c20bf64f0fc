"""Loss terms that make a student imitate a teacher: pure functions of the two models' outputs.

They live apart from the distil stage so that pruning recovery can reuse them on a pruned student.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

# Keeps log() finite where a student attention probability underflows to zero; such keys then
# carry a large but finite penalty instead of an infinite one.
_PROB_FLOOR = 1e-12


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
