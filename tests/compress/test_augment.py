"""Augmentation: perturbed copies of each row, the words they draw from, and the teacher's labels for them."""

import numpy as np
import pytest

from compress.augment import AugmentConfig, augment_for, augmented, teacher_labelled, word_vocabulary
from compress.data import LabelledText
from compress.errors import CompressError
from compress.models import load_tokenizer


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
