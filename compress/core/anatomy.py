"""Where a fine-tuned encoder classifier keeps its parts, per architecture: the encoder layers and, inside each,
the attention projections and FFN that pruning slices, the inputs the model takes and the attention
implementation it can run. Stages reach into a model only through this module, so the knowledge of each
architecture's module names lives here and nowhere else.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import torch

from compress.core.errors import CompressError


@dataclass(frozen=True)
class Layout:
    """One architecture's module paths: `layers` under the base model, the rest under one encoder layer."""

    name: str
    inputs: tuple[str, ...]
    layers: str = "encoder.layer"
    query: str = "attention.self.query"
    key: str = "attention.self.key"
    value: str = "attention.self.value"
    attention_out: str = "attention.output.dense"
    ffn_in: str = "intermediate.dense"
    ffn_out: str = "output.dense"
    heads: str = "attention.self.num_attention_heads"  # the live head count, which prune_heads lowers
    heads_width: str = "attention.self.all_head_size"  # heads x head size, which 4.57's reshapes read
    attention_dropout: str = "attention.self.dropout"  # applied to the attention probabilities
    ffn_config: str = "intermediate_size"
    sdpa: bool = True

    def attention(self, wanted: str | None) -> str | None:
        """`wanted` if the architecture has it; SDPA falls back to eager (same results, slower) where it has none."""
        return "eager" if wanted == "sdpa" and not self.sdpa else wanted

    def part(self, layer: torch.nn.Module, role: str) -> Any:
        owner, _, attribute = getattr(self, role).rpartition(".")
        try:
            return getattr(layer.get_submodule(owner) if owner else layer, attribute)
        except AttributeError:
            raise CompressError(f"this {self.name} has no {getattr(self, role)} where its layers keep one (a modified "
                                "architecture?)") from None

    def replace(self, layer: torch.nn.Module, role: str, module: torch.nn.Module) -> None:
        owner, _, attribute = getattr(self, role).rpartition(".")
        setattr(layer.get_submodule(owner) if owner else layer, attribute, module)


_WITH_SEGMENTS = ("input_ids", "attention_mask", "token_type_ids")
# RoBERTa and XLM-R have one token type: their tokenizers send none, and a pair's second segment would be out of range.
_WITHOUT_SEGMENTS = ("input_ids", "attention_mask")
LAYOUTS = {
    "bert": Layout("BERT", _WITH_SEGMENTS),
    "roberta": Layout("RoBERTa", _WITHOUT_SEGMENTS),
    "xlm-roberta": Layout("XLM-RoBERTa", _WITHOUT_SEGMENTS),
    # transformers 4.57's ELECTRA has no scaled_dot_product_attention path.
    "electra": Layout("ELECTRA", _WITH_SEGMENTS, sdpa=False),
    "distilbert": Layout("DistilBERT", _WITHOUT_SEGMENTS, layers="transformer.layer", query="attention.q_lin",
                         key="attention.k_lin", value="attention.v_lin", attention_out="attention.out_lin",
                         ffn_in="ffn.lin1", ffn_out="ffn.lin2", heads="attention.n_heads", heads_width="attention.dim",
                         attention_dropout="attention.dropout", ffn_config="hidden_dim"),
}
SUPPORTED = ", ".join(layout.name for layout in LAYOUTS.values())


def layout_of(model_or_config: Any, name: str = "the model") -> Layout:
    """The layout of a model, its config, or a config.json's dict; one line naming the supported ones otherwise."""
    # A model wrapped for data-parallel training (DistributedDataParallel) holds the real one as `module`.
    model = getattr(model_or_config, "module", model_or_config)
    config = getattr(model, "config", model)
    model_type = config.get("model_type") if isinstance(config, dict) else getattr(config, "model_type", None)
    if model_type not in LAYOUTS:
        raise CompressError(f"{name} is a {model_type or 'model of unknown type'}, which compress does not support; "
                            f"it supports {SUPPORTED}")
    return LAYOUTS[model_type]


def input_names(model_or_config: Any) -> tuple[str, ...]:
    return layout_of(model_or_config).inputs


def encoder_layers(model: torch.nn.Module, name: str = "the model") -> torch.nn.ModuleList:
    try:
        layers = model.base_model.get_submodule(layout_of(model, name).layers)
    except AttributeError:
        layers = None
    if not isinstance(layers, torch.nn.ModuleList):
        raise CompressError(f"{name} has no list of encoder layers where its architecture keeps one")
    return layers


class Block:
    """One encoder layer's parts by role, whatever its architecture calls them."""

    def __init__(self, layer: torch.nn.Module, layout: Layout):
        self.layer, self.layout = layer, layout

    def __getattr__(self, role: str) -> Any:
        if role in ("layer", "layout"):
            raise AttributeError(role)
        return self.layout.part(self.layer, role)

    @property
    def head_size(self) -> int:
        return self.attention_out.in_features // self.heads

    def set_ffn(self, ffn_in: torch.nn.Linear, ffn_out: torch.nn.Linear) -> None:
        self.layout.replace(self.layer, "ffn_in", ffn_in)
        self.layout.replace(self.layer, "ffn_out", ffn_out)


