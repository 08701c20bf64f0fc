"""compress.core.width: hidden sizes in whole heads, what cannot be narrowed refused in one line, and a narrowed model
whose every residual reader and writer has the new width (every architecture end to end: test_architectures)."""

from __future__ import annotations

import os

import pytest
import torch

from compress.core.anatomy import head_counts, prunable_layers
from compress.core.errors import CompressError
from compress.core.importance import magnitude
from compress.core.models import load_classifier, load_tokenizer
from compress.core.width import check_width, hidden_sizes, narrow
from compress.engine.cli import main
from tests.architectures import tiny_classifier

os.environ.setdefault("HF_HUB_OFFLINE", "1")
LABELS = {0: "negative", 1: "positive"}


@pytest.fixture(scope="module")
def electra(tmp_path_factory, data_dir):
    """Hidden 32 in 4 heads of 8, embeddings of 24 projected up to 32."""
    return tiny_classifier("electra", tmp_path_factory.mktemp("electra"), LABELS)


def test_steps_narrow_in_whole_heads_down_to_the_goal():
    assert hidden_sizes(384, 192, 32, 1) == [192]
    assert hidden_sizes(384, 256, 32, 2) == [320, 256]
    assert hidden_sizes(384, 192, 32, 3) == [320, 256, 192]


@pytest.mark.parametrize("hidden, message", [(20, "a multiple of the head size 8 below the model's 32, got 20"),
                                             (32, "a multiple of the head size 8 below the model's 32, got 32"),
                                             (24, "equals the ELECTRA embedding size")])
def test_a_hidden_size_the_model_cannot_take_is_refused(electra, hidden, message):
    with pytest.raises(CompressError, match=message):
        check_width(load_classifier(electra), hidden)


def test_narrowing_gives_every_reader_and_writer_of_the_residual_stream_the_new_width(electra):
    model = load_classifier(electra)
    tokens = load_tokenizer(str(electra))(["a gripping film", "dull and long"], padding=True, return_tensors="pt")
    batch = {**tokens, "labels": torch.tensor([1, 0])}
    narrow(model, 16, magnitude(model).heads, [batch])
    assert head_counts(model) == [2, 2] and model.config.hidden_size == 16
    assert model.electra.embeddings_project.out_features == 16 and model.classifier.dense.in_features == 16
    for block in prunable_layers(model):
        assert block.query.in_features == block.ffn_in.in_features == block.ffn_out.out_features == 16
        assert block.attention_out.out_features == block.query.out_features == 16
    assert model(**tokens).logits.shape == (2, 2)


def test_width_pruning_cannot_be_combined_with_head_counts_or_hidden_state_matching(electra, tmp_path, capsys):
    base = ["prune", "--model", str(electra), "--hidden-size", "16", "-o", str(tmp_path / "out")]
    assert main([*base, "--head-ratio", "0.5"]) == 2
    assert "--hidden-size sets the heads too" in capsys.readouterr().err
    assert main([*base, "--distill", "--hidden-weight", "1"]) == 2
    assert "--hidden-weight compares hidden states" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
