"""compress.core.training: the shared loop: steps and epochs, the best epoch's weights kept."""

import os

import pytest
import torch

from compress.core.batching import featurize
from compress.core.data import LabelSpace, load_split
from compress.core.metrics import Metric
from compress.core.models import load_classifier, load_tokenizer
from compress.core.training import Limits, TrainConfig, cross_entropy_loss, limited, reachable, train

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SENTIMENT = LabelSpace(("0", "1"), ("negative", "positive"))


@pytest.fixture(scope="module")
def tokenizer(tiny_bert):
    return load_tokenizer(str(tiny_bert))


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


def test_a_passed_deadline_stops_training_after_one_step_and_still_evaluates(tiny_bert, tokenizer, small_task):
    model = load_classifier(tiny_bert, SENTIMENT)
    with limited(Limits(deadline=0.0)):
        result = train(model, *small_task, tokenizer.pad_token_id, TrainConfig(epochs=3, batch_size=4))
    assert result.steps == 1 and result.stopped == "time budget"
    assert result.best is not None and result.best["eval"]["n"] == 8
    assert result.summary()["stopped"] == "time budget"


def test_a_run_that_cannot_reach_its_floor_stops_at_its_second_evaluation(tiny_bert, tokenizer, small_task):
    # Tie scores 0.0 at every epoch: no gain, so the reachable score stays 0.0, under any floor above it.
    model = load_classifier(tiny_bert, SENTIMENT)
    with limited(Limits(floor=0.5)):
        result = train(model, *small_task, tokenizer.pad_token_id, TrainConfig(epochs=5, batch_size=4), metric=Tie())
    assert result.stopped == "cannot reach the floor" and len(result.history) == 2 and result.steps == 8


def test_without_limits_training_runs_its_steps_and_the_limits_end_with_the_block(tiny_bert, tokenizer, small_task):
    with limited(Limits(deadline=0.0)):
        pass
    model = load_classifier(tiny_bert, SENTIMENT)
    result = train(model, small_task[0], None, tokenizer.pad_token_id, TrainConfig(epochs=1, batch_size=4))
    assert result.steps == 4 and result.stopped is None and "stopped" not in result.summary()


@pytest.mark.parametrize("curve,left,expected", [
    ([0.80], 3, 0.80),                 # one evaluation: no slope, no gain assumed
    ([0.80, 0.84], 2, 0.92),           # +0.04 per epoch for 2 more epochs
    ([0.84, 0.80], 2, 0.80),           # a falling curve is not extrapolated down
])
def test_the_reachable_score_extends_the_last_gain_over_the_epochs_left(curve, left, expected):
    assert reachable(curve, left) == pytest.approx(expected)
