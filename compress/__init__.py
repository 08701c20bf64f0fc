"""compress: distil, prune, quantize and export fine-tuned BERT classifiers, and measure each step.

The stages, the harness and the serving loader, under stable names. Each stage is called with its settings and
an output directory and returns the manifest it wrote (`compress.finetune` is the stage's module, callable as
its function: see compress.api); names load on first use, so `import compress` stays light. For example:

    import compress

    compress.finetune(compress.FinetuneConfig(data="sst2", epochs=1), "artifacts/teacher")
    compress.export(compress.ExportConfig(model="artifacts/teacher", optimize=True), "artifacts/onnx")
    compress.quantize(compress.QuantizeConfig(model="artifacts/onnx"), "artifacts/int8")
    classifier = compress.load("artifacts/int8")
    classifier.probabilities(["a gripping, funny film"])
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "finetune": "compress.finetune", "FinetuneConfig": "compress.finetune",
    "distill": "compress.distill", "DistillConfig": "compress.distill",
    "prune": "compress.prune", "PruneConfig": "compress.prune",
    "analyze": "compress.sensitivity", "AnalyzeConfig": "compress.sensitivity",
    "export": "compress.export", "ExportConfig": "compress.export",
    "quantize": "compress.quantize", "QuantizeConfig": "compress.quantize",
    "search": "compress.search", "SearchConfig": "compress.search",
    "predict": "compress.predict", "PredictConfig": "compress.predict",
    "load": "compress.serving", "Classifier": "compress.serving",
    "run_recipe": "compress.recipe",
    "bench": "eval.bench", "BenchConfig": "eval.bench",
    "CompressError": "compress.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'compress' has no attribute {name!r}")
    module = importlib.import_module(_EXPORTS[name])
    # A stage named like its module is the (callable) module itself, which importing it has just bound here.
    return globals()[name] if module.__name__ == f"{__name__}.{name}" else getattr(module, name)


def __dir__() -> list[str]:
    return sorted(__all__)
