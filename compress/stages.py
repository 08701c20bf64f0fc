"""The stage registry: every stage the command line offers and a recipe can run, in one place.

Both the CLI and the recipe runner read this table; adding a stage means adding its entry here. Entries
name modules rather than import them, so that `compress --help` stays fast and `eval.bench` is loaded only
by the top-level callers that may use it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Stage:
    """One stage: where it lives, what it takes and makes, and how the command line describes it."""

    module: str
    config: str                  # its settings class
    function: str                # (settings, output_dir, overwrite) -> manifest; bench: (models, settings) -> record
    input_field: str             # settings field that receives the input model's path ("" for bench)
    accepts: tuple[str, ...]     # kinds of model it takes: "hf" checkpoints or "onnx" graphs
    produces: str                # "hf", "onnx", "table" or "record"
    help: str                    # one line in `compress --help`
    description: str             # the paragraph at the top of `compress STAGE --help`
    writes: str = ""             # what --output receives
    summary: str = ""            # module function turning the manifest's metrics into the text printed at the end

    def load(self) -> tuple[type, Callable]:
        module = importlib.import_module(self.module)
        return getattr(module, self.config), getattr(module, self.function)

    def summarize(self, metrics: dict[str, Any]) -> str | None:
        return getattr(importlib.import_module(self.module), self.summary)(metrics) if self.summary else None


STAGES: dict[str, Stage] = {
    "finetune": Stage(
        "compress.finetune", "FinetuneConfig", "finetune", "model", ("hf",), "hf",
        "fine-tune a BERT-family checkpoint as a text classifier",
        "Fine-tune a checkpoint on labelled text; the best epoch on the validation role is kept. Runs "
        "data-parallel under torchrun or accelerate launch.", "fine-tuned model"),
    "distill": Stage(
        "compress.distill", "DistillConfig", "distill", "teacher", ("hf",), "hf",
        "distil a fine-tuned classifier into a student with fewer layers",
        "Distil a fine-tuned teacher into a student cut from its own layers, on hard labels, soft targets and "
        "optionally hidden states and attentions. Runs data-parallel under torchrun or accelerate launch.",
        "student model"),
    "prune": Stage(
        "compress.prune", "PruneConfig", "prune", "model", ("hf",), "hf",
        "remove attention heads, FFN neurons, layers, hidden channels or vocabulary, then recover accuracy",
        "Remove the least important heads, FFN neurons, layers and hidden channels in --steps steps, each followed "
        "by recovery training, and optionally the word pieces the training text never uses. The result reloads in "
        "plain transformers.", "pruned model"),
    "analyze": Stage(
        "compress.sensitivity", "AnalyzeConfig", "analyze", "model", ("hf",), "table",
        "measure the score lost when each head is masked or each layer removed",
        "Score the validation role with each attention head masked in turn and each encoder layer removed in "
        "turn; prints the table and writes it as sensitivity.json and sensitivity.md.", "sensitivity table",
        summary="sensitivity_markdown"),
    "export": Stage(
        "compress.export", "ExportConfig", "export", "model", ("hf",), "onnx",
        "export a fine-tuned checkpoint to ONNX, checked against PyTorch",
        "Export a checkpoint to ONNX with dynamic batch and sequence axes, optionally fused (--optimize) and in "
        "float16 (--fp16); fails when its logits differ from PyTorch's beyond the tolerance.", "ONNX model"),
    "quantize": Stage(
        "compress.quantize", "QuantizeConfig", "quantize", "model", ("onnx",), "onnx",
        "quantize an ONNX classifier to int8, guarded by its accuracy",
        "Quantize an exported ONNX model to int8, dynamic or static with calibration; with --max-accuracy-drop "
        "keeps the most sensitive parts in float32 until the validation score is within budget, or fails.",
        "quantized model"),
    "bench": Stage(
        "eval.bench", "BenchConfig", "bench", "", ("hf", "onnx"), "record",
        "measure accuracy, latency and memory of model variants side by side",
        "Bench variants side by side: each MODEL is an HF directory (optionally @fp32/@fp16/@bf16) or an ONNX "
        "file or directory (optionally @cpu/@cuda/@tensorrt). The first is the baseline every ratio refers to."),
}

MODEL_KINDS = {"hf": "a Hugging Face checkpoint", "onnx": "an ONNX model"}
