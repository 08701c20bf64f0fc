"""compress.models: resolving checkpoints safely and loading classifiers with the task's labels."""

import os
import shutil

import pytest
import torch

from compress.data import LabelSpace
from compress.errors import CompressError
from compress.models import default_model_path, load_classifier, load_tokenizer, resolve_model

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SENTIMENT = LabelSpace(("0", "1"), ("negative", "positive"))


def test_default_resolves_to_the_bundled_model():
    bundled = default_model_path()
    assert resolve_model("default") == resolve_model(None) == str(bundled)
    assert (bundled / "config.json").exists()
    assert list(bundled.glob("*.safetensors"))


def test_a_checkpoint_directory_resolves_to_itself(tiny_bert):
    assert resolve_model(tiny_bert) == str(tiny_bert)


def test_a_hub_id_is_passed_through_unchanged():
    assert resolve_model("bert-base-uncased") == "bert-base-uncased"
    assert resolve_model("google/bert_uncased_L-2_H-128_A-2") == "google/bert_uncased_L-2_H-128_A-2"


def pickled_copy(tiny_bert, directory):
    """tiny_bert saved as pytorch_model.bin only."""
    model = load_classifier(tiny_bert)
    model.save_pretrained(directory, safe_serialization=False)
    assert (directory / "pytorch_model.bin").exists() and not list(directory.glob("*.safetensors"))
    return directory


def test_only_pickled_weights_are_refused_unless_allowed(tiny_bert, tmp_path):
    pickled = pickled_copy(tiny_bert, tmp_path / "pickled")
    with pytest.raises(CompressError, match=r"only pickled weights \(pytorch_model.bin\).*--allow-pickle"):
        resolve_model(pickled)
    with pytest.raises(CompressError, match="only pickled weights"):
        load_classifier(pickled)
    assert resolve_model(pickled, allow_pickle=True) == str(pickled)
    loaded = load_classifier(pickled, allow_pickle=True)
    reference = load_classifier(tiny_bert)
    assert torch.equal(loaded.classifier.weight, reference.classifier.weight)


def test_directory_without_weights_is_refused(tiny_bert, tmp_path):
    shutil.copy(tiny_bert / "config.json", tmp_path / "config.json")
    with pytest.raises(CompressError, match=r"holds no model weights"):
        resolve_model(tmp_path)


def test_directory_without_config_is_refused(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(CompressError, match=r"not a model directory \(no config.json\)"):
        resolve_model(tmp_path)


@pytest.mark.parametrize("name", ["missing", "./missing", "a/b/missing"])
def test_a_missing_path_is_an_error(tmp_path, name):
    target = tmp_path / name if name == "missing" else name
    with pytest.raises(CompressError, match="not found"):
        resolve_model(target)


def test_a_file_path_is_an_error_asking_for_the_directory(tiny_bert):
    with pytest.raises(CompressError, match="is a file; give the checkpoint's directory"):
        resolve_model(tiny_bert / "config.json")


def test_load_classifier_puts_the_task_labels_into_the_config(tiny_bert):
    labels = LabelSpace(("a", "b", "c"), ("contradiction", "entailment", "neutral"))
    model = load_classifier(tiny_bert, labels)
    assert model.config.num_labels == 3
    assert model.config.id2label == {0: "contradiction", 1: "entailment", 2: "neutral"}
    assert model.config.label2id == {"contradiction": 0, "entailment": 1, "neutral": 2}
    assert model.classifier.out_features == 3


def test_load_classifier_keeps_a_head_whose_labels_match(tiny_bert):
    from safetensors.torch import load_file

    saved = load_file(tiny_bert / "model.safetensors")
    model = load_classifier(tiny_bert, SENTIMENT)
    assert model.config.id2label == {0: "negative", 1: "positive"}
    assert torch.equal(model.classifier.weight, saved["classifier.weight"])


def test_load_classifier_from_the_base_model_adds_a_head_with_the_labels():
    model = load_classifier("default", SENTIMENT)
    assert model.config.id2label == {0: "negative", 1: "positive"}
    assert model.config.label2id == {"negative": 0, "positive": 1}
    assert model.classifier.out_features == 2


def test_load_tokenizer_of_a_checkpoint(tiny_bert):
    tokenizer = load_tokenizer(str(tiny_bert))
    assert tokenizer("Hello world")["input_ids"][0] == tokenizer.cls_token_id


def test_load_tokenizer_of_a_checkpoint_without_tokenizer_files_is_a_clear_error(tiny_bert, tmp_path):
    shutil.copy(tiny_bert / "config.json", tmp_path / "config.json")
    with pytest.raises(CompressError, match="cannot load a tokenizer .*are its tokenizer files there"):
        load_tokenizer(str(tmp_path))
