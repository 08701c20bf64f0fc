"""Loading a model the toolkit wrote, for serving: a PyTorch checkpoint or an ONNX model, with its tokenizer and
labels, under the session settings its figures were measured with (a fixed thread count; on CPU, ONNX Runtime's
re-fusion of the residual Add + LayerNorm disabled, see compress.core.onnx_model.session)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from compress.core.batching import Features, featurize
from compress.core.data import LabelledText, LabelSpace
from compress.core.errors import CompressError
from compress.core.onnx_model import is_onnx_model, onnx_logits, session


def model_dir(path: str | os.PathLike) -> Path:
    """The directory of a model given as its directory or as its .onnx file."""
    p = Path(path)
    return p.parent if p.is_file() else p


def label_space(path: str | os.PathLike) -> LabelSpace:
    """The labels a model directory (PyTorch or ONNX) predicts, from its config.json."""
    config = model_dir(path) / "config.json"
    if not config.exists():
        raise CompressError(f"{model_dir(path)} has no config.json, so its labels are unknown")
    return LabelSpace.from_id2label(json.loads(config.read_text())["id2label"])


class Classifier:
    """A model ready to serve: `probabilities(texts, pairs)` gives one row of class probabilities per text.

    ONNX Runtime's intra-op threads spin between runs, its own default and what the search times candidates
    with (compress search --ort-spinning)."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None, allow_pickle: bool = False,
                 spinning: bool = True, revision: str | None = None):
        from compress.core.models import load_tokenizer, resolve_model

        # A directory the toolkit wrote, or a PyTorch checkpoint on the hub.
        self.path = Path(path) if Path(path).exists() else Path(resolve_model(path, allow_pickle, revision))
        self.tokenizer = load_tokenizer(str(model_dir(self.path)))
        self.labels = label_space(self.path)
        self.backend = "onnxruntime" if is_onnx_model(self.path) else "pytorch"
        if self.backend == "onnxruntime":
            self._session = session(self.path, threads, spinning=spinning)
        else:
            import torch

            from compress.core.models import load_classifier

            if threads:
                torch.set_num_threads(threads)
            self._model = load_classifier(str(self.path), None, allow_pickle).eval()

    @property
    def pad_id(self) -> int:
        return self.tokenizer.pad_token_id or 0

    def features(self, data: LabelledText, max_length: int = 128) -> Features:
        return featurize(self.tokenizer, data, self.labels, max_length)

    def logits(self, features: Features, batch_size: int = 32, progress: str | None = None) -> np.ndarray:
        """Logits in row order; batches are length-sorted, so each pads little. `progress` names a progress bar."""
        if self.backend == "onnxruntime":
            return onnx_logits(self._session, features, self.pad_id, batch_size, progress)
        from compress.core.inference import predict_logits

        return predict_logits(self._model, features, self.pad_id, batch_size, progress=progress)

    def probabilities(self, texts: Sequence[str], pairs: Sequence[str] | None = None, batch_size: int = 32,
                      max_length: int = 128) -> np.ndarray:
        data = LabelledText(list(texts), list(pairs) if pairs is not None else None, [])
        return softmax(self.logits(self.features(data, max_length), batch_size))


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(-1, keepdims=True))
    return shifted / shifted.sum(-1, keepdims=True)


def load(path: str | os.PathLike, threads: int | None = None, allow_pickle: bool = False,
         revision: str | None = None) -> Classifier:
    """A model directory the toolkit wrote (PyTorch checkpoint or ONNX) or a hub model id, loaded for serving."""
    return Classifier(path, threads, allow_pickle, revision=revision)
