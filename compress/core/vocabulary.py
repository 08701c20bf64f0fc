"""Vocabulary pruning: keep only the pieces a task's text uses, and their embedding rows.

The word-embedding table is the largest single matrix of a small BERT (MiniLM-L6: 30,522 x 384, more
than half of all its parameters), and a fine-tuned classifier only ever looks up the pieces its data
produces; TextPruner (Yang et al., 2022) removes the rest. Three kinds of fast tokenizer are handled,
each kept so that the task's text tokenizes exactly as before (checked after every shrink) and new text
still splits into kept pieces:

- WordPiece (BERT) matches greedily, longest piece first, so dropping pieces the text never produced
  leaves its tokenization unchanged; every single-character piece stays, so new words avoid [UNK].
- Byte-level BPE (RoBERTa, GPT-2) keeps the whole byte alphabet and every merge that builds a kept token
  (see `_with_merge_parts`).
- SentencePiece Unigram (XLM-RoBERTa) picks the best-scoring segmentation; the text's pieces keep their
  scores, so it stays the best once rivals are gone, and single characters keep new text segmentable.

The pruned tokenizer is rebuilt from the fast tokenizer's own JSON with its ids renumbered, so its
normalizer, pre-tokenizer, post-processor and special tokens are the original ones. Written here because
transformers only resizes embeddings (`resize_token_embeddings` truncates or appends rows, it cannot select
them) and Optimum has no vocabulary pruning.
"""

from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Iterable, Sequence

import torch

from compress.core.errors import CompressError

_SUPPORTED = "WordPiece, byte-level BPE and SentencePiece Unigram"


