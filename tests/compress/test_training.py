"""compress.training: length-grouped batching, padding, prediction order and the shared loop."""

import os
import random

import numpy as np
import pytest
import torch

from compress.data import LabelledText, LabelSpace, load_split
from compress.metrics import Metric
from compress.models import load_classifier, load_tokenizer
from compress.training import (Collator, Features, LengthGroupedBatches, TrainConfig, cross_entropy_loss, evaluate,
                               featurize, predict_logits, train)

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SENTIMENT = LabelSpace(("0", "1"), ("negative", "positive"))


def lengths(n=300, seed=0):
    rng = random.Random(seed)
    return [rng.randint(3, 60) for _ in range(n)]


def batches(sampler):
    return [list(b) for b in sampler]


# LengthGroupedBatches

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


# Collator

def test_collator_pads_each_batch_to_its_longest_row():
    features = Features(
        [{"input_ids": [101, 7, 102], "attention_mask": [1, 1, 1], "token_type_ids": [0, 0, 0]},
         {"input_ids": [101, 7, 8, 9, 102], "attention_mask": [1] * 5, "token_type_ids": [0, 0, 0, 1, 1]},
         {"input_ids": [101] + [5] * 20 + [102], "attention_mask": [1] * 22, "token_type_ids": [0] * 22}],
        [1, 0, 1])
    batch = Collator(features, pad_id=99)([1, 0])
    assert batch["input_ids"].tolist() == [[101, 7, 8, 9, 102], [101, 7, 102, 99, 99]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]
    assert batch["token_type_ids"].tolist() == [[0, 0, 0, 1, 1], [0, 0, 0, 0, 0]]
    assert batch["labels"].tolist() == [0, 1]
    assert batch["idx"].tolist() == [1, 0]
    assert all(t.dtype == torch.long for t in batch.values())


# featurize, predict_logits, evaluate

@pytest.fixture(scope="module")
def tokenizer(tiny_bert):
    return load_tokenizer(str(tiny_bert))


@pytest.fixture(scope="module")
def model(tiny_bert):
    torch.manual_seed(0)
    return load_classifier(tiny_bert, SENTIMENT).eval()


@pytest.fixture(scope="module")
def dev_features(tokenizer, data_dir):
    dev = load_split("sst2", "dev").sample(24, seed=1)
    return featurize(tokenizer, dev, SENTIMENT, max_length=48)


def test_featurize_truncates_encodes_labels_and_marks_the_second_text_of_a_pair(tokenizer):
    data = LabelledText(["a long sentence " * 20, "short"], ["the other text", "pair"], ["1", "0"],
                        {"0": "negative", "1": "positive"})
    features = featurize(tokenizer, data, SENTIMENT, max_length=16)
    assert features.labels == [1, 0]
    assert len(features.encodings[0]["input_ids"]) == 16
    assert 1 in features.encodings[1]["token_type_ids"]


def test_predict_logits_returns_rows_in_their_original_order(model, dev_features, tokenizer):
    assert len({len(r["input_ids"]) for r in dev_features.encodings}) > 5, "lengths must vary to reorder batches"
    batched = predict_logits(model, dev_features, tokenizer.pad_token_id, batch_size=5)
    with torch.no_grad():
        single = np.stack([model(**{k: torch.tensor([v]) for k, v in row.items()}).logits[0].numpy()
                           for row in dev_features.encodings])
    np.testing.assert_allclose(batched, single, atol=1e-4)


def test_predict_logits_restores_training_mode(model, dev_features, tokenizer):
    model.train()
    try:
        predict_logits(model, dev_features, tokenizer.pad_token_id)
        assert model.training
    finally:
        model.eval()


def test_evaluate_scores_the_argmax_of_the_logits(model, dev_features, tokenizer):
    logits = predict_logits(model, dev_features, tokenizer.pad_token_id)
    scores = evaluate(model, dev_features, tokenizer.pad_token_id, batch_size=7)
    expected = float(np.mean(logits.argmax(-1) == np.array(dev_features.labels)))
    assert scores["accuracy"] == pytest.approx(expected)
    assert scores["n"] == 24


# train

@pytest.fixture
def small_task(tokenizer, data_dir):
    train_data = load_split("sst2", "train").sample(16, seed=0)
    dev = load_split("sst2", "dev").sample(8, seed=0)
    return featurize(tokenizer, train_data, SENTIMENT, 32), featurize(tokenizer, dev, SENTIMENT, 32)


def test_train_stops_at_max_steps_and_changes_the_weights(tiny_bert, tokenizer, small_task):
    model = load_classifier(tiny_bert, SENTIMENT)
    before = model.classifier.weight.detach().clone()
    config = TrainConfig(max_steps=3, batch_size=4, learning_rate=1e-3, warmup_ratio=0.0)
    result = train(model, *small_task, tokenizer.pad_token_id, config)
    assert result.steps == 3
    assert result.examples_seen == 12
    assert result.processes == 1
    assert result.best is not None and result.best["eval"]["n"] == 8
    assert not torch.equal(model.classifier.weight, before)


def test_train_honours_fractional_epochs_and_records_one_history_entry_per_epoch(tiny_bert, tokenizer, small_task):
    model = load_classifier(tiny_bert, SENTIMENT)
    result = train(model, small_task[0], None, tokenizer.pad_token_id, TrainConfig(epochs=1.5, batch_size=4))
    assert result.steps == 6  # 16 examples / 4 per step = 4 steps per epoch
    assert [h["epoch"] for h in result.history] == [1, 2]
    assert result.best is None


class Tie(Metric):
    """A metric on which every epoch scores the same."""

    def __call__(self, labels, predictions, num_labels):
        return 0.0


def test_train_returns_the_weights_of_the_best_epoch_not_the_last(tiny_bert, tokenizer, small_task):
    # every epoch ties, so epoch 1 stays best and its weights must come back
    model = load_classifier(tiny_bert, SENTIMENT)
    calls, seen = [], {}

    def loss_with_snapshots(m, batch):
        if len(calls) in (4, 7):  # before the first and the last update of epoch 2 (4 steps per epoch)
            seen[len(calls)] = {k: v.detach().clone() for k, v in m.state_dict().items()}
        calls.append(1)
        return cross_entropy_loss(m, batch)

    config = TrainConfig(epochs=2, batch_size=4, learning_rate=1e-3, warmup_ratio=0.0)
    result = train(model, *small_task, tokenizer.pad_token_id, config, loss_fn=loss_with_snapshots, metric=Tie())
    assert result.best["epoch"] == 1 and len(result.history) == 2
    after_epoch_1 = seen[4]
    assert any(not torch.equal(after_epoch_1[k], seen[7][k]) for k in after_epoch_1), "epoch 2 must move weights"
    final = model.state_dict()
    assert all(torch.equal(final[k], after_epoch_1[k]) for k in after_epoch_1)
