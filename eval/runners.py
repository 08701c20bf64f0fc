"""One interface over PyTorch eager and ONNX Runtime, so every variant is measured the same way.

A variant is named on the command line as PATH[@OPTION]: an HF model directory (OPTION: fp32,
fp16 or bf16) or an ONNX file/directory (OPTION: cpu, cuda or tensorrt, the execution provider).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from compress.core.errors import CompressError
from compress.core.onnx_model import is_onnx_model, onnx_file, onnx_logits, session
from compress.core.paths import portable_path
from compress.core.serving import label_space, model_dir

TORCH_PRECISIONS = ("fp32", "fp16", "bf16")
ORT_PROVIDERS = {"cpu": ["CPUExecutionProvider"],
                 "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
                 "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]}
INT8_OPS = {"MatMulInteger", "DynamicQuantizeMatMul", "QLinearMatMul", "QuantizeLinear", "DynamicQuantizeLinear",
            "QAttention", "QGemm", "MatMulIntegerToFloat"}


@dataclass(frozen=True)
class VariantSpec:
    path: Path
    option: str | None = None
    name: str | None = None

    @classmethod
    def parse(cls, text: str, name: str | None = None) -> "VariantSpec":
        path, _, option = text.partition("@")
        return cls(Path(path), option or None, name)

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        base = self.path.parent.name if self.path.suffix == ".onnx" else self.path.name
        return f"{base}@{self.option}" if self.option else base


class Runner:
    """Loaded model plus tokenizer; `run` executes one prepared batch, `logits` scores a dataset."""

    backend = ""

    def __init__(self, spec: VariantSpec, device: str):
        from compress.core.models import load_tokenizer

        self.spec, self.device = spec, device
        self.tokenizer = load_tokenizer(str(model_dir(spec.path)))
        self.labels = label_space(spec.path)

    @property
    def pad_id(self) -> int:
        return self.tokenizer.pad_token_id or 0

    def describe(self) -> dict[str, Any]:
        return {"name": self.spec.label, "path": portable_path(self.spec.path), "backend": self.backend,
                "device": self.device, "precision": self.precision}

    def prepare(self, batch: dict[str, np.ndarray]) -> Any:
        raise NotImplementedError

    def run(self, prepared: Any) -> None:
        raise NotImplementedError

    def logits(self, features, batch_size: int = 64) -> np.ndarray:
        raise NotImplementedError

    def close(self) -> None:
        """Release threads held between uses; reopened on next use (nothing to release for PyTorch)."""


class TorchRunner(Runner):
    backend = "pytorch"

    def __init__(self, spec: VariantSpec, device: str, allow_pickle: bool = False):
        import torch

        from compress.core.anatomy import input_names
        from compress.core.models import load_classifier

        super().__init__(spec, device)
        self.precision = spec.option or "fp32"
        if self.precision not in TORCH_PRECISIONS:
            raise CompressError(f"{spec.path}: PyTorch precision must be one of {', '.join(TORCH_PRECISIONS)}, "
                                f"got {self.precision!r}")
        if self.precision == "fp16" and device == "cpu":
            raise CompressError("fp16 PyTorch inference needs --device cuda (CPU kernels for fp16 are not served)")
        dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[self.precision]
        self.model = load_classifier(spec.path, allow_pickle=allow_pickle).to(device=device, dtype=dtype).eval()
        self.attention = getattr(self.model.config, "_attn_implementation", None)
        self.inputs = input_names(self.model)
        self._torch = torch

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "attention": self.attention}

    def prepare(self, batch):
        return {k: self._torch.as_tensor(v, device=self.device) for k, v in batch.items()
                if k in self.inputs}

    def run(self, prepared) -> None:
        with self._torch.inference_mode():
            self.model(**prepared)
        if self.device == "cuda":
            self._torch.cuda.synchronize()

    def logits(self, features, batch_size: int = 64) -> np.ndarray:
        from compress.core.inference import predict_logits

        with self._torch.inference_mode():
            return predict_logits(self.model, features, self.pad_id, batch_size, self.device)


class OrtRunner(Runner):
    backend = "onnxruntime"

    def __init__(self, spec: VariantSpec, device: str, threads: int | None, spinning: bool = False):
        super().__init__(spec, device)
        provider = spec.option or ("cuda" if device == "cuda" else "cpu")
        if provider not in ORT_PROVIDERS:
            raise CompressError(f"{spec.path}: ONNX Runtime provider must be one of {', '.join(ORT_PROVIDERS)}, "
                                f"got {provider!r}")
        self.provider = provider
        self.file = onnx_file(spec.path)  # session() validates it as a classifier
        # A partial, not a lambda over self: a runner in a reference cycle outlives its bench run, and with it
        # a spinning session that slows whatever is timed next.
        self._open = functools.partial(session, self.file, threads, ORT_PROVIDERS[provider], spinning=spinning)
        self._session = self._open()
        self.precision = onnx_precision(self.file)

    @property
    def session(self):
        if self._session is None:
            self._session = self._open()
        return self._session

    def close(self) -> None:
        """Drop the session and its thread pool (reopened on next use): an idle spinning pool that is
        still alive slowed a PyTorch model timed meanwhile by 3-39% here, even a second after its last run."""
        self._session = None

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "provider": self.session.get_providers()[0]}

    def prepare(self, batch):
        names = {i.name for i in self.session.get_inputs()}
        return {k: np.asarray(v, dtype=np.int64) for k, v in batch.items() if k in names}

    def run(self, prepared) -> None:
        self.session.run(["logits"], prepared)

    def logits(self, features, batch_size: int = 64) -> np.ndarray:
        return onnx_logits(self.session, features, self.pad_id, batch_size)


def onnx_precision(file: Path) -> str:
    """int8 when quantized operators are present, fp16 when weights are half precision, else fp32."""
    import onnx

    graph = onnx.load(str(file), load_external_data=False).graph
    if any(n.op_type in INT8_OPS for n in graph.node):
        return "int8"
    if any(t.data_type == onnx.TensorProto.FLOAT16 for t in graph.initializer):
        return "fp16"
    return "fp32"


def open_runner(spec: VariantSpec, device: str = "cpu", threads: int | None = None, spinning: bool = False,
                allow_pickle: bool = False) -> Runner:
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise CompressError("--device cuda, but no CUDA GPU is visible to this process")
    elif device != "cpu":
        raise CompressError(f"unknown device {device!r} (cpu or cuda)")
    if not spec.path.exists():
        raise CompressError(f"model {spec.path} not found")
    if is_onnx_model(spec.path):
        return OrtRunner(spec, device, threads, spinning)
    return TorchRunner(spec, device, allow_pickle)
