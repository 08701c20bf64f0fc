"""compress.core.card: every stage's output directory carries a model card with Hugging Face metadata (lineage, scores,
base model and licence carried forward), and the directory still loads as before."""

import json
import shutil

import numpy as np
import pytest
from huggingface_hub import ModelCard

from compress.core.card import CARD, card_text, front_matter
from compress.core.serving import load
from compress.stages.quantize import QuantizeConfig, quantize


def card(directory):
    return ModelCard.load(directory / CARD)


def test_a_fine_tuned_model_has_a_card_whose_model_index_holds_its_validation_score(trained_tiny_bert):
    manifest = json.loads((trained_tiny_bert / "manifest.json").read_text())
    model_card = card(trained_tiny_bert)
    data = model_card.data
    assert data.pipeline_tag == "text-classification" and data.library_name == "transformers"
    assert data.datasets == ["sst2"] and "finetune" in data.tags
    (result,) = data.eval_results
    assert result.dataset_split == "validation" and result.metric_type == "accuracy"
    assert result.metric_value == round(100 * manifest["metrics"]["eval"]["score"], 2)
    assert "## Compression lineage" in model_card.text and "**finetune**" in model_card.text


def made_from(model, parent, to):
    """A copy of `model` whose manifest names `parent` as the model it was made from."""
    shutil.copytree(model, to)
    manifest = json.loads((to / "manifest.json").read_text())
    manifest["inputs"]["model"]["path"] = str(parent)
    (to / "manifest.json").write_text(json.dumps(manifest))
    return manifest


def front_matter_of(text):
    import yaml

    return yaml.safe_load(text.split("---\n")[1])


def test_base_model_and_licence_are_carried_from_the_parent_s_card(trained_tiny_bert, tmp_path):
    parent = tmp_path / "parent"
    shutil.copytree(trained_tiny_bert, parent)
    (parent / CARD).write_text("---\nlicense: mit\nbase_model: org/tiny\n---\n# tiny\n")
    manifest = made_from(trained_tiny_bert, parent, tmp_path / "child")
    meta = front_matter_of(card_text(tmp_path / "child", manifest, "child"))
    assert meta["license"] == "mit" and meta["base_model"] == "org/tiny"


def test_a_model_made_from_a_hub_snapshot_names_its_hub_id(hub_cache, trained_tiny_bert, tmp_path):
    manifest = made_from(trained_tiny_bert, hub_cache, tmp_path / "child")
    meta = front_matter_of(card_text(tmp_path / "child", manifest, "child"))
    assert meta["base_model"] == "org/tiny" and "license" not in meta


def test_an_int8_model_s_card_lists_every_stage_and_the_directory_still_serves(trained_tiny_onnx, tmp_path):
    out = tmp_path / "int8"
    quantize(QuantizeConfig(model=str(trained_tiny_onnx), max_eval_examples=32), out)
    model_card = card(out)
    assert model_card.data.library_name == "onnx" and "onnx" in model_card.data.tags
    lineage = model_card.text.split("## Compression lineage")[1].split("##")[0]
    assert [line.split("**")[1] for line in lineage.strip().splitlines()] == ["finetune", "export", "quantize"]
    assert model_card.text.startswith("\n# int8"), "titled by the directory's final name, not its temporary one"
    probabilities = load(out).probabilities(["a gripping, funny film", "dull"])
    assert np.allclose(probabilities.sum(-1), 1.0, atol=1e-5)


def test_a_directory_without_a_card_or_with_a_broken_one_has_no_metadata(tmp_path):
    assert front_matter(tmp_path) == {}
    (tmp_path / CARD).write_text("---\n: [unclosed\n---\n")
    assert front_matter(tmp_path) == {}


@pytest.mark.parametrize("kind", ["hf"])
def test_a_carded_checkpoint_loads_in_plain_transformers(trained_tiny_bert, kind):
    from transformers import AutoModelForSequenceClassification

    assert (trained_tiny_bert / CARD).is_file()
    model = AutoModelForSequenceClassification.from_pretrained(trained_tiny_bert)
    assert model.config.num_labels == 2


def test_the_bundled_model_is_named_by_its_hub_id_with_its_licence(trained_tiny_bert, tmp_path):
    from compress.core.models import default_model_path
    from compress.core.paths import portable_path

    manifest = made_from(trained_tiny_bert, portable_path(default_model_path()), tmp_path / "child")
    meta = front_matter_of(card_text(tmp_path / "child", manifest, "child"))
    assert meta["base_model"] == "sentence-transformers/all-MiniLM-L6-v2" and meta["license"] == "apache-2.0"
