"""compress.core.serving: PyTorch and ONNX model directories loaded for serving predict alike, pairs read as pairs."""

from __future__ import annotations

import os

import numpy as np
import pytest

from compress.core.data import read_texts
from compress.core.serving import load

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def sentences(data_dir):
    return [line.split("\t")[0] for line in (data_dir / "sst2" / "dev.tsv").read_text().splitlines()[1:41]]


def test_onnx_and_pytorch_directories_predict_alike(trained_tiny_bert, trained_tiny_onnx, sentences):
    torch_p = load(trained_tiny_bert).probabilities(sentences)
    onnx = load(trained_tiny_onnx)
    assert onnx.backend == "onnxruntime"
    onnx_p = onnx.probabilities(sentences, batch_size=7)
    np.testing.assert_allclose(onnx_p, torch_p, atol=1e-4)


def test_sentence_pairs_are_read_as_pairs(tiny_bert, tmp_path, data_dir):
    rows = (data_dir / "rte" / "dev.tsv").read_text().splitlines()[:6]
    data = tmp_path / "pairs.tsv"
    data.write_text("\n".join(rows) + "\n")
    classifier = load(tiny_bert)
    pairs = read_texts(str(data))
    assert pairs.pairs is not None and len(pairs) == 5 and pairs.labels
    features = classifier.features(pairs)
    assert all(1 in row["token_type_ids"] for row in features.encodings), "the second text is marked as such"




def test_a_directory_that_is_not_a_model_is_refused(tmp_path):
    from compress.core.errors import CompressError

    with pytest.raises(CompressError, match="not found"):
        load(tmp_path / "missing")
