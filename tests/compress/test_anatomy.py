"""compress.core.anatomy: a model's layers found and checked, layers kept or removed, a head masked."""

from __future__ import annotations

import os

import pytest
import torch

from compress.core.anatomy import (
    encoder_layers,
    ffn_widths,
    head_counts,
    head_masked,
    keep_layers,
    layer_removed,
    prunable_layers,
    prune_heads,
    pruned_heads,
)
from compress.core.data import load_split
from compress.core.errors import CompressError
from compress.core.models import LoadSettings, load_classifier, load_fine_tuned, load_tokenizer
from tests.conftest import cut_bert

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return cut_bert(tmp_path_factory.mktemp("anatomy_base"), layers=2)


@pytest.fixture(scope="module")
def sentences(base, data_dir):
    texts = load_split("sst2", "dev").texts[:12]
    return dict(load_tokenizer(str(base))(texts, padding=True, truncation=True, max_length=48, return_tensors="pt"))


def logits(model, inputs) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(**inputs).logits


def test_the_layers_and_their_prunable_parts_are_found(base):
    model = load_classifier(base)
    assert len(encoder_layers(model)) == len(prunable_layers(model)) == 2
    assert head_counts(model) == [12, 12] and ffn_widths(model) == [1536, 1536]


def test_a_model_without_an_encoder_layer_list_is_refused_by_name():
    class Headless(torch.nn.Module):
        base_model = torch.nn.Linear(2, 2)

    with pytest.raises(CompressError, match="the teacher is a model of unknown type, which compress does not "
                                            "support; it supports BERT, RoBERTa, XLM-RoBERTa, ELECTRA, DistilBERT"):
        encoder_layers(Headless(), "the teacher")


def test_heads_prune_and_reload_without_transformers_prune_heads(monkeypatch, base, sentences, tmp_path):
    """transformers 5 has neither prune_heads nor config.pruned_heads; taking prune_heads away checks that path on
    4.57 too."""
    import transformers

    model = load_classifier(base)
    prune_heads(model, {0: [0, 5], 1: [11]})
    model.save_pretrained(tmp_path / "pruned")
    monkeypatch.delattr(transformers.PreTrainedModel, "prune_heads", raising=False)
    reloaded = load_classifier(tmp_path / "pruned")
    assert head_counts(reloaded) == [10, 11] and pruned_heads(reloaded.config) == {0: [0, 5], 1: [11]}
    torch.testing.assert_close(logits(reloaded, sentences), logits(model, sentences), rtol=0, atol=0)


def test_a_head_position_out_of_range_is_refused(base):
    with pytest.raises(ValueError, match="layer 1 has 12 heads"):
        prune_heads(load_classifier(base), {1: [12]})


def test_a_checkpoint_without_a_classification_head_is_refused(tmp_path, base):
    from transformers import BertModel

    BertModel.from_pretrained(base).save_pretrained(tmp_path / "bare")
    with pytest.raises(CompressError, match="has no classification head"):
        load_fine_tuned(str(tmp_path / "bare"), "model", LoadSettings())
    with pytest.raises(CompressError, match="not found"):
        load_fine_tuned(str(tmp_path / "missing"), "model", LoadSettings())


def test_keeping_layers_in_a_new_order_updates_the_config(base, sentences):
    model = load_classifier(base)
    second = model.bert.encoder.layer[1]
    keep_layers(model, [1])
    assert model.config.num_hidden_layers == 1 and model.bert.encoder.layer[0] is second


def test_a_removed_layer_comes_back_afterwards(base, sentences):
    model = load_classifier(base).eval()
    before = logits(model, sentences)
    with layer_removed(model, 0):
        assert len(model.bert.encoder.layer) == 1
        assert (logits(model, sentences) - before).abs().max() > 0
    assert len(model.bert.encoder.layer) == 2
    torch.testing.assert_close(logits(model, sentences), before)


def test_masking_hook_matches_zeroing_the_heads_columns_of_the_output_projection(base, sentences):
    model = load_classifier(base).eval()
    with head_masked(prunable_layers(model)[1], 4):
        hooked = logits(model, sentences)
    zeroed = load_classifier(base).eval()
    with torch.no_grad():
        prunable_layers(zeroed)[1].attention_out.weight[:, 4 * 32:5 * 32] = 0
    torch.testing.assert_close(hooked, logits(zeroed, sentences), atol=1e-5, rtol=0)
    assert (hooked - logits(model, sentences)).abs().max() > 0
