"""Shared fixtures: real SST-2 slices from ../shared/datasets and tiny real BERTs cut from the default model.

Tests that read the data take the `data_dir` fixture, which fails (never skips) when the data is missing,
so a run without data cannot pass green with nothing tested; the tests that need no data still run.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Callable

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("COMPRESS_DATA_DIR") or ROOT.parent / "shared" / "datasets").resolve()


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """Tests check behaviour, not speed; one thread avoids thrashing when CPU cores are shared."""
    import torch

    torch.set_num_threads(1)


def data_found() -> bool:
    return (SHARED_DATA / "sst2").is_dir()


MISSING_DATA = (f"real SST-2 data not found at {SHARED_DATA}: set COMPRESS_DATA_DIR to the folder that holds sst2/ "
                "(the README's test command sets it to ../shared/datasets)")


def pytest_report_header(config) -> str:
    return f"data: {SHARED_DATA}" if data_found() else f"data: {MISSING_DATA}; the tests that read it fail"


@pytest.fixture(scope="session", autouse=True)
def environment():
    """No test reaches the network (a named dataset without a local copy fails at once, naming COMPRESS_DATA_DIR)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging as hf_logging

    # transformers 5 draws a bar on stderr for every checkpoint the tests themselves save, as the CLI does not.
    hf_logging.disable_progress_bar()
    if data_found():
        os.environ["COMPRESS_DATA_DIR"] = str(SHARED_DATA)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not data_found():
        pytest.fail(MISSING_DATA, pytrace=False)
    return SHARED_DATA


def cli(*args) -> list[str]:
    """The installed `compress` command with `args`, to run as a user does: in a subprocess, from any folder."""
    return [str(Path(sys.executable).parent / "compress"), *map(str, args)]


def cut_bert(directory: Path, layers: int, labels=None, seed: int = 0) -> Path:
    """The default MiniLM BERT reduced to `layers` evenly spaced layers ending at its last, with a fresh head.

    The last layer is kept because this sentence-embedding model's [CLS] vector only becomes
    input-dependent there; a cut of its first layers trains to the majority class.
    """
    import torch

    from compress.core.data import LabelSpace
    from compress.core.models import load_classifier, load_tokenizer, resolve_model

    torch.manual_seed(seed)
    labels = labels or LabelSpace(("0", "1"), ("negative", "positive"))
    model = load_classifier("default", labels)
    total = len(model.bert.encoder.layer)
    keep = [-(-(i + 1) * total // layers) - 1 for i in range(layers)]
    model.bert.encoder.layer = torch.nn.ModuleList(model.bert.encoder.layer[i] for i in keep)
    model.config.num_hidden_layers = layers
    model.save_pretrained(directory)
    load_tokenizer(resolve_model("default")).save_pretrained(directory)
    return directory


def built_once(tmp_path_factory, name: str, build: Callable[[Path], None]) -> Path:
    """Directory `name`, made by `build` once per test run: pytest-xdist's workers share the parent of their temporary
    roots, so the first worker to ask builds it there (a fine-tuning, an export) and the others wait and reuse it."""
    from filelock import FileLock

    root = tmp_path_factory.getbasetemp()
    root = root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root
    target, built = root / name, root / f"{name}.built"
    with FileLock(str(root / f"{name}.lock")):
        if not built.exists():
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir()
            build(target)
            built.touch()
    return target


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    """A 2-layer real BERT classifier (untrained head): small enough for fast CPU tests."""
    return built_once(tmp_path_factory, "tiny_base", lambda d: cut_bert(d, layers=2))


@pytest.fixture(scope="session")
def trained_tiny_bert(tmp_path_factory, data_dir) -> Path:
    """The 2-layer BERT fine-tuned briefly on a real SST-2 slice: clearly better than chance (about 0.7-0.8)."""
    from compress.stages.finetune import FinetuneConfig, finetune

    base = built_once(tmp_path_factory, "tiny_base", lambda d: cut_bert(d, layers=2))

    def build(directory: Path) -> None:
        finetune(FinetuneConfig(model=str(base), max_train_examples=1500, max_eval_examples=200, epochs=2,
                                batch_size=32, learning_rate=3e-4, max_length=64), directory / "model")

    return built_once(tmp_path_factory, "trained_tiny_bert", build) / "model"


@pytest.fixture(scope="session")
def trained_tiny_onnx(trained_tiny_bert, tmp_path_factory) -> Path:
    """The trained tiny BERT exported to ONNX."""
    from compress.stages.export import ExportConfig, export

    def build(directory: Path) -> None:
        export(ExportConfig(model=str(trained_tiny_bert), max_eval_examples=16), directory / "onnx")

    return built_once(tmp_path_factory, "trained_tiny_onnx", build) / "onnx"


HUB_COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def hub_cache(tiny_bert, tmp_path, monkeypatch):
    """A local hub cache holding `org/tiny` at main (the tiny BERT), laid out as huggingface_hub writes it, with the
    hub unreachable."""
    import huggingface_hub.constants

    repo = tmp_path / "hub" / "models--org--tiny"
    shutil.copytree(tiny_bert, repo / "snapshots" / HUB_COMMIT)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(HUB_COMMIT)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    return repo / "snapshots" / HUB_COMMIT
