"""Hidden-size (width) pruning: the residual stream narrowed by the same channels in every part that reads or
writes it.

Those parts are many and architecture-specific: the word, position and token-type embeddings (or ELECTRA's
projection), every LayerNorm, each layer's attention and FFN input and output projections, the pooler or the
classifier's first layer. Torch-Pruning's dependency graph traces the model once and groups them all, so one
group prune keeps them consistent; its group Taylor importance ranks the channels by the task loss.

In these configs the attention width is heads x head size = hidden size, so heads go first: each layer keeps
hidden / head size of its heads, the most important ones, and the head size stays. The result is a uniform
model whose config (hidden_size, num_attention_heads) describes it, which plain transformers reloads.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import torch
import torch.nn.functional as F

from compress.core.anatomy import layout_of, prunable_layers, prune_heads
from compress.core.errors import CompressError
from compress.core.importance import lowest
from compress.core.inference import model_inputs


def check_width(model: torch.nn.Module, hidden: int) -> None:
    """One line on a hidden size the model cannot be narrowed to."""
    blocks = prunable_layers(model)
    size, current = blocks[0].head_size, model.config.hidden_size
    if not size <= hidden < current or hidden % size:
        raise CompressError(f"--hidden-size must be a multiple of the head size {size} below the model's "
                            f"{current}, got {hidden}")
    if getattr(model.config, "embedding_size", None) == hidden:
        # ELECTRA builds its embedding projection only when the sizes differ, so it would not reload.
        raise CompressError(f"--hidden-size {hidden} equals the {layout_of(model).name} embedding size; choose "
                            "another")


def hidden_sizes(current: int, goal: int, head_size: int, steps: int) -> list[int]:
    """The hidden size after each of `steps` equal steps from `current` to `goal`, in whole heads."""
    heads = (current - goal) // head_size
    return [current - round(heads * step / steps) * head_size for step in range(1, steps + 1)]


def narrow(model: torch.nn.Module, hidden: int, head_scores: Sequence[torch.Tensor],
           batches: Iterable[dict[str, torch.Tensor]]) -> None:
    """Narrow `model` in place to hidden size `hidden`: the lowest-scoring heads of each layer, then the residual
    channels with the least group Taylor importance over the labelled `batches`, then the outputs of any layer the
    new config makes hidden-sized (BERT's pooler, ELECTRA's and RoBERTa's classifier, DistilBERT's pre-classifier)."""
    import torch_pruning as tp

    blocks = prunable_layers(model)
    keep = hidden // blocks[0].head_size
    prune_heads(model, {i: lowest(head_scores[i], block.heads - keep) for i, block in enumerate(blocks)})
    batches = list(batches)
    if not batches:
        raise CompressError("width pruning ranks channels on training batches, and there were none")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    graph = tp.DependencyGraph().build_dependency(
        model, example_inputs={k: v.to(device) for k, v in model_inputs(batches[0], model).items()},
        output_transform=lambda out: out.logits, verbose=False)
    # Every layer will have `keep` heads of the old size: the config says so directly, with nothing left to prune
    # on reload.
    model.config.hidden_size, model.config.num_attention_heads, model.config.pruned_heads = hidden, keep, {}
    target = _shapes(model)
    taylor = tp.importance.GroupTaylorImportance()

    def cut(module: torch.nn.Linear, fn, width: int) -> None:
        """Keep the `width` channels of `module`'s group (in or out, by `fn`) with the most importance."""
        now = module.in_features if fn is tp.prune_linear_in_channels else module.out_features
        scores = taylor(graph.get_pruning_group(module, fn, list(range(now))))
        graph.get_pruning_group(module, fn, lowest(scores, now - width)).prune()

    model.zero_grad(set_to_none=True)
    for batch in batches:
        logits = model(**{k: v.to(device) for k, v in model_inputs(batch, model).items()}).logits
        F.cross_entropy(logits, batch["labels"].to(device)).backward()
    # Torch-Pruning cuts the gradients with the weights, so the groups left after the residual stream are scored
    # on the same batches. The first layer's query reads the stream; the graph follows it everywhere else.
    cut(prunable_layers(model)[0].query, tp.prune_linear_in_channels, hidden)
    for name, module in list(model.named_modules()):
        if isinstance(module, torch.nn.Linear) and module.out_features != target[f"{name}.weight"][0]:
            cut(module, tp.prune_linear_out_channels, target[f"{name}.weight"][0])
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    wrong = [name for name, p in model.named_parameters() if tuple(p.shape) != target[name]]
    if wrong:
        raise CompressError(f"width pruning left {', '.join(wrong[:3])} in a shape the new config does not describe")


def _shapes(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    """Each parameter's shape in a model built afresh from `model`'s config: what a reload will expect."""
    with torch.device("meta"):
        fresh = type(model)(model.config)
    return {name: tuple(p.shape) for name, p in fresh.named_parameters()}