def _spec(tokenizer) -> dict:
    """The fast tokenizer's JSON, after checking that its model is a kind pruning keeps exact."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    spec = json.loads(backend.to_str()) if backend is not None else {}
    kind = spec.get("model", {}).get("type") or f"{type(tokenizer).__name__} (not a fast tokenizer)"
    pre = spec.get("pre_tokenizer") or {}
    # Without byte-level pre-tokenization a BPE has no alphabet that covers every text.
    if kind == "BPE" and not any(p.get("type") == "ByteLevel" for p in [pre, *pre.get("pretokenizers", [])]):
        kind = "BPE without byte-level pre-tokenization"
    if kind not in ("WordPiece", "BPE", "Unigram"):
        raise CompressError(f"vocabulary pruning supports {_SUPPORTED} tokenizers; this model's tokenizer is {kind}")
    vocab = tokenizer.get_vocab()
    if sorted(vocab.values()) != list(range(len(vocab))):
        raise CompressError("the tokenizer's vocabulary ids are not contiguous; cannot prune it safely")
    return spec


def kept_ids(tokenizer, texts: Iterable[str], max_length: int | None = None, batch: int = 4096) -> list[int]:
    """Ids of the pieces `texts` use, the special tokens, every single-character piece and, for BPE, every
    piece a kept token is merged from; ascending."""
    return _kept(tokenizer, _spec(tokenizer), texts, max_length, batch)


def _kept(tokenizer, spec: dict, texts: Iterable[str], max_length: int | None = None,
          batch: int = 4096) -> list[int]:
    prefix = spec["model"].get("continuing_subword_prefix") or ""
    vocab = tokenizer.get_vocab()
    keep = set(tokenizer.all_special_ids)
    keep.update(i for token, i in vocab.items() if len(token.removeprefix(prefix)) == 1)
    texts = list(texts)
    for start in range(0, len(texts), batch):
        encoded = tokenizer(texts[start:start + batch], truncation=max_length is not None, max_length=max_length,
                            add_special_tokens=False)
        for ids in encoded["input_ids"]:
            keep.update(ids)
    if spec["model"]["type"] == "BPE":
        keep = _with_merge_parts(spec["model"]["merges"], vocab, keep)
    return sorted(keep)


def _with_merge_parts(merges: list[list[str]], vocab: dict[str, int], keep: set[int]) -> set[int]:
    """`keep` closed under BPE merges: both parts of every merge whose result is kept.

    Every merge BPE applied to the text then survives (its parts and result are kept) and keeps its rank
    order, and the dropped merges were never the lowest-ranked pair at any step, so the text merges exactly
    as before. Other text stops at smaller pieces, all kept (bytes or results of kept merges): no unknowns.
    """
    parts = defaultdict(list)
    for left, right in merges:
        parts[left + right].append((left, right))
    tokens = {i: token for token, i in vocab.items()}
    todo = [tokens[i] for i in keep]
    seen = set(todo)
    while todo:
        for pair in parts[todo.pop()]:
            new = set(pair) - seen
            seen |= new
            todo.extend(new)
    return {vocab[token] for token in seen}


def shrink_vocabulary(model: torch.nn.Module, tokenizer, texts: Sequence[str]):
    """Cut `model`'s word embeddings (in place) and `tokenizer` down to the pieces `texts` need (for pair
    tasks, give both sides' texts). Returns the new tokenizer; raises if it would split `texts` differently.
    """
    from transformers import AutoTokenizer

    flat = list(texts)
    spec = _spec(tokenizer)
    size = len(tokenizer.get_vocab())
    embeddings = model.get_input_embeddings()
    if embeddings.num_embeddings != size:
        raise CompressError(f"the model has {embeddings.num_embeddings} word embeddings but its tokenizer "
                            f"{size} pieces; cannot prune a vocabulary they do not share")
    config_ids = ("pad_token_id", "bos_token_id", "eos_token_id")
    pinned = {getattr(model.config, name, None) for name in config_ids} - {None}
    # RoBERTa numbers positions from its pad id (the embeddings' padding_idx), so that id must not move: the
    # ids below it stay (in RoBERTa and XLM-R only <s>). The config's special ids keep their rows too.
    floor = getattr(getattr(model.base_model, "embeddings", None), "padding_idx", None)
    pinned.update(range(floor + 1) if floor is not None else ())
    keep = sorted({*_kept(tokenizer, spec, flat), *(i for i in pinned if i < size)})
    position = {old_id: new_id for new_id, old_id in enumerate(keep)}

    smaller = torch.nn.Embedding(len(keep), embeddings.embedding_dim, padding_idx=position.get(embeddings.padding_idx))
    smaller.weight.data = embeddings.weight.data[torch.tensor(keep)].clone()
    model.set_input_embeddings(smaller)
    model.config.vocab_size = len(keep)
    for name in config_ids:
        if getattr(model.config, name, None) is not None:
            setattr(model.config, name, position.get(getattr(model.config, name)))

    _renumber(spec, position)
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer.save_pretrained(tmp)
        # The slow vocabulary files (vocab.txt, vocab.json + merges.txt, sentencepiece models) would
        # override or contradict the rewritten tokenizer.json, so the new tokenizer is built from it alone.
        for name in {*tokenizer.vocab_files_names.values(), "added_tokens.json"}:
            (Path(tmp) / name).unlink(missing_ok=True)
        (Path(tmp) / "tokenizer.json").write_text(json.dumps(spec, ensure_ascii=False))
        _renumber_special_tokens(Path(tmp) / "tokenizer_config.json", position)
        smaller_tokenizer = AutoTokenizer.from_pretrained(tmp, use_fast=True, trust_remote_code=False)
    _check_same_split(tokenizer, smaller_tokenizer, position, flat)
    return smaller_tokenizer


def _renumber(spec: dict, position: dict[int, int]) -> None:
    """Keep only the kept pieces in the tokenizer JSON and move every id it stores to the new numbering."""
    model = spec["model"]
    if model["type"] == "Unigram":
        model["vocab"] = [piece for i, piece in enumerate(model["vocab"]) if i in position]
        model["unk_id"] = position.get(model["unk_id"])
    else:
        model["vocab"] = {token: position[i] for token, i in model["vocab"].items() if i in position}
    if model["type"] == "BPE":
        # In their original order: BPE applies merges by rank.
        model["merges"] = [[left, right] for left, right in model["merges"]
                           if {left, right, left + right} <= model["vocab"].keys()]
    spec["added_tokens"] = [{**token, "id": position[token["id"]]} for token in spec["added_tokens"]
                            if token["id"] in position]
    if spec.get("padding"):
        spec["padding"]["pad_id"] = position[spec["padding"]["pad_id"]]
    _renumber_processor(spec.get("post_processor"), position)


def _renumber_processor(processor: dict | None, position: dict[int, int]) -> None:
    """The post-processor adds special tokens by id: [token, id] pairs (BERT/RoBERTa processing), id lists
    (templates), or nested processors (a sequence)."""
    if not processor:
        return
    for inner in processor.get("processors", []):
        _renumber_processor(inner, position)
    for key in ("sep", "cls"):
        if key in processor:
            processor[key][1] = position[processor[key][1]]
    for special in processor.get("special_tokens", {}).values():
        special["ids"] = [position[i] for i in special["ids"]]


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
            kind = type(old.backend_tokenizer.model).__name__
            raise CompressError(f"vocabulary pruning changed how {text[:60]!r} is tokenized; this {kind} tokenizer "
                                "does not split text the way pruning assumes")
