"""Augmentation: unlabelled text, perturbed copies of each row, the words they draw from, and the teacher's labels
for them."""

import numpy as np
import pytest

from compress.core.augment import (
    AugmentConfig,
    augment_for,
    augmented,
    teacher_labelled,
    with_unlabelled,
    word_vocabulary,
)
from compress.core.data import Columns, LabelledText
from compress.core.errors import CompressError
from compress.core.models import load_tokenizer


def test_augmentation_adds_n_copies_per_row_deterministically(tiny_bert):
    data = LabelledText(["a fine film", "dull", "", "one two three four five six seven eight nine ten"],
                        ["x y", "z", "w", "v"], ["1", "0", "1", "0"], {"0": "negative", "1": "positive"})
    vocabulary = word_vocabulary(load_tokenizer(str(tiny_bert)))
    assert "the" in vocabulary and not any(w.startswith(("##", "[")) for w in vocabulary)
    out = augmented(data, 3, 0.2, vocabulary, "[MASK]", seed=5)
    assert len(out) == len(out.pairs) == len(out.labels) == 4 * (1 + 3)
    assert out.texts[:4] == data.texts and out.pairs[:4] == data.pairs and out.labels[4:7] == ["1"] * 3
    copies = out.texts[4:]
    assert all(c != data.texts[k // 3] for k, c in enumerate(copies) if data.texts[k // 3])
    assert [len(c.split()) for c in copies[9:]] == [10] * 3
    assert sum(a != b for a, b in zip(copies[9].split(), data.texts[3].split())) <= 2  # round(0.2 * 10) replaced
    assert augmented(data, 3, 0.2, vocabulary, "[MASK]", seed=5).texts == out.texts
    assert augmented(data, 3, 0.2, vocabulary, "[MASK]", seed=6).texts != out.texts


def test_augment_for_leaves_data_alone_when_off_and_adds_copies_when_on(tiny_bert):
    data = LabelledText(["a fine film", "dull"], None, ["1", "0"], {"0": "negative", "1": "positive"})
    tokenizer = load_tokenizer(str(tiny_bert))
    assert augment_for(AugmentConfig(), data, tokenizer, seed=0) is data
    out = augment_for(AugmentConfig(augment=2), data, tokenizer, seed=0)
    assert len(out) == 6 and out.texts[:2] == data.texts


def test_teacher_labels_only_the_augmented_rows():
    labels = [1, 0, 1, 1]
    logits = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, -1.0], [-3.0, 3.0]])
    teacher_labelled(labels, logits, originals=2)
    assert labels == [1, 0, 0, 1]


@pytest.mark.parametrize("copies, fraction, message", [
    (-1, 0.15, "--augment must be at least 0, got -1"),
    (1, 0.0, "--augment-fraction must be above 0 and at most 1, got 0.0"),
    (1, 1.5, "--augment-fraction must be above 0 and at most 1, got 1.5"),
])
def test_bad_augmentation_settings_are_refused(copies, fraction, message):
    with pytest.raises(CompressError) as error:
        AugmentConfig(augment=copies, augment_fraction=fraction)
    assert str(error.value) == message


def _tsv(path, header, *rows):
    path.write_text("\n".join(["\t".join(header), *("\t".join(r) for r in rows)]) + "\n")
    return str(path)


def test_unlabelled_rows_follow_the_training_rows_without_the_held_out_ones(tmp_path):
    data = LabelledText(["a fine film", "dull"], None, ["1", "0"], {"0": "negative", "1": "positive"}, "train",
                        ["train#0", "train#1"])
    validation = LabelledText(["Quite  Moving "], None, ["1"])
    test = LabelledText(["a mess"], None, ["0"])
    first = _tsv(tmp_path / "a.tsv", ["index", "sentence"], ["0", "quite moving"], ["1", "warm and funny"])
    second = _tsv(tmp_path / "b.tsv", ["text"], ["A MESS"], ["slow going"], ["dull"])
    config = AugmentConfig(unlabelled=[first, second])
    out, dropped = with_unlabelled(config, data, Columns(), (validation, test))
    assert out.texts == ["a fine film", "dull", "warm and funny", "slow going", "dull"] and dropped == 2
    assert out.labels == ["1", "0", "1", "1", "1"], "placeholders of a training label, for encoding only"
    assert out.pairs is None and out.ids[:2] == data.ids and len(out.ids) == 5
    assert with_unlabelled(AugmentConfig(), data, Columns(), (validation, test)) == (data, 0)


def test_unlabelled_pairs_need_a_pair_task_and_the_other_way_round(tmp_path):
    pairs = _tsv(tmp_path / "pairs.tsv", ["sentence1", "sentence2"], ["it rains", "it is wet"])
    single = _tsv(tmp_path / "single.tsv", ["sentence"], ["it rains"])
    task = LabelledText(["x"], None, ["1"])
    pair_task = LabelledText(["x"], ["y"], ["1"])
    with pytest.raises(CompressError, match="pairs.tsv: pairs of texts, where the task has single texts"):
        with_unlabelled(AugmentConfig(unlabelled=[pairs]), task, Columns(), ())
    with pytest.raises(CompressError, match="single.tsv: single texts, where the task has pairs"):
        with_unlabelled(AugmentConfig(unlabelled=[single]), pair_task, Columns(), ())
    out, _ = with_unlabelled(AugmentConfig(unlabelled=[pairs]), pair_task, Columns(), (pair_task,))
    assert out.pairs == ["y", "it is wet"]
