"""Vocabulary pruning: keep only the word pieces a task's text uses, and their embedding rows.

The word-embedding table is the largest single matrix of a small BERT (MiniLM-L6: 30,522 x 384, more
than half of all its parameters), and a fine-tuned classifier only ever looks up the pieces its data
produces; TextPruner (Yang et al., 2022) removes the rest. WordPiece tokenizes greedily, longest
match first, so removing pieces the training text never produced leaves that text's tokenization
unchanged (checked after every shrink). Every single-character piece stays, so new words still split
into known pieces instead of becoming [UNK].

Written here because transformers only resizes embeddings (`resize_token_embeddings` truncates or
appends rows, it cannot select them) and Optimum has no vocabulary pruning.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Iterable, Sequence

import torch

from compress.errors import CompressError

# Tokenizer files that hold the vocabulary; all are rewritten from the new vocab.txt.
_VOCAB_FILES = ("tokenizer.json", "vocab.txt")


def _wordpiece_vocab(tokenizer) -> list[str]:
    model = getattr(getattr(tokenizer, "backend_tokenizer", None), "model", None)
    if type(model).__name__ != "WordPiece":
        kind = type(model).__name__ if model is not None else type(tokenizer).__name__
        raise CompressError(f"vocabulary pruning supports WordPiece tokenizers (the BERT family); this model's "
                            f"tokenizer is {kind}")
    vocab = tokenizer.get_vocab()
    if sorted(vocab.values()) != list(range(len(vocab))):
        raise CompressError("the tokenizer's vocabulary ids are not contiguous; cannot prune it safely")
    return [token for token, _ in sorted(vocab.items(), key=lambda item: item[1])]


def kept_ids(tokenizer, texts: Iterable[str], max_length: int | None = None, batch: int = 4096) -> list[int]:
    """Ids of the pieces `texts` use, the special tokens and every single-character piece, ascending."""
    return _kept(tokenizer, _wordpiece_vocab(tokenizer), texts, max_length, batch)


def _kept(tokenizer, vocab: list[str], texts: Iterable[str], max_length: int | None = None,
          batch: int = 4096) -> list[int]:
    prefix = tokenizer.backend_tokenizer.model.continuing_subword_prefix
    keep = set(tokenizer.all_special_ids)
    keep.update(i for i, token in enumerate(vocab)
                if len(token) == 1 or (token.startswith(prefix) and len(token) == len(prefix) + 1))
    texts = list(texts)
    for start in range(0, len(texts), batch):
        encoded = tokenizer(texts[start:start + batch], truncation=max_length is not None, max_length=max_length,
                            add_special_tokens=False)
        for ids in encoded["input_ids"]:
            keep.update(ids)
    return sorted(keep)


def shrink_vocabulary(model: torch.nn.Module, tokenizer, texts: Sequence[str]):
    """Cut `model`'s word embeddings (in place) and `tokenizer` down to the pieces `texts` need (for pair
    tasks, give both sides' texts). Returns the new tokenizer; raises if it would split `texts` differently.
    """
    from transformers import AutoTokenizer

    flat = list(texts)
    vocab = _wordpiece_vocab(tokenizer)
    keep = _kept(tokenizer, vocab, flat)
    position = {old_id: new_id for new_id, old_id in enumerate(keep)}
    embeddings = model.get_input_embeddings()
    if embeddings.num_embeddings != len(vocab):
        raise CompressError(f"the model has {embeddings.num_embeddings} word embeddings but its tokenizer "
                            f"{len(vocab)} pieces; cannot prune a vocabulary they do not share")
    index = torch.tensor(keep)
    pad = embeddings.padding_idx
    smaller = torch.nn.Embedding(len(keep), embeddings.embedding_dim,
                                 padding_idx=keep.index(pad) if pad is not None and pad in keep else None)
    smaller.weight.data = embeddings.weight.data[index].clone()
    model.set_input_embeddings(smaller)
    model.config.vocab_size = len(keep)

    with tempfile.TemporaryDirectory() as tmp:
        tokenizer.save_pretrained(tmp)
        for name in _VOCAB_FILES:
            (Path(tmp) / name).unlink(missing_ok=True)
        (Path(tmp) / "vocab.txt").write_text("".join(vocab[i] + "\n" for i in keep))
        _renumber_special_tokens(Path(tmp) / "tokenizer_config.json", position)
        # Without tokenizer.json the fast tokenizer is rebuilt from vocab.txt with the saved settings
        # (lower-casing, accent stripping, special tokens), so only the vocabulary changes.
        smaller_tokenizer = AutoTokenizer.from_pretrained(tmp, use_fast=True, trust_remote_code=False)
    _check_same_split(tokenizer, smaller_tokenizer, position, flat)
    return smaller_tokenizer


def _renumber_special_tokens(config_file: Path, position: dict[int, int]) -> None:
    """tokenizer_config.json pins special tokens to their old ids; move them to the new ones."""
    if not config_file.exists():
        return
    config = json.loads(config_file.read_text())
    decoder = config.get("added_tokens_decoder", {})
    config["added_tokens_decoder"] = {str(position[int(i)]): token for i, token in decoder.items()
                                      if int(i) in position}
    config_file.write_text(json.dumps(config, indent=2))


def _check_same_split(old, new, position: dict[int, int], texts: list[str], sample: int = 2000) -> None:
    """The pruned tokenizer must give the kept texts exactly the old pieces, renumbered."""
    step = max(1, len(texts) // sample)
    chosen = texts[::step]
    before = old(chosen, add_special_tokens=True)["input_ids"]
    after = new(chosen, add_special_tokens=True)["input_ids"]
    for text, a, b in zip(chosen, before, after):
        if [position[i] for i in a] != b:
            raise CompressError(f"vocabulary pruning changed how {text[:60]!r} is tokenized; the tokenizer is not "
                                "a plain greedy WordPiece one")
