"""compress: distil, prune, quantize and export fine-tuned BERT classifiers, and measure each step.

Every command a recipe can run (the stages, search, predict, bench), its settings class, the serving loader and the
recipe runner, under stable names read from the command registry (compress.core.registry). A stage is called with
its settings and an output directory and returns the manifest it wrote; names load on first use, so
`import compress` stays light. For example:

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

from compress.core.artifacts import VERSION as __version__  # noqa: F401  (re-exported)

_EXTRAS = {"load": "compress.core.serving", "Classifier": "compress.core.serving",
           "CompressError": "compress.core.errors", "run_recipe": "compress.engine.recipe"}


def _commands() -> dict[str, Any]:
    """Each command a recipe can run, by name, and its settings class, by class name."""
    from compress.engine.commands import commands

    names: dict[str, Any] = {}
    for command in commands().values():
        if command.in_recipes:
            names[command.name] = command.run
            names[command.settings.__name__] = command.settings
    return names


def __getattr__(name: str) -> Any:
    if name == "__all__":
        return ["__version__", *_commands(), *_EXTRAS]
    if name in _EXTRAS:
        return getattr(importlib.import_module(_EXTRAS[name]), name)
    names = _commands()
    if name not in names:
        raise AttributeError(f"module 'compress' has no attribute {name!r}")
    return names[name]


def __dir__() -> list[str]:
    return sorted(__getattr__("__all__"))
