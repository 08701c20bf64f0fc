"""The names of the timed shapes, as records and reports key them: the harness times under these names and the search
chooses by them, so they live below both."""

from __future__ import annotations


def fixed_name(batch_size: int, length: int) -> str:
    """The key of a fixed-shape workload in records and reports."""
    return f"b{batch_size}xl{length}"


def real_name(batch_size: int, bucket: bool = False) -> str:
    """The key of a real-length workload in records and reports."""
    return f"real-b{batch_size}{'-bucketed' if bucket else ''}"


# The two figures a headline quotes: latency at batch 1 x 128 tokens, throughput at batch 32 on real lengths.
HEADLINE = fixed_name(1, 128)
HEADLINE_REAL = real_name(32)
