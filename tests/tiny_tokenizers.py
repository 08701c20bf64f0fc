"""Small real tokenizers of the RoBERTa and XLM-RoBERTa kinds, trained offline on the given texts.

The default model is a BERT, so its WordPiece tokenizer is the only one on disk; tests of the other
kinds train these in a second instead of downloading a large one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence


def byte_level_bpe(directory: Path, texts: Sequence[str], vocab_size: int = 800) -> Path:
    """A RoBERTa-style byte-level BPE: `<s> <pad> </s> <unk> <mask>` are ids 0..4, RobertaProcessing adds them."""
    from tokenizers import ByteLevelBPETokenizer, Tokenizer
    from tokenizers.processors import RobertaProcessing
    from transformers import RobertaTokenizerFast

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    trained = ByteLevelBPETokenizer()
    trained.train_from_iterator(texts, vocab_size=vocab_size, special_tokens=specials, show_progress=False)
    trained.post_processor = RobertaProcessing(("</s>", 2), ("<s>", 0))
    RobertaTokenizerFast(tokenizer_object=Tokenizer.from_str(trained.to_str())).save_pretrained(directory)
    return directory


def unigram(directory: Path, texts: Sequence[str], vocab_size: int = 800) -> Path:
    """An XLM-RoBERTa-style SentencePiece Unigram: `<s> <pad> </s> <unk>` are ids 0..3 and `<mask>` the last."""
    from tokenizers import SentencePieceUnigramTokenizer, Tokenizer
    from tokenizers.processors import TemplateProcessing
    from transformers import XLMRobertaTokenizerFast

    trained = SentencePieceUnigramTokenizer()
    trained.train_from_iterator(texts, vocab_size=vocab_size, special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
                                unk_token="<unk>", show_progress=False)
    trained.add_special_tokens(["<mask>"])
    trained.post_processor = TemplateProcessing(single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
                                                special_tokens=[("<s>", 0), ("</s>", 2)])
    XLMRobertaTokenizerFast(tokenizer_object=Tokenizer.from_str(trained.to_str())).save_pretrained(directory)
    return directory
