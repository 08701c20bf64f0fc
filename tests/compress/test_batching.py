"""compress.core.batching: length-grouped batch order, padding in numpy, and tokenisation."""

import random

import numpy as np
import pytest

from compress.core.batching import Features, LengthGroupedBatches, featurize, pad_batch
from compress.core.batching import batches as padded_batches
from compress.core.data import LabelledText, LabelSpace
from compress.core.models import load_tokenizer

SENTIMENT = LabelSpace(("0", "1"), ("negative", "positive"))


def lengths(n=300, seed=0):
    rng = random.Random(seed)
    return [rng.randint(3, 60) for _ in range(n)]


def batches(sampler):
    return [list(b) for b in sampler]



@pytest.mark.parametrize("shuffle, group", [(True, True), (True, False), (False, True), (False, False)])
def test_batches_cover_every_index_exactly_once(shuffle, group):
    sampler = LengthGroupedBatches(lengths(301), batch_size=16, seed=0, shuffle=shuffle, group=group)
    result = batches(sampler)
    assert sorted(i for b in result for i in b) == list(range(301))
    assert len(result) == len(sampler) == 19
    assert all(1 <= len(b) <= 16 for b in result)


def test_batches_are_deterministic_for_a_seed_and_differ_between_seeds():
    first = batches(LengthGroupedBatches(lengths(), 16, seed=5))
    again = batches(LengthGroupedBatches(lengths(), 16, seed=5))
    other = batches(LengthGroupedBatches(lengths(), 16, seed=6))
    assert first == again
    assert first != other


def test_each_pass_reshuffles_and_the_sequence_of_passes_is_reproducible():
    a = LengthGroupedBatches(lengths(), 16, seed=1)
    b = LengthGroupedBatches(lengths(), 16, seed=1)
    a1, a2 = batches(a), batches(a)
    assert a1 != a2
    assert (batches(b), batches(b)) == (a1, a2)


def test_unshuffled_ungrouped_batches_keep_row_order():
    assert batches(LengthGroupedBatches([5] * 10, 4, seed=0, shuffle=False, group=False)) == [
        [0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def padding(lens, result):
    return sum(max(lens[i] for i in b) * len(b) - sum(lens[i] for i in b) for b in result)


def test_grouping_by_length_pads_much_less_than_random_batches():
    lens = lengths(1000)
    grouped = padding(lens, batches(LengthGroupedBatches(lens, 16, seed=0, group=True)))
    random_ = padding(lens, batches(LengthGroupedBatches(lens, 16, seed=0, group=False)))
    assert grouped < random_ / 5


def three_rows() -> Features:
    return Features(
        [{"input_ids": [101, 7, 102], "attention_mask": [1, 1, 1], "token_type_ids": [0, 0, 0]},
         {"input_ids": [101, 7, 8, 9, 102], "attention_mask": [1] * 5, "token_type_ids": [0, 0, 0, 1, 1]},
         {"input_ids": [101] + [5] * 20 + [102], "attention_mask": [1] * 22, "token_type_ids": [0] * 22}],
        [1, 0, 1])


def test_pad_batch_pads_to_the_longest_row_of_the_batch_in_int64():
    batch = pad_batch(three_rows(), [1, 0], pad_id=99)
    assert batch["input_ids"].tolist() == [[101, 7, 8, 9, 102], [101, 7, 102, 99, 99]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]
    assert (batch["labels"].tolist(), batch["idx"].tolist()) == ([0, 1], [1, 0])
    assert all(v.dtype == np.int64 for v in batch.values())


def test_batches_visit_every_row_once_longest_first():
    result = list(padded_batches(three_rows(), pad_id=0, batch_size=2))
    assert [b["idx"].tolist() for b in result] == [[2, 1], [0]]


@pytest.fixture(scope="module")
def tokenizer(tiny_bert):
    return load_tokenizer(str(tiny_bert))


def test_featurize_truncates_encodes_labels_and_marks_the_second_text_of_a_pair(tokenizer):
    data = LabelledText(["a long sentence " * 20, "short"], ["the other text", "pair"], ["1", "0"],
                        {"0": "negative", "1": "positive"})
    features = featurize(tokenizer, data, SENTIMENT, max_length=16)
    assert features.labels == [1, 0]
    assert len(features.encodings[0]["input_ids"]) == 16
    assert 1 in features.encodings[1]["token_type_ids"]


