"""Seeded text perturbations, each changing a stated fraction of characters or words.

- typos: that fraction of the non-space characters is swapped with its neighbour, deleted,
  duplicated or replaced by a nearby letter (one edit per chosen character);
- word_dropout: that fraction of words is removed (at least one word always stays);
- case: that fraction of words has its case flipped (upper <-> lower). An uncased model should be
  immune; a cased one shows how much it leans on capitalisation.
The same seed, text and rate always give the same output, so baseline and compressed variants are
scored on identical noisy text.
"""

from __future__ import annotations

import random
import string
from dataclasses import replace
from typing import Callable

from compress.core.data import LabelledText

PERTURBATIONS: dict[str, Callable[[str, float, random.Random], str]] = {}


def perturbation(name: str):
    def register(fn):
        PERTURBATIONS[name] = fn
        return fn
    return register


def _chosen(n: int, rate: float, rng: random.Random) -> set[int]:
    """Exactly round(rate * n) distinct positions (at least one when rate > 0 and n > 0)."""
    k = min(n, max(1 if rate > 0 and n else 0, round(rate * n)))
    return set(rng.sample(range(n), k))


@perturbation("typos")
def typos(text: str, rate: float, rng: random.Random) -> str:
    chars = list(text)
    positions = [i for i, c in enumerate(chars) if not c.isspace()]
    for pick in sorted(_chosen(len(positions), rate, rng), reverse=True):
        i = positions[pick]
        kind = rng.choice(("swap", "delete", "duplicate", "replace"))
        if kind == "swap" and i + 1 < len(chars) and not chars[i + 1].isspace():
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        elif kind == "delete":
            del chars[i]
        elif kind == "duplicate":
            chars.insert(i, chars[i])
        else:
            chars[i] = rng.choice([c for c in string.ascii_lowercase if c != chars[i].lower()])
    return "".join(chars)


@perturbation("word_dropout")
def word_dropout(text: str, rate: float, rng: random.Random) -> str:
    words = text.split()
    drop = _chosen(len(words), rate, rng) if len(words) > 1 else set()
    if len(drop) == len(words):
        drop.discard(next(iter(drop)))
    return " ".join(w for i, w in enumerate(words) if i not in drop)


@perturbation("case")
def case(text: str, rate: float, rng: random.Random) -> str:
    words = text.split()
    flip = _chosen(len(words), rate, rng)
    return " ".join(w.swapcase() if i in flip else w for i, w in enumerate(words))


def perturb(data: LabelledText, kind: str, rate: float, seed: int = 0) -> LabelledText:
    """A copy of `data` with every text (and pair text) perturbed; row i uses seed (seed, i)."""
    if kind not in PERTURBATIONS:
        raise ValueError(f"unknown perturbation {kind!r}; known: {', '.join(PERTURBATIONS)}")
    fn = PERTURBATIONS[kind]

    def apply(texts: list[str], stream: int) -> list[str]:
        return [fn(t, rate, random.Random(f"{seed}:{stream}:{i}")) for i, t in enumerate(texts)]

    return replace(data, texts=apply(data.texts, 0), pairs=apply(data.pairs, 1) if data.pairs else None,
                   origin=f"{data.origin} + {kind}@{rate}")
