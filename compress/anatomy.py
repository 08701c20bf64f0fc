"""Where a fine-tuned encoder classifier keeps its parts: the encoder layers and, inside each, the attention
projections and FFN that pruning slices. Stages reach into a model only through these functions, so the
knowledge of a model's module names lives here and nowhere else."""

from __future__ import annotations

import contextlib
from typing import Iterator, Sequence

import torch

from compress.errors import CompressError
from compress.models import LoadSettings, load_classifier

# The modules of a layer that head and FFN pruning slice, as BERT names them.
PRUNABLE = ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
            "intermediate.dense", "output.dense")


def load_fine_tuned(path: str, role: str, settings: LoadSettings,
                    attn_implementation: str = "sdpa") -> tuple[torch.nn.Module, str]:
    """(classifier, its local directory) from a fine-tuned checkpoint directory or hub id; `role` names it in
    errors."""
    try:
        source = settings.resolve(path)
    except CompressError as exc:
        raise CompressError(f"{role}: {exc}") from None
    model = load_classifier(source, None, settings.allow_pickle, attn_implementation)
    if not any(a.endswith("ForSequenceClassification") for a in model.config.architectures or []):
        raise CompressError(f"{role} {path} has no classification head; fine-tune it first")
    return model, source


def encoder_layers(model: torch.nn.Module, name: str = "the model") -> torch.nn.ModuleList:
    layers = getattr(getattr(model.base_model, "encoder", None), "layer", None)
    if not isinstance(layers, torch.nn.ModuleList):
        raise CompressError(f"{name} is not a BERT-style encoder (no encoder.layer list); BERT, RoBERTa, ELECTRA "
                            "and their kin have one")
    return layers


def prunable_layers(model: torch.nn.Module, name: str = "the model") -> torch.nn.ModuleList:
    """The encoder layers, checked to have BERT's attention and FFN modules, which pruning slices."""
    layers = encoder_layers(model, name)
    names = {n for n, _ in layers[0].named_modules()}
    missing = [n for n in PRUNABLE if n not in names]
    if missing:
        raise CompressError(f"{name} does not have BERT's layer modules ({', '.join(missing)} missing); pruning "
                            "supports BERT, RoBERTa, ELECTRA and their kin")
    return layers


def check_head_pruning(model: torch.nn.Module | None = None) -> None:
    """Removed heads reload from config.pruned_heads, which transformers 5 dropped together with prune_heads;
    without `model`, checks the installed transformers."""
    import transformers

    if not hasattr(model if model is not None else transformers.PreTrainedModel, "prune_heads"):
        raise CompressError(f"head pruning needs transformers 4.57 (this is {transformers.__version__}, which can "
                            "neither remove heads nor reload a head-pruned checkpoint); layers, FFN neurons and "
                            "vocabulary prune on any version")


def keep_layers(model: torch.nn.Module, layer_ids: Sequence[int]) -> torch.nn.Module:
    """`model` itself, cut down to encoder layers `layer_ids` in that order.

    config.pruned_heads is keyed by layer index and `from_pretrained` prunes those heads before loading
    the weights, so the removed heads of a head-pruned model are renumbered with their layers.
    """
    kept = encoder_layers(model)
    model.base_model.encoder.layer = torch.nn.ModuleList(kept[i] for i in layer_ids)
    model.config.num_hidden_layers = len(layer_ids)
    pruned = getattr(model.config, "pruned_heads", None)  # None on transformers 5
    if pruned is not None:
        model.config.pruned_heads = {new: sorted(pruned[old]) for new, old in enumerate(layer_ids) if old in pruned}
    return model


@contextlib.contextmanager
def layer_removed(model: torch.nn.Module, index: int) -> Iterator[None]:
    """`model` without encoder layer `index` for the duration, its config untouched."""
    encoder = model.base_model.encoder
    layers = encoder_layers(model)
    encoder.layer = torch.nn.ModuleList(layer for i, layer in enumerate(layers) if i != index)
    try:
        yield
    finally:
        encoder.layer = layers


@contextlib.contextmanager
def head_masked(layer: torch.nn.Module, head: int) -> Iterator[None]:
    """`layer` with one head's output zeroed where it enters the output projection.

    Not forward's head_mask: that must be one [layers, heads] tensor, which a model with different head
    counts per layer cannot give, and it sends SDPA attention down the slower eager path.
    """
    size = layer.attention.self.attention_head_size

    def zero(module, args):
        context = args[0].clone()
        context[..., head * size:(head + 1) * size] = 0
        return (context, *args[1:])

    handle = layer.attention.output.dense.register_forward_pre_hook(zero)
    try:
        yield
    finally:
        handle.remove()


def head_counts(model: torch.nn.Module) -> list[int]:
    return [layer.attention.self.num_attention_heads for layer in prunable_layers(model)]


def ffn_widths(model: torch.nn.Module) -> list[int]:
    return [layer.intermediate.dense.out_features for layer in prunable_layers(model)]
