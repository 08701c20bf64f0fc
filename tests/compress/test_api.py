"""The Python API: `import compress` is light, every exported name resolves, and a chain of stages runs through it."""

from __future__ import annotations

import subprocess
import sys
import types

import numpy as np

import compress


def test_importing_the_package_does_not_import_torch():
    code = "import sys, compress; compress.__version__; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_every_exported_name_resolves_and_each_command_a_recipe_runs_is_callable_with_its_settings():
    from compress.engine.commands import commands

    for name in compress.__all__:
        assert getattr(compress, name) is not None, name
    for name in ("finetune", "distill", "prune", "analyze", "export", "quantize", "search", "predict", "bench"):
        assert getattr(compress, name) is commands()[name].run, name
        assert getattr(compress, commands()[name].settings.__name__) is commands()[name].settings
    assert isinstance(compress.stages.distill, types.ModuleType), "the stage's module stays a module"
    assert compress.stages.distill.distill is compress.distill


def test_a_chain_of_stages_through_the_api(tiny_bert, tmp_path, data_dir):
    data = dict(max_train_examples=64, max_eval_examples=16)
    tuned = compress.finetune(compress.FinetuneConfig(model=str(tiny_bert), max_steps=2, batch_size=8, max_length=32,
                                                      **data), tmp_path / "tuned")
    assert tuned["stage"] == "finetune"
    compress.export(compress.ExportConfig(model=str(tmp_path / "tuned"), max_eval_examples=8,
                                          parity_batch_sizes=[4]), tmp_path / "onnx")
    compress.quantize(compress.QuantizeConfig(model=str(tmp_path / "onnx"), max_eval_examples=16), tmp_path / "int8")
    classifier = compress.load(tmp_path / "int8")
    probabilities = classifier.probabilities(["a gripping, funny film", "dull and far too long"])
    assert probabilities.shape == (2, 2) and np.allclose(probabilities.sum(1), 1.0, atol=1e-5)
    assert classifier.labels.names == ("negative", "positive")
