"""compress.stages.finetune: a short real fine-tune learns, and its output directory is complete and reloadable."""

import json
import os

import numpy as np
import pytest
import torch

from compress.core.artifacts import hash_path
from compress.core.batching import featurize
from compress.core.data import DataConfig
from compress.core.inference import evaluate, predict_logits
from compress.core.roles import load_roles
from compress.stages.finetune import FinetuneConfig, finetune

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def metrics(trained_tiny_bert):
    return json.loads((trained_tiny_bert / "metrics.json").read_text())


@pytest.fixture(scope="module")
def manifest(trained_tiny_bert):
    return json.loads((trained_tiny_bert / "manifest.json").read_text())


@pytest.fixture(scope="module")
def dev_slice(manifest):
    """The validation rows the run chose on, rebuilt from the settings in its manifest."""
    s = manifest["settings"]
    roles = load_roles(DataConfig(**{k: s[k] for k in DataConfig.__dataclass_fields__}), log=lambda _: None)
    assert manifest["data_roles"]["validation"]["rows"] == len(roles.validation)
    return roles.validation, roles.labels


def test_short_finetune_clearly_beats_chance_on_real_sst2(metrics, dev_slice):
    dev, _ = dev_slice
    majority = max(dev.labels.count(v) for v in set(dev.labels)) / len(dev)
    assert metrics["eval"]["n"] == 200
    assert metrics["eval"]["accuracy"] > 0.65
    assert metrics["eval"]["accuracy"] > majority + 0.1, "must beat always predicting the majority class"
    assert metrics["eval"]["mcc"] > 0.2


def test_metrics_record_steps_epochs_and_data_sizes(metrics):
    assert metrics["steps"] == 2 * -(-1500 // 32)
    assert metrics["processes"] == 1
    assert (metrics["train_examples"], metrics["eval_examples"]) == (1500, 200)
    assert [h["epoch"] for h in metrics["history"]] == [1, 2]
    best = max(metrics["history"], key=lambda h: h["eval"]["accuracy"])
    assert metrics["eval"] == best["eval"], "the reported figures must be those of the best epoch"


def test_output_has_weights_config_with_labels_tokenizer_and_metrics(trained_tiny_bert):
    config = json.loads((trained_tiny_bert / "config.json").read_text())
    assert config["id2label"] == {"0": "negative", "1": "positive"}
    assert config["label2id"] == {"negative": 0, "positive": 1}
    assert config["num_hidden_layers"] == 2
    for name in ("model.safetensors", "tokenizer.json", "tokenizer_config.json", "metrics.json",
                 "manifest.json"):
        assert (trained_tiny_bert / name).is_file(), name
    assert not list(trained_tiny_bert.glob("*.bin"))
    assert [p.name for p in trained_tiny_bert.parent.iterdir()] == ["model"], "no temporary directory left"


def test_manifest_records_the_parent_model_with_its_hash_and_the_settings(manifest, metrics):
    assert manifest["stage"] == "finetune"
    parent = manifest["inputs"]["model"]
    assert parent["sha256"] == hash_path(parent["path"])
    assert manifest["settings"]["learning_rate"] == 3e-4 and manifest["settings"]["epochs"] == 2
    assert manifest["metrics"] == metrics


def test_output_reloads_with_transformers_and_reproduces_the_reported_accuracy(trained_tiny_bert, manifest, metrics,
                                                                              dev_slice):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    dev, labels = dev_slice
    model = AutoModelForSequenceClassification.from_pretrained(trained_tiny_bert)
    tokenizer = AutoTokenizer.from_pretrained(trained_tiny_bert)
    assert model.config.id2label == labels.id2label
    features = featurize(tokenizer, dev, labels, manifest["settings"]["max_length"])
    scores = evaluate(model, features, tokenizer.pad_token_id, manifest["settings"]["eval_batch_size"])
    assert scores == metrics["eval"]


def test_finetune_on_a_data_file_records_the_file_hash(tiny_bert, tmp_path):
    rows = [("a fine, warm film ", 1), ("dull and lifeless ", 0), ("a joy ", 1), ("a mess ", 0)] * 4
    data = tmp_path / "reviews.tsv"
    data.write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows))
    result = finetune(FinetuneConfig(model=str(tiny_bert), data=str(data), max_steps=1, batch_size=4,
                                     max_length=16), tmp_path / "out")
    saved = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert saved == result
    assert saved["inputs"]["data"] == {"path": os.path.relpath(data), "sha256": hash_path(data)}
    assert saved["metrics"]["steps"] == 1


def test_finetune_refuses_an_existing_output_before_any_work(tiny_bert, tmp_path, monkeypatch):
    from compress.core.errors import CompressError

    (tmp_path / "out").mkdir()
    monkeypatch.setattr("compress.stages.finetune.load_roles", lambda *a: pytest.fail("data was loaded"))
    with pytest.raises(CompressError, match="already exists"):
        finetune(FinetuneConfig(model=str(tiny_bert)), tmp_path / "out")


def test_plain_transformers_gives_the_same_logits_as_predict_logits(trained_tiny_bert, dev_slice):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    dev, labels = dev_slice
    model = AutoModelForSequenceClassification.from_pretrained(trained_tiny_bert).eval()
    tokenizer = AutoTokenizer.from_pretrained(trained_tiny_bert)
    with torch.no_grad():
        batch = tokenizer(dev.texts[:16], padding=True, truncation=True, max_length=64, return_tensors="pt")
        plain = model(**batch).logits.numpy()
    ours = predict_logits(model, featurize(tokenizer, dev, labels, 64), tokenizer.pad_token_id)[:16]
    np.testing.assert_allclose(ours, plain, atol=1e-4)
