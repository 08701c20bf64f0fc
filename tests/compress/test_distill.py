"""Stage `distill`: student initialisation, the loss terms and their weights, teacher caching,
augmentation, the written artifact, and one-line errors that write nothing."""

from __future__ import annotations

import contextlib
import json
import os
import re

import numpy as np
import pytest
import torch

from compress.core.batching import featurize
from compress.core.data import LabelledText, LabelSpace, load_split, read_texts
from compress.core.errors import CompressError
from compress.core.inference import loader, model_inputs, predict_logits
from compress.core.losses import (
    DistillLoss,
    attention_kl,
    hidden_state_mse,
    relation_kl,
    self_relations,
    soft_target_kl,
)
from compress.core.models import load_classifier, load_tokenizer
from compress.engine.cli import main
from compress.stages.distill import DistillConfig, build_student, choose_layer_ids, default_layer_ids, distill
from tests.conftest import cut_bert

WEIGHTS = {"ce": 0.3, "kd": 0.7, "hidden": 0.2, "attention": 0.5, "relation": 0.4}


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory):
    return cut_bert(tmp_path_factory.mktemp("teacher4"), layers=4, seed=1)


@pytest.fixture(scope="module")
def sst2_slice() -> LabelledText:
    return load_split("sst2", "train").sample(48, seed=0)


@pytest.fixture(scope="module")
def pair(teacher_dir, sst2_slice):
    """An eager 4-layer teacher, its 2-layer student (layers 1 and 3), features and one padded batch."""
    teacher = load_classifier(teacher_dir, attn_implementation="eager").eval().requires_grad_(False)
    student = build_student(teacher, [1, 3])
    tokenizer = load_tokenizer(str(teacher_dir))
    features = featurize(tokenizer, sst2_slice, LabelSpace.from_id2label(teacher.config.id2label), 48)
    batch = next(iter(loader(features, tokenizer.pad_token_id, batch_size=16)))
    assert (batch["attention_mask"] == 0).any(), "the batch should contain padding"
    return teacher, student, features, batch, tokenizer.pad_token_id


@contextlib.contextmanager
def recorded_calls(module):
    """The keyword arguments of every forward call of `module` while the block runs."""
    calls = []
    handle = module.register_forward_hook(lambda m, args, kwargs, out: calls.append(kwargs), with_kwargs=True)
    try:
        yield calls
    finally:
        handle.remove()


@pytest.mark.parametrize("teacher_layers, student_layers, expected", [
    (6, 3, [1, 3, 5]), (6, 2, [2, 5]), (6, 1, [5]), (12, 4, [2, 5, 8, 11]), (4, 2, [1, 3]), (6, 4, [1, 2, 4, 5]),
    (12, 6, [1, 3, 5, 7, 9, 11]), (3, 2, [1, 2])])
def test_default_layers_are_the_top_of_each_block(teacher_layers, student_layers, expected):
    assert default_layer_ids(teacher_layers, student_layers) == expected
    assert choose_layer_ids(DistillConfig(student_layers=student_layers), teacher_layers) == expected


def test_layer_choice_from_options():
    assert choose_layer_ids(DistillConfig(), 6) == [1, 3, 5]
    assert choose_layer_ids(DistillConfig(student_layer_ids=[0, 4]), 6) == [0, 4]
    assert choose_layer_ids(DistillConfig(student_layers=2, student_layer_ids=[0, 4]), 6) == [0, 4]
    for bad, layers in [(dict(student_layers=6), 6), (dict(student_layers=0), 6), (dict(student_layer_ids=[1, 6]), 6),
                        (dict(student_layer_ids=[3, 1]), 6), (dict(student_layer_ids=[1, 1]), 6),
                        (dict(student_layers=3, student_layer_ids=[1, 2]), 6), (dict(), 3)]:
        with pytest.raises(CompressError):
            choose_layer_ids(DistillConfig(**bad), layers)


def test_student_copies_the_chosen_teacher_layers(pair):
    teacher, student, *_ = pair
    t, s = teacher.state_dict(), student.state_dict()
    assert student.config.num_hidden_layers == 2 and teacher.config.num_hidden_layers == 4
    source = {0: 1, 1: 3}
    for key, value in s.items():
        origin = re.sub(r"encoder\.layer\.(\d+)\.", lambda m: f"encoder.layer.{source[int(m.group(1))]}.", key)
        assert torch.equal(value, t[origin]), key
    assert any(k.startswith("bert.embeddings.") for k in s)
    assert "classifier.weight" in s and "bert.pooler.dense.weight" in s
    assert len(s) == len(t) - 2 * sum(k.startswith("bert.encoder.layer.0.") for k in t)
    assert student.bert.encoder.layer[0].attention.self.query.weight.data_ptr() != \
        teacher.bert.encoder.layer[1].attention.self.query.weight.data_ptr()


