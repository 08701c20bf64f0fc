"""Vocabulary pruning: the training text's tokens and logits are unchanged, other text still tokenizes."""

import json

import pytest
import torch

from compress.core.data import load_split
from compress.core.errors import CompressError
from compress.core.models import load_classifier, load_tokenizer
from compress.core.vocabulary import kept_ids, shrink_vocabulary
from tests.tiny_tokenizers import byte_level_bpe, unigram

RARE = "Ça coûte 5€ — naïve zygomorphic ☃ 日本"


@pytest.fixture(scope="module")
def texts():
    return load_split("sst2", "train").sample(300, seed=1).texts


def logits(model, tokenizer, texts):
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        return model(**batch).logits


def test_training_text_gives_the_same_logits_with_a_fraction_of_the_vocabulary(tiny_bert, texts):
    model, tokenizer = load_classifier(tiny_bert).eval(), load_tokenizer(str(tiny_bert))
    before = logits(model, tokenizer, texts)
    old_size = model.get_input_embeddings().num_embeddings
    smaller = shrink_vocabulary(model, tokenizer, texts)
    assert len(smaller) == model.config.vocab_size == model.get_input_embeddings().num_embeddings
    assert len(smaller) < old_size / 2
    torch.testing.assert_close(logits(model, smaller, texts), before, rtol=0, atol=1e-5)
    assert smaller.convert_ids_to_tokens([smaller.cls_token_id, smaller.pad_token_id]) == ["[CLS]", "[PAD]"]
    assert model.get_input_embeddings().padding_idx == smaller.pad_token_id


def test_unseen_words_split_into_kept_pieces_instead_of_unknown(tiny_bert, texts):
    model, tokenizer = load_classifier(tiny_bert), load_tokenizer(str(tiny_bert))
    word = "zygomorphic"
    assert not any(word in t for t in texts)
    smaller = shrink_vocabulary(model, tokenizer, texts)
    pieces = smaller.tokenize(word)
    assert "".join(p.removeprefix("##") for p in pieces) == word
    assert smaller.unk_token not in pieces


def test_kept_ids_cover_the_text_the_specials_and_single_characters(tiny_bert):
    tokenizer = load_tokenizer(str(tiny_bert))
    keep = set(kept_ids(tokenizer, ["unforgettable film"]))
    assert set(tokenizer("unforgettable film")["input_ids"]) <= keep
    assert tokenizer.convert_tokens_to_ids("##q") in keep and tokenizer.convert_tokens_to_ids("q") in keep
    assert tokenizer.convert_tokens_to_ids("banana") not in keep


def test_a_bpe_without_byte_level_pre_tokenization_is_refused(tiny_bert):
    from tokenizers import Tokenizer
    from tokenizers.models import BPE
    from transformers import PreTrainedTokenizerFast

    bpe = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(BPE(vocab={"a": 0, "b": 1}, merges=[])))
    with pytest.raises(CompressError, match="WordPiece.*BPE without byte-level"):
        shrink_vocabulary(load_classifier(tiny_bert), bpe, ["ab"])


@pytest.mark.parametrize("kind", ["WordLevel", "not a fast tokenizer"])
def test_an_unsupported_tokenizer_kind_is_refused_naming_the_supported_ones(tiny_bert, kind):
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from transformers import BertTokenizer, PreTrainedTokenizerFast

    tokenizer = (PreTrainedTokenizerFast(tokenizer_object=Tokenizer(WordLevel({"[UNK]": 0, "good": 1}, "[UNK]")))
                 if kind == "WordLevel" else BertTokenizer.from_pretrained(tiny_bert))
    if tokenizer.is_fast and kind != "WordLevel":
        pytest.skip("transformers 5's BertTokenizer is itself a fast (tokenizers) one: no slow tokenizer to refuse")
    with pytest.raises(CompressError, match="WordPiece, byte-level BPE and SentencePiece Unigram") as refused:
        shrink_vocabulary(load_classifier(tiny_bert), tokenizer, ["good"])
    assert kind in str(refused.value) and "\n" not in str(refused.value)


@pytest.fixture(scope="module")
def bpe_dir(tmp_path_factory, data_dir):
    return byte_level_bpe(tmp_path_factory.mktemp("bpe"), load_split("sst2", "train").texts[:3000], vocab_size=2000)


@pytest.fixture(scope="module")
def unigram_dir(tmp_path_factory, data_dir):
    return unigram(tmp_path_factory.mktemp("unigram"), load_split("sst2", "train").texts[:3000], vocab_size=2000)


def tiny_classifier(tokenizer):
    """A tiny random XLM-RoBERTa for an XLM-RoBERTa tokenizer, else a tiny random RoBERTa; in eval mode."""
    from transformers import (
        RobertaConfig,
        RobertaForSequenceClassification,
        XLMRobertaConfig,
        XLMRobertaForSequenceClassification,
    )

    xlm = type(tokenizer).__name__.startswith("XLMRoberta")
    config_class, model_class = ((XLMRobertaConfig, XLMRobertaForSequenceClassification) if xlm
                                 else (RobertaConfig, RobertaForSequenceClassification))
    torch.manual_seed(0)
    config = config_class(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                          intermediate_size=64, pad_token_id=1, max_position_embeddings=130)
    return model_class(config).eval()


