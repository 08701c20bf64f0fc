"""Token lengths the data needs (issue 21's sequence-length lever): per split, the tokenized length with [CLS] and
[SEP] under a model's tokenizer, its percentiles, the rows over 64 tokens, and the mean length a random batch of 32
is padded to (dynamic padding, seed 0). Usage: python reports/sst2-banking77-limits/lengths.py MODEL_DIR [DATA:SPLIT ...]"""

import sys

import numpy as np

from compress.core.data import load_split
from compress.core.models import load_tokenizer


def main(model: str, sources: list[str]) -> None:
    tokenizer = load_tokenizer(model)
    print("| data | rows | mean | p50 | p90 | p99 | max | rows over 64 | random batch of 32 padded to (mean) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for source in sources:
        name, split = source.split(":")
        lengths = np.array([len(tokenizer(text)["input_ids"]) for text in load_split(name, split).texts])
        rng = np.random.default_rng(0)
        padded = [lengths[rng.choice(len(lengths), 32, replace=False)].max() for _ in range(200)]
        p50, p90, p99 = np.percentile(lengths, [50, 90, 99])
        print(f"| {source} | {len(lengths)} | {lengths.mean():.1f} | {p50:.0f} | {p90:.0f} | {p99:.0f} | "
              f"{lengths.max()} | {(lengths > 64).sum()} | {np.mean(padded):.1f} |")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:] or ["sst2:dev", "banking77:test"])