def prunable_layers(model: torch.nn.Module, name: str = "the model") -> list[Block]:
    """The encoder layers as Blocks, checked to have the attention and FFN modules that pruning slices."""
    layout = layout_of(model, name)
    blocks = [Block(layer, layout) for layer in encoder_layers(model, name)]
    for role in ("query", "key", "value", "attention_out", "ffn_in", "ffn_out"):
        if not all(isinstance(getattr(b, role), torch.nn.Linear) for b in blocks):
            raise CompressError(f"{name}'s layers lack the {role.replace('_', ' ')} projection where "
                                f"{layout.name} keeps it ({getattr(layout, role)})")
    return blocks


def keep_layers(model: torch.nn.Module, layer_ids: Sequence[int]) -> torch.nn.Module:
    """`model` itself, cut down to encoder layers `layer_ids` in that order.

    config.pruned_heads is keyed by layer index and `from_pretrained` prunes those heads before loading
    the weights, so the removed heads of a head-pruned model are renumbered with their layers.
    """
    kept = encoder_layers(model)
    _set_layers(model, torch.nn.ModuleList(kept[i] for i in layer_ids))
    model.config.num_hidden_layers = len(layer_ids)  # DistilBERT's config maps the name to n_layers
    pruned = pruned_heads(model.config)
    model.config.pruned_heads = {new: pruned[old] for new, old in enumerate(layer_ids) if old in pruned}
    return model


@contextlib.contextmanager
def layer_removed(model: torch.nn.Module, index: int) -> Iterator[None]:
    """`model` without encoder layer `index` for the duration, its config untouched."""
    layers = encoder_layers(model)
    _set_layers(model, torch.nn.ModuleList(layer for i, layer in enumerate(layers) if i != index))
    try:
        yield
    finally:
        _set_layers(model, layers)


def _set_layers(model: torch.nn.Module, layers: torch.nn.ModuleList) -> None:
    owner, _, attribute = layout_of(model).layers.rpartition(".")
    setattr(model.base_model.get_submodule(owner), attribute, layers)


@contextlib.contextmanager
def head_masked(block: Block, head: int) -> Iterator[None]:
    """`block` with one head's output zeroed where it enters the output projection.

    Not forward's head_mask: that must be one [layers, heads] tensor, which a model with different head
    counts per layer cannot give, and it sends SDPA attention down the slower eager path.
    """
    size = block.head_size

    def zero(module, args):
        context = args[0].clone()
        context[..., head * size:(head + 1) * size] = 0
        return (context, *args[1:])

    handle = block.attention_out.register_forward_pre_hook(zero)
    try:
        yield
    finally:
        handle.remove()


def head_counts(model: torch.nn.Module) -> list[int]:
    return [block.heads for block in prunable_layers(model)]


def ffn_widths(model: torch.nn.Module) -> list[int]:
    return [block.ffn_in.out_features for block in prunable_layers(model)]


def pruned_heads(config: Any) -> dict[int, list[int]]:
    """config.pruned_heads by layer index, in each layer's unpruned numbering. transformers 5 no longer knows the
    field, so after a reload it is a plain attribute whose keys are the strings config.json wrote."""
    return {int(layer): sorted(heads) for layer, heads in (getattr(config, "pruned_heads", None) or {}).items()
            if heads}


def prune_heads(model: torch.nn.Module, heads: dict[int, list[int]]) -> None:
    """Remove heads given by their current position in each layer, and record them in config.pruned_heads.

    Our own slicing rather than transformers' `prune_heads`, which transformers 5 removed: the same on every
    version. config.pruned_heads numbers heads as in the unpruned layer, so positions in a layer that has lost
    heads before are mapped back to those numbers; reloading rebuilds the shapes from it
    (compress.core.models on transformers 5).
    """
    from transformers.pytorch_utils import prune_linear_layer

    blocks = prunable_layers(model)
    recorded = pruned_heads(model.config)
    for i, positions in heads.items():
        positions = sorted(set(positions))
        if not positions:
            continue
        block, size = blocks[i], blocks[i].head_size
        kept = [h for h in range(block.heads) if h not in positions]
        if not kept or positions[-1] >= block.heads:
            raise ValueError(f"layer {i} has {block.heads} heads; cannot remove positions {positions}")
        index = torch.cat([torch.arange(h * size, (h + 1) * size) for h in kept])
        for role in ("query", "key", "value"):
            block.layout.replace(block.layer, role, prune_linear_layer(getattr(block, role), index))
        block.layout.replace(block.layer, "attention_out", prune_linear_layer(block.attention_out, index, dim=1))
        block.layout.replace(block.layer, "heads", len(kept))
        block.layout.replace(block.layer, "heads_width", len(kept) * size)
        numbers = sorted(set(range(model.config.num_attention_heads)) - set(recorded.get(i, [])))
        recorded[i] = sorted(set(recorded.get(i, [])) | {numbers[p] for p in positions})
    model.config.pruned_heads = recorded


def prune_neurons(model: torch.nn.Module, gone: Sequence[Sequence[int]]) -> None:
    """Remove FFN intermediate neurons by position, one list per layer, all of the same length."""
    from transformers.pytorch_utils import prune_linear_layer

    if len({len(positions) for positions in gone}) != 1:
        raise ValueError("every layer must lose as many FFN neurons: the config has one intermediate_size")
    blocks = prunable_layers(model)
    for block, positions in zip(blocks, gone):
        keep = torch.tensor(sorted(set(range(block.ffn_in.out_features)) - set(positions)))
        block.set_ffn(prune_linear_layer(block.ffn_in, keep), prune_linear_layer(block.ffn_out, keep, dim=1))
    setattr(model.config, blocks[0].layout.ffn_config, len(keep))
