"""Tiny random-weight classifiers of every supported architecture, built from their transformers config classes
(no downloads), each saved with a tokenizer of its own kind: the bundled MiniLM WordPiece for BERT, DistilBERT and
ELECTRA, a byte-level BPE for RoBERTa and a SentencePiece Unigram for XLM-RoBERTa, both trained here on SST-2."""

from __future__ import annotations

from pathlib import Path

ARCHITECTURES = ("bert", "distilbert", "roberta", "xlm-roberta", "electra")
SIZE = dict(hidden=32, layers=2, heads=4, ffn=64)


def _config(kind: str, vocab_size: int, pad_id: int, labels: dict[int, str]):
    from transformers import BertConfig, DistilBertConfig, ElectraConfig, RobertaConfig, XLMRobertaConfig

    head = dict(num_labels=len(labels), id2label=labels, label2id={v: k for k, v in labels.items()})
    if kind == "distilbert":
        return DistilBertConfig(vocab_size=vocab_size, dim=SIZE["hidden"], n_layers=SIZE["layers"],
                                n_heads=SIZE["heads"], hidden_dim=SIZE["ffn"], max_position_embeddings=130,
                                pad_token_id=pad_id, **head)
    common = dict(vocab_size=vocab_size, hidden_size=SIZE["hidden"], num_hidden_layers=SIZE["layers"],
                  num_attention_heads=SIZE["heads"], intermediate_size=SIZE["ffn"], pad_token_id=pad_id, **head)
    if kind == "electra":  # a narrower embedding than the hidden size, as ELECTRA's small models have
        return ElectraConfig(embedding_size=24, max_position_embeddings=130, **common)
    if kind in ("roberta", "xlm-roberta"):
        cls = RobertaConfig if kind == "roberta" else XLMRobertaConfig
        return cls(type_vocab_size=1, max_position_embeddings=130 + pad_id + 1, **common)
    return BertConfig(max_position_embeddings=130, **common)


def tokenizer_for(kind: str, directory: Path):
    """A tokenizer of the kind `kind`'s checkpoints ship with, saved in `directory`."""
    from compress.core.data import load_split
    from compress.core.models import load_tokenizer, resolve_model
    from tests.tiny_tokenizers import byte_level_bpe, unigram

    if kind in ("roberta", "xlm-roberta"):
        texts = load_split("sst2", "train").texts[:3000]
        (byte_level_bpe if kind == "roberta" else unigram)(directory, texts)
    else:
        load_tokenizer(resolve_model("default")).save_pretrained(directory)
    return load_tokenizer(str(directory))


def tiny_classifier(kind: str, directory: Path, labels: dict[int, str], seed: int = 0) -> Path:
    """A randomly initialised `kind` classifier with `labels`, and its tokenizer, saved in `directory`."""
    import torch
    from transformers import AutoModelForSequenceClassification

    tokenizer = tokenizer_for(kind, directory)
    torch.manual_seed(seed)
    config = _config(kind, len(tokenizer), tokenizer.pad_token_id, labels)
    AutoModelForSequenceClassification.from_config(config).save_pretrained(directory)
    return directory
