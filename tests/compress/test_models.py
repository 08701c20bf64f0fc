"""compress.core.models: resolving checkpoints safely and loading classifiers with the task's labels."""

import os
import shutil

import pytest
import torch

from compress.core.data import LabelSpace
from compress.core.errors import CompressError
from compress.core.models import (
    default_model_path,
    load_classifier,
    load_tokenizer,
    resolve_model,
)
from tests.conftest import HUB_COMMIT as COMMIT

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SENTIMENT = LabelSpace(("0", "1"), ("negative", "positive"))


def test_default_resolves_to_the_bundled_model():
    bundled = default_model_path()
    assert resolve_model("default") == resolve_model(None) == str(bundled)
    assert (bundled / "config.json").exists()
    assert list(bundled.glob("*.safetensors"))


def test_a_checkpoint_directory_resolves_to_itself(tiny_bert):
    assert resolve_model(tiny_bert) == str(tiny_bert)




def test_a_cached_hub_id_resolves_to_its_snapshot_with_the_hub_unreachable(hub_cache):
    assert resolve_model("org/tiny") == str(hub_cache)
    assert resolve_model("org/tiny", revision=COMMIT) == str(hub_cache)
    assert load_classifier("org/tiny").config.num_hidden_layers == 2


def test_a_hub_that_raises_when_offline_falls_back_to_the_cache(hub_cache, monkeypatch):
    """huggingface_hub 1.x raises OfflineModeIsEnabled (a ConnectionError) where 0.x fell back to the cache."""
    import huggingface_hub

    real, calls = huggingface_hub.snapshot_download, []

    def offline(*args, local_files_only=False, **kwargs):
        calls.append(local_files_only)
        if not local_files_only:
            raise ConnectionError("offline mode is enabled")
        return real(*args, local_files_only=True, **kwargs)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    assert resolve_model("org/tiny", revision=COMMIT) == str(hub_cache)
    assert calls == [False, True]


@pytest.mark.parametrize("name, revision", [("org/other", None), ("org/tiny", "v2")])
def test_an_uncached_hub_model_or_revision_is_one_error_line(hub_cache, name, revision):
    with pytest.raises(CompressError) as error:
        resolve_model(name, revision=revision)
    assert f"model {name}" in str(error.value) and "not found" in str(error.value)
    assert "\n" not in str(error.value)


def test_every_command_that_takes_a_model_takes_a_hub_id_and_revision(hub_cache, tmp_path, capsys):
    from compress.engine.cli import main

    out = tmp_path / "analysis"
    assert main(["analyze", "--model", "org/tiny", "--revision", "main", "--max-eval-examples", "16",
                 "--max-length", "16", "-o", str(out)]) == 0
    assert (out / "sensitivity.json").exists()
    for command in ("finetune", "distill", "prune", "analyze", "export", "predict", "bench", "search"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "--revision" in capsys.readouterr().out, command


def pickled_copy(tiny_bert, directory):
    """tiny_bert saved as pytorch_model.bin only."""
    model = load_classifier(tiny_bert)
    model.config.save_pretrained(directory)
    torch.save(model.state_dict(), directory / "pytorch_model.bin")
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
