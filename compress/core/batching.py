"""Tokenised examples and the order they are batched in: rows of similar length together, so dynamic padding
pads little. Plain Python and numpy, so that ONNX Runtime code batches the same way without importing torch."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from compress.core.data import LabelledText, LabelSpace

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


@dataclass
class Features:
    """Tokenised examples without padding, with their label ids (-1 for rows without a label)."""

    encodings: list[dict[str, list[int]]]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.labels)


def featurize(tokenizer, data: LabelledText, labels: LabelSpace, max_length: int) -> Features:
    enc = tokenizer(data.texts, data.pairs, truncation=True, max_length=max_length)
    keys = [k for k in MODEL_INPUTS if k in enc]
    rows = [{k: enc[k][i] for k in keys} for i in range(len(data))]
    return Features(rows, labels.encode(data) if data.labels else [-1] * len(data))


class LengthGroupedBatches:
    """Shuffled batches of similar-length rows; each pass reshuffles deterministically from the seed."""

    def __init__(self, lengths: list[int], batch_size: int, seed: int, shuffle: bool = True, group: bool = True):
        self.lengths, self.batch_size, self.seed = lengths, batch_size, seed
        self.shuffle, self.group = shuffle, group
        self.passes = 0

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        rng = random.Random(self.seed + self.passes)
        self.passes += 1
        order = list(range(len(self.lengths)))
        if self.shuffle:
            rng.shuffle(order)
        if self.group:
            chunk = self.batch_size * 64
            order = [i for s in range(0, len(order), chunk)
                     for i in sorted(order[s:s + chunk], key=lambda i: -self.lengths[i])]
        batches = [order[s:s + self.batch_size] for s in range(0, len(order), self.batch_size)]
        if self.shuffle:
            rng.shuffle(batches)
        yield from batches


def grouped(features: Features, batch_size: int, seed: int = 0, shuffle: bool = False,
            group: bool = True) -> LengthGroupedBatches:
    return LengthGroupedBatches([len(r["input_ids"]) for r in features.encodings], batch_size, seed, shuffle, group)


def pad_batch(features: Features, positions: list[int], pad_id: int) -> dict[str, np.ndarray]:
    """Rows `positions` padded to their own longest row, with their label ids and positions (`idx`), as int64."""
    rows = [features.encodings[i] for i in positions]
    width = max(len(r["input_ids"]) for r in rows)
    batch = {}
    for key in rows[0]:
        fill = pad_id if key == "input_ids" else 0
        batch[key] = np.array([r[key] + [fill] * (width - len(r[key])) for r in rows], dtype=np.int64)
    batch["labels"] = np.array([features.labels[i] for i in positions], dtype=np.int64)
    batch["idx"] = np.array(positions, dtype=np.int64)
    return batch


def batches(features: Features, pad_id: int, batch_size: int) -> Iterator[dict[str, np.ndarray]]:
    """Every row once, in length-sorted padded batches; `idx` puts each result back in row order."""
    for positions in grouped(features, batch_size):
        yield pad_batch(features, positions, pad_id)