@pytest.fixture(params=["bpe", "unigram"])
def roberta_style(request):
    """A tiny random RoBERTa with a byte-level BPE, or XLM-RoBERTa with a Unigram, and that tokenizer."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(request.getfixturevalue(f"{request.param}_dir"))
    return tiny_classifier(tokenizer), tokenizer


def test_bpe_and_unigram_texts_keep_their_ids_and_logits_with_a_smaller_vocabulary(roberta_style, texts):
    model, tokenizer = roberta_style
    before, old_ids = logits(model, tokenizer, texts), tokenizer(texts)["input_ids"]
    smaller = shrink_vocabulary(model, tokenizer, texts)
    assert len(smaller) == model.config.vocab_size == model.get_input_embeddings().num_embeddings
    assert len(smaller) < 0.9 * len(tokenizer)
    for old, new in zip(old_ids, smaller(texts)["input_ids"]):
        assert smaller.convert_ids_to_tokens(new) == tokenizer.convert_ids_to_tokens(old)
    vocab = smaller.get_vocab()
    assert sorted(vocab, key=vocab.get) == sorted(vocab, key=tokenizer.get_vocab().get)
    # RoBERTa numbers positions from the pad id: equal logits on padded batches show it is still right.
    assert model.base_model.embeddings.padding_idx == smaller.pad_token_id == model.config.pad_token_id
    assert torch.allclose(logits(model, smaller, texts), before, atol=1e-5)


def test_pruned_bpe_and_unigram_models_reload_from_disk_with_the_same_logits(roberta_style, texts, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model, tokenizer = roberta_style
    smaller = shrink_vocabulary(model, tokenizer, texts)
    model.save_pretrained(tmp_path)
    smaller.save_pretrained(tmp_path)
    reloaded, reloaded_tokenizer = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval(), \
        AutoTokenizer.from_pretrained(tmp_path)
    assert type(reloaded_tokenizer) is type(smaller)
    assert reloaded_tokenizer(texts + [RARE])["input_ids"] == smaller(texts + [RARE])["input_ids"]
    assert torch.allclose(logits(reloaded, reloaded_tokenizer, texts), logits(model, smaller, texts), atol=1e-5)


def test_unseen_rare_characters_split_into_kept_bytes_of_a_bpe_without_unknown(bpe_dir, texts):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(bpe_dir)
    smaller = shrink_vocabulary(tiny_classifier(tokenizer), tokenizer, texts)
    ids = smaller(RARE, add_special_tokens=False)["input_ids"]
    assert smaller.unk_token_id not in ids
    assert smaller.decode(ids) == RARE


def test_unseen_rare_characters_still_segment_with_a_pruned_unigram(unigram_dir, texts):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(unigram_dir)
    smaller = shrink_vocabulary(tiny_classifier(tokenizer), tokenizer, texts)
    # Characters the original vocabulary lacked stay unknown; pruning adds no new unknowns.
    unknowns = [tokenizer(RARE)["input_ids"].count(tokenizer.unk_token_id),
                smaller(RARE)["input_ids"].count(smaller.unk_token_id)]
    assert unknowns[0] == unknowns[1]
    assert "".join(smaller.tokenize(RARE)) == "".join(tokenizer.tokenize(RARE))


def test_kept_ids_of_a_bpe_include_both_parts_of_every_merge_that_makes_a_kept_token(bpe_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(bpe_dir)
    keep = set(tokenizer.convert_ids_to_tokens(kept_ids(tokenizer, ["an unforgettable film"])))
    merges = json.loads(tokenizer.backend_tokenizer.to_str())["model"]["merges"]
    assert set(tokenizer.tokenize("an unforgettable film")) <= keep
    assert all({left, right} <= keep for left, right in merges if left + right in keep)
    assert any(left + right in keep and len(left + right) > 2 for left, right in merges)


def test_a_roberta_pad_id_above_unused_pieces_keeps_its_number_so_positions_do_not_shift(bpe_dir, texts):
    from transformers import AutoTokenizer, RobertaConfig, RobertaForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(bpe_dir)
    few = texts[:5]
    unused = sorted(set(range(len(tokenizer))) - set(kept_ids(tokenizer, few)))[1]  # another unused one below
    torch.manual_seed(0)
    # Positions run from the pad id + 1, so the table must reach past it.
    model = RobertaForSequenceClassification(RobertaConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        pad_token_id=unused, max_position_embeddings=unused + 130)).eval()
    before = [logits(model, tokenizer, [text]) for text in few]
    smaller = shrink_vocabulary(model, tokenizer, few)
    assert model.base_model.embeddings.padding_idx == model.config.pad_token_id == unused < len(smaller)
    for text, expected in zip(few, before):
        assert torch.allclose(logits(model, smaller, [text]), expected, atol=1e-5)
