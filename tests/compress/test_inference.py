"""compress.core.inference: tensors for PyTorch, prediction in row order, and the shared metric on the argmax."""

import os

import numpy as np
import pytest
import torch

from compress.core.batching import Features, featurize
from compress.core.data import LabelSpace, load_split
from compress.core.inference import Collator, evaluate, predict_logits
from compress.core.models import load_classifier, load_tokenizer

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SENTIMENT = LabelSpace(("0", "1"), ("negative", "positive"))


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