def test_soft_target_kl_matches_hand_computation():
    student = np.array([[2.0, -1.0, 0.5], [0.0, 1.0, 3.0]])
    teacher = np.array([[1.0, 0.0, -2.0], [0.5, 0.5, 2.0]])
    temperature = 3.0

    def softmax(x):
        e = np.exp(x / temperature - (x / temperature).max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    p, q = softmax(teacher), softmax(student)
    expected = (p * np.log(p / q)).sum(-1).mean() * temperature ** 2
    got = soft_target_kl(torch.tensor(student), torch.tensor(teacher), temperature)
    assert got.item() == pytest.approx(expected, rel=1e-9)
    same = soft_target_kl(torch.tensor(teacher), torch.tensor(teacher), temperature)
    assert same.item() == pytest.approx(0, abs=1e-12)


def test_hidden_and_attention_terms_ignore_padding():
    mask = torch.tensor([[1, 1, 0]])
    a, b = torch.zeros(1, 3, 4), torch.zeros(1, 3, 4)
    b[0, 2] = 100.0  # padding position only
    assert hidden_state_mse([a], [b], [(0, 0)], mask).item() == 0
    b[0, 0] = 2.0
    assert hidden_state_mse([a, a], [b, a], [(0, 0), (1, 1)], mask).item() == pytest.approx((4 * 4 / 8 + 0) / 2)

    teacher = torch.tensor([[0.5, 0.5, 0.0], [0.25, 0.75, 0.0], [0.3, 0.3, 0.4]])[None, None]
    student = torch.tensor([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [1.0, 0.0, 0.0]])[None, None]
    second = 0.25 * np.log(0.25 / 0.5) + 0.75 * np.log(0.75 / 0.5)
    assert attention_kl(student, teacher, mask).item() == pytest.approx(second / 2, rel=1e-6)


def test_total_is_the_weighted_sum_of_the_parts(pair):
    teacher, student, _, batch, _ = pair
    student.eval()  # no dropout, so the parts can be recomputed by hand
    loss, parts = DistillLoss(WEIGHTS, 2.0, teacher, [1, 3], relation_heads=4)(student, batch)
    assert set(parts) == set(WEIGHTS)
    assert loss.item() == pytest.approx(sum(WEIGHTS[k] * parts[k] for k in parts), rel=1e-6)
    assert all(v > 0 for v in parts.values())
    with torch.no_grad():
        inputs = model_inputs(batch, student)
        s = student(**inputs, output_hidden_states=True, output_attentions=True)
        t = teacher(**inputs, output_hidden_states=True, output_attentions=True)
    mask = batch["attention_mask"]
    assert parts["ce"] == pytest.approx(torch.nn.functional.cross_entropy(s.logits, batch["labels"]).item(), rel=1e-5)
    assert parts["kd"] == pytest.approx(soft_target_kl(s.logits, t.logits, 2.0).item(), rel=1e-5)
    # Indices into hidden_states, where 0 is the embedding output: student layers 0 and 1 are teacher layers 1 and 3.
    pairs = [(0, 0), (1, 2), (2, 4)]
    hidden = hidden_state_mse(s.hidden_states, t.hidden_states, pairs, mask)
    assert parts["hidden"] == pytest.approx(hidden.item(), rel=1e-5)
    assert parts["attention"] == pytest.approx(attention_kl(s.attentions[-1], t.attentions[-1], mask).item(), rel=1e-5)
    # The embeddings are copied, so before any training their outputs agree exactly.
    assert hidden_state_mse(s.hidden_states, t.hidden_states, [(0, 0)], mask).item() == 0
    # The last layer's projections recomputed from the states entering it, away from the loss's hooks.
    with torch.no_grad():
        projections = [{role: getattr(model.bert.encoder.layer[-1].attention.self, role)(out.hidden_states[-2])
                        for role in ("query", "key", "value")} for model, out in ((student, s), (teacher, t))]
    assert parts["relation"] == pytest.approx(relation_kl(*projections, 4, mask).item(), rel=1e-5)


def test_relations_are_distributions_over_real_tokens_per_relation_head():
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    states = torch.randn(2, 4, 12, generator=torch.Generator().manual_seed(0))
    relations = self_relations(states, 3, mask)
    assert relations.shape == (2, 3, 4, 4)
    torch.testing.assert_close(relations.sum(-1), torch.ones(2, 3, 4))
    assert (relations[0, ..., 3] == 0).all() and (relations[1, ..., 2:] == 0).all()
    # Relation head 1 of the first example from its own four columns, by hand.
    head = states[0, :3, 4:8]
    torch.testing.assert_close(relations[0, 1, :3, :3], (head @ head.T / 2).softmax(-1))
    same = {role: states for role in ("query", "key", "value")}
    assert relation_kl(same, same, 3, mask).item() == pytest.approx(0, abs=1e-6)
    other = {**same, "value": states.flip(-1)}
    assert relation_kl(other, same, 3, mask).item() > 0.01
    # Padding carries no relation: changing a padded token's vector changes nothing.
    padded = states.clone()
    padded[0, 3] = 50.0
    assert relation_kl({**same, "key": padded}, same, 3, mask).item() == pytest.approx(0, abs=1e-6)


def test_zero_weight_removes_the_term_and_what_it_needs(pair):
    teacher, student, features, batch, pad_id = pair
    cached = torch.from_numpy(predict_logits(teacher, features, pad_id))
    with recorded_calls(teacher) as teacher_calls, recorded_calls(student) as student_calls:
        weights = {"ce": 1.0, "kd": 1.0, "hidden": 0.0, "attention": 0.0}
        _, parts = DistillLoss(weights, 2.0, teacher, [1, 3])(student, batch)
        assert set(parts) == {"ce", "kd"}
        for calls in (teacher_calls, student_calls):
            assert calls[-1]["output_hidden_states"] is False and calls[-1]["output_attentions"] is False

        weights = {"ce": 0.0, "kd": 0.0, "hidden": 1.0, "attention": 0.0}
        _, parts = DistillLoss(weights, 2.0, teacher, [1, 3])(student, batch)
        assert set(parts) == {"hidden"}
        assert teacher_calls[-1]["output_hidden_states"] is True and teacher_calls[-1]["output_attentions"] is False

        weights = {"relation": 1.0}
        block = student.bert.encoder.layer[-1].attention.self
        _, parts = DistillLoss(weights, 2.0, teacher, [1, 3], relation_heads=4)(student, batch)
        assert set(parts) == {"relation"} and parts["relation"] > 0
        assert teacher_calls[-1]["output_hidden_states"] is False and teacher_calls[-1]["output_attentions"] is False
        assert not any(getattr(block, role)._forward_hooks for role in ("query", "key", "value")), \
            "the projections' hooks must go when the step ends"

        seen = len(teacher_calls)
        DistillLoss({"ce": 0.5, "kd": 0.5}, 2.0, teacher, [1, 3], cached)(student, batch)
        DistillLoss({"ce": 1.0, "kd": 0.0}, 2.0, teacher, [1, 3])(student, batch)
        assert len(teacher_calls) == seen, "neither cached soft targets nor pure CE may run the teacher"


def test_cached_teacher_logits_equal_online_ones(pair):
    teacher, student, features, batch, pad_id = pair
    cached = torch.from_numpy(predict_logits(teacher, features, pad_id, batch_size=7))
    with torch.no_grad():
        online = teacher(**model_inputs(batch, teacher)).logits
    torch.testing.assert_close(cached[batch["idx"]], online, atol=1e-5, rtol=1e-5)
    student.eval()
    weights = {"kd": 1.0}
    _, from_cache = DistillLoss(weights, 2.0, teacher, [1, 3], cached)(student, batch)
    _, from_teacher = DistillLoss(weights, 2.0, teacher, [1, 3])(student, batch)
    # The student starts as a cut of the teacher, so the KL is tiny (about 4e-5) and the cached logits' padding
    # differences (1e-5 above) move it by about 5e-8; another row's targets would move it by orders more.
    assert from_cache["kd"] == pytest.approx(from_teacher["kd"], rel=1e-4, abs=2e-7)


def test_cached_soft_targets_win_over_the_online_model(pair):
    teacher, student, features, batch, pad_id = pair
    student.eval()
    other = torch.from_numpy(predict_logits(student, features, pad_id)) * 3  # any logits unlike the teacher's
    loss = DistillLoss({"kd": 1.0, "hidden": 1.0}, 2.0, teacher, [1, 3], other)
    _, parts = loss(student, batch)
    with torch.no_grad():
        expected = soft_target_kl(student(**model_inputs(batch, student)).logits, other[batch["idx"]], 2.0)
    assert loss.online and parts["kd"] == pytest.approx(expected.item(), rel=1e-5)


def _cli(*args) -> int:
    return main(["distill", "--max-train-examples", "256", "--max-eval-examples", "64", "--max-length", "40",
                 "--batch-size", "32", *map(str, args)])


def test_distill_writes_a_reloadable_student(trained_tiny_bert, tmp_path):
    from transformers import AutoModelForSequenceClassification

    out = tmp_path / "student"
    assert _cli("--teacher", trained_tiny_bert, "--student-layers", 1, "--epochs", 1, "-o", out) == 0
    model = AutoModelForSequenceClassification.from_pretrained(out)
    assert model.config.num_hidden_layers == 1 and len(model.bert.encoder.layer) == 1
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stage"] == "distill" and manifest["inputs"]["model"]["path"] == os.path.relpath(trained_tiny_bert)
    assert manifest["inputs"]["model"]["sha256"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["student_layer_ids"] == [1] and metrics["teacher_cached"] is True
    assert metrics["steps"] == 8 and metrics["eval"]["n"] == 64 and metrics["teacher_eval"]["accuracy"] > 0.6
    assert set(metrics["history"][-1]) >= {"ce", "kd"} and "hidden" not in metrics["history"][-1]
    assert (out / "tokenizer.json").exists()


def test_distill_with_every_term_and_augmentation(trained_tiny_bert, tmp_path):
    config = DistillConfig(teacher=str(trained_tiny_bert), student_layers=1, hidden_weight=1.0, attention_weight=1.0,
                           relation_weight=1.0, augment=1, max_train_examples=64, max_eval_examples=32, max_length=32,
                           max_steps=3, batch_size=16)
    manifest = distill(config, tmp_path / "student")
    metrics = manifest["metrics"]
    assert metrics["train_examples"] == 64 and metrics["augmented_examples"] == 64 and metrics["steps"] == 3
    assert metrics["teacher_cached"] is False and set(metrics["history"][-1]) >= {"ce", "kd", "hidden", "attention",
                                                                                "relation"}
    assert load_classifier(tmp_path / "student").config.num_hidden_layers == 1


def test_unlabelled_rows_are_trained_on_the_teacher_s_predictions(trained_tiny_bert, data_dir, tmp_path,
                                                                   monkeypatch):
    import compress.stages.distill as stage

    test_role = load_split("sst2", "dev")
    unlabelled = tmp_path / "unlabelled.tsv"
    # Ten unlabelled GLUE test sentences and two of the test role's rows, which must be left out.
    sentences = read_texts(str(data_dir / "sst2" / "test.tsv")).texts[:10] + [test_role.texts[0].upper(),
                                                                               test_role.texts[1]]
    unlabelled.write_text("sentence\n" + "\n".join(sentences) + "\n")
    seen = {}
    real_train = stage.train

    def recording_train(student, train_features, *args, **kwargs):
        seen["features"] = train_features
        return real_train(student, train_features, *args, **kwargs)

    monkeypatch.setattr(stage, "train", recording_train)
    # Hidden states run the teacher online, so no logits are cached: the unlabelled rows still need its labels.
    config = DistillConfig(teacher=str(trained_tiny_bert), student_layers=1, hidden_weight=1.0,
                           unlabelled=[str(unlabelled)], max_train_examples=32, max_length=32, max_steps=1,
                           batch_size=16)
    metrics = distill(config, tmp_path / "student")["metrics"]
    assert metrics["train_examples"] == 32 and metrics["unlabelled_examples"] == 10
    assert metrics["unlabelled_held_out"] == 2 and metrics["augmented_examples"] == 0
    assert metrics["teacher_cached"] is False
    features = seen["features"]
    teacher = load_classifier(trained_tiny_bert)
    tokenizer = load_tokenizer(str(trained_tiny_bert))
    rows = featurize(tokenizer, LabelledText(sentences[:10], None, []), None, 32)
    predicted = predict_logits(teacher, rows, tokenizer.pad_token_id, 16, torch.device("cpu")).argmax(-1)
    assert features.labels[32:] == predicted.tolist() and len(features) == 42


@pytest.mark.parametrize("args", [
    ("--unlabelled", "nowhere.tsv"),
    ("--student-layers", 2),
    ("--student-layer-ids", 0, 2),
    ("--student-layer-ids", 2),
    ("--ce-weight", 0, "--kd-weight", 0),
    ("--kd-weight", -1),
    ("--temperature", 0),
    ("--relation-weight", 1, "--relation-heads", 5),
])
def test_bad_input_is_one_line_and_writes_nothing(trained_tiny_bert, tmp_path, capsys, args):
    out = tmp_path / "out" / "student"
    assert _cli("--teacher", trained_tiny_bert, *args, "-o", out) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("compress distill: error:") and "\n" not in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_missing_teacher_and_existing_output(tmp_path, capsys):
    assert _cli("--teacher", tmp_path / "nope", "-o", tmp_path / "a") == 2
    assert "not found" in capsys.readouterr().err
    assert _cli("-o", tmp_path / "b") == 2
    assert "--teacher" in capsys.readouterr().err
    (tmp_path / "c").mkdir()
    assert _cli("--teacher", tmp_path / "nope", "-o", tmp_path / "c") == 2
    assert "already exists" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]
