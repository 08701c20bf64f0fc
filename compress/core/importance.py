"""How much a BERT-style classifier needs each attention head, FFN intermediate neuron and encoder layer.

Two measures, both higher for more important structures:

- `taylor`: the first-order Taylor estimate of how much the task loss changes when the structure is
  removed, |sum of gradient x weight| over the weights through which it writes into the residual
  stream, accumulated over training batches (Molchanov et al., 2019; for heads this is the gradient
  of a head mask, as in Michel et al., 2019). For a layer it is |gradient . (output - input)|, the
  first-order change when the layer passes its input through unchanged.
- `magnitude`: L2 norms of each structure's weights; needs no data, and ignores what the task uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import torch
import torch.nn.functional as F

from compress.core.anatomy import prunable_layers
from compress.core.errors import CompressError
from compress.core.inference import model_inputs

METHODS = ("taylor", "magnitude")


@dataclass
class Scores:
    """Importance of each current head and FFN neuron of every layer (one tensor per layer), and of each layer."""

    heads: list[torch.Tensor]
    neurons: list[torch.Tensor]
    layers: torch.Tensor

    def without_layers(self, gone: Iterable[int]) -> "Scores":
        """The scores of the layers that remain once layers `gone` are removed."""
        kept = [i for i in range(len(self.heads)) if i not in set(gone)]
        return Scores([self.heads[i] for i in kept], [self.neurons[i] for i in kept], self.layers[kept])


def importance(model: torch.nn.Module, method: str, batches: Iterable[dict[str, torch.Tensor]] = ()) -> Scores:
    """Scores of `model`'s structures; `taylor` measures them on the labelled `batches`, `magnitude` needs none."""
    if method == "magnitude":
        return magnitude(model)
    if method == "taylor":
        return taylor(model, batches)
    raise CompressError(f"importance must be one of {', '.join(METHODS)}, got {method!r}")


def lowest(scores: torch.Tensor, count: int) -> list[int]:
    """Positions of the `count` lowest scores; ties go to the earlier position, so runs repeat exactly."""
    return torch.argsort(scores, stable=True)[:max(count, 0)].tolist()


@torch.no_grad()
def magnitude(model: torch.nn.Module) -> Scores:
    heads, neurons = [], []
    for block in prunable_layers(model):
        n = block.heads
        qkv = sum(m.weight.view(n, -1).pow(2).sum(1) for m in (block.query, block.key, block.value))
        out = block.attention_out.weight.view(-1, n, block.head_size).pow(2).sum((0, 2))
        heads.append((qkv + out).sqrt())
        neurons.append((block.ffn_in.weight.pow(2).sum(1) + block.ffn_out.weight.pow(2).sum(0)).sqrt())
    # Norms say nothing about a layer's effect; the sum of its parts at least follows what pruning left of it.
    return Scores(heads, neurons, torch.stack([h.sum() + n.sum() for h, n in zip(heads, neurons)]))


def taylor(model: torch.nn.Module, batches: Iterable[dict[str, torch.Tensor]]) -> Scores:
    layers = prunable_layers(model)
    # A head's or neuron's only way into the residual stream is its slice of the output projection, so
    # gradient x weight summed over that slice is exactly the loss gradient of a mask on the structure.
    projections = [(block.attention_out.weight, block.ffn_out.weight) for block in layers]
    heads = [torch.zeros(block.heads) for block in layers]
    neurons = [torch.zeros(block.ffn_in.out_features) for block in layers]
    layer_scores = torch.zeros(len(layers))
    device = next(model.parameters()).device
    trainable = [p.requires_grad for p in model.parameters()]
    was_training = model.training
    # Eval mode, so dropout does not blur the scores; gradients only for the projections the scores read,
    # which spares computing every other weight gradient.
    model.eval().requires_grad_(False)
    for weight in (w for pair in projections for w in pair):
        weight.requires_grad_(True)
    model.zero_grad(set_to_none=True)  # gradients left from earlier work would count as this batch's
    seen = 0
    try:
        for batch in batches:
            out = model(**{k: v.to(device) for k, v in model_inputs(batch, model).items()}, output_hidden_states=True)
            states = out.hidden_states
            for state in states[1:]:
                state.retain_grad()
            F.cross_entropy(out.logits, batch["labels"].to(device)).backward()
            with torch.no_grad():
                for i, (attention, ffn) in enumerate(projections):
                    # Absolute value per batch: gains on one batch must not cancel losses on another.
                    heads[i] += (attention.grad * attention).sum(0).view(len(heads[i]), -1).sum(1).abs().cpu()
                    neurons[i] += (ffn.grad * ffn).sum(0).abs().cpu()
                    layer_scores[i] += (states[i + 1].grad * (states[i + 1] - states[i])).sum().abs().cpu()
            model.zero_grad(set_to_none=True)
            seen += 1
    finally:
        for parameter, flag in zip(model.parameters(), trainable):
            parameter.requires_grad_(flag)
        model.train(was_training)
    if not seen:
        raise CompressError("Taylor importance needs training batches, and there were none")
    return Scores(heads, neurons, layer_scores)
