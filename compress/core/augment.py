"""Training-data augmentation for distillation: unlabelled text and perturbed copies of each row, labelled by a
teacher.

Shared by distil (the student's training) and prune (recovery): a small student imitates its teacher
better on more inputs than the task's own rows (TinyBERT), and on SST-2 one augmented copy per sentence
added 0.34 point to the 3-layer student.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from compress.core.config import Settings, option
from compress.core.data import Columns, LabelledText, read_texts
from compress.core.errors import CompressError


@dataclass
class AugmentConfig(Settings):
    """The augmentation settings of the stages that distil."""

    augment: int = option(0, "copies of each training example with some words masked or replaced, labelled by the "
                             "teacher (0: off)", interval="[0, inf)")
    augment_fraction: float = option(0.15, "fraction of the words replaced in each augmented copy (at least one)",
                                     interval="(0, 1]")
    unlabelled: list[str] = option([], "files of text to train on as well, labelled by the teacher; held-out rows "
                                       "skipped")


def with_unlabelled(config: AugmentConfig, data: LabelledText, columns: Columns,
                    held_out: Sequence[LabelledText]) -> tuple[LabelledText, int]:
    """`data` followed by the rows of `config.unlabelled` (read with `columns`' text settings) that are not in
    `held_out`, and how many were left out for being there.

    Held-out rows (validation, test) are dropped by their whitespace- and case-folded text: a student trained on
    the teacher's predictions for them would be chosen and reported on inputs it has seen. The new rows carry
    the first training label only so they can be encoded; `teacher_labelled` then gives them the teacher's.
    """
    if not config.unlabelled:
        return data, 0
    seen = {_row_key(role, i) for role in held_out for i in range(len(role))}
    texts, pairs, ids, dropped = [], [], [], 0
    for source in config.unlabelled:
        rows = read_texts(source, Columns(columns.text, columns.text_pair))
        if (rows.pairs is None) != (data.pairs is None):
            raise CompressError(f"{rows.origin}: {'pairs of texts' if rows.pairs else 'single texts'}, where the "
                                f"task has {'pairs' if data.pairs else 'single texts'} (--text-pair-column)")
        keep = [i for i in range(len(rows)) if _row_key(rows, i) not in seen]
        dropped += len(rows) - len(keep)
        texts += [rows.texts[i] for i in keep]
        pairs += [rows.pairs[i] for i in keep] if rows.pairs is not None else []
        ids += [rows.ids[i] for i in keep]
    return LabelledText(data.texts + texts, data.pairs + pairs if data.pairs is not None else None,
                        data.labels + data.labels[:1] * len(texts), data.names,
                        f"{data.origin}+{len(texts)} unlabelled", data.ids + ids), dropped


def _row_key(data: LabelledText, i: int) -> tuple[str, str]:
    def fold(text: str) -> str:
        return " ".join(text.lower().split())

    return fold(data.texts[i]), fold(data.pairs[i]) if data.pairs is not None else ""


def augmented(data: LabelledText, copies: int, fraction: float, vocabulary: Sequence[str], mask_token: str,
              seed: int) -> LabelledText:
    """`data` followed by `copies` perturbed versions of each row, in row order (TinyBERT-style, without its MLM).

    Each copy replaces round(fraction * words), at least one, of its words, each by `mask_token` or
    a random vocabulary word with equal chance. The copies keep their source's label only so the
    rows can be encoded; `teacher_labelled` then gives them the teacher's predictions.
    """
    rng = random.Random(seed)

    def perturb(text: str) -> str:
        words = text.split()
        if not words:
            return text
        for i in rng.sample(range(len(words)), max(1, round(fraction * len(words)))):
            words[i] = mask_token if rng.random() < 0.5 else rng.choice(vocabulary)
        return " ".join(words)

    sources = [i for i in range(len(data)) for _ in range(copies)]
    texts = [perturb(data.texts[i]) for i in sources]
    pairs = data.pairs + [perturb(data.pairs[i]) for i in sources] if data.pairs is not None else None
    return LabelledText(data.texts + texts, pairs, data.labels + [data.labels[i] for i in sources], data.names,
                        f"{data.origin}+{copies}x augmented")


def augment_for(config: AugmentConfig, data: LabelledText, tokenizer, seed: int) -> LabelledText:
    """`data` with `config.augment` copies per row drawn from `tokenizer`'s words, or `data` itself when off."""
    if not config.augment:
        return data
    return augmented(data, config.augment, config.augment_fraction, word_vocabulary(tokenizer), tokenizer.mask_token,
                     seed)


@dataclass
class TrainingRows:
    """What a distilling stage trains on: the task's own rows first, then unlabelled text, then augmented copies."""

    data: LabelledText
    originals: int
    unlabelled: int = 0
    held_out: int = 0  # unlabelled rows left out for being validation or test rows

    def counts(self) -> dict[str, int]:
        """The row counts metrics.json records."""
        return {"train_examples": self.originals, "unlabelled_examples": self.unlabelled,
                "unlabelled_held_out": self.held_out,
                "augmented_examples": len(self.data) - self.originals - self.unlabelled}


def training_rows(config: AugmentConfig, data: LabelledText, columns: Columns, held_out: Sequence[LabelledText],
                  tokenizer, seed: int) -> TrainingRows:
    """`data` with `config`'s unlabelled text (less `held_out` rows) and augmented copies of both."""
    extended, dropped = with_unlabelled(config, data, columns, held_out)
    return TrainingRows(augment_for(config, extended, tokenizer, seed), len(data), len(extended) - len(data), dropped)


def teacher_labelled(labels: list[int], teacher_logits: np.ndarray, originals: int) -> None:
    """Give the unlabelled and augmented rows (after the first `originals`) the teacher's prediction: they have no
    true label."""
    labels[originals:] = teacher_logits[originals:].argmax(-1).tolist()


def word_vocabulary(tokenizer) -> list[str]:
    """Whole alphabetic words of the tokenizer's vocabulary (no ##pieces, specials or punctuation), in id order."""
    return [token for token, _ in sorted(tokenizer.get_vocab().items(), key=lambda item: item[1]) if token.isalpha()]
