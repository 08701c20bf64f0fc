"""Vocabulary pruning: the training text's tokens and logits are unchanged, other text still tokenizes."""

import pytest
import torch

from compress.data import load_split
from compress.errors import CompressError
from compress.models import load_classifier, load_tokenizer
from compress.vocabulary import kept_ids, shrink_vocabulary


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


def test_a_tokenizer_that_is_not_wordpiece_is_refused(tiny_bert):
    from tokenizers import Tokenizer
    from tokenizers.models import BPE
    from transformers import PreTrainedTokenizerFast

    bpe = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(BPE(vocab={"a": 0, "b": 1}, merges=[])))
    with pytest.raises(CompressError, match="WordPiece"):
        shrink_vocabulary(load_classifier(tiny_bert), bpe, ["ab"])
