"""Artifact directories: atomic creation, content hashes and the manifest that records lineage."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

from compress import __version__
from compress.errors import CompressError
from compress.paths import portable_path

MANIFEST = "manifest.json"
_LIBRARIES = ("torch", "transformers", "optimum", "optimum-onnx", "onnx", "onnxruntime", "onnxruntime-gpu",
              "torch-pruning", "accelerate", "datasets", "numpy")


def check_output_dir(path: Path, overwrite: bool) -> None:
    """Fail before any work when the destination exists and the user did not ask to replace it."""
    if path.exists() and not overwrite:
        raise CompressError(f"output directory {path} already exists (pass --overwrite to replace it)")


@contextlib.contextmanager
def atomic_output_dir(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling directory that becomes `path` only if the block finishes.

    On any exception, Ctrl-C included, the temporary directory is removed, so a failed stage never
    leaves a half-written artifact where a later stage would pick it up.
    """
    final = Path(path)
    check_output_dir(final, overwrite)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; the artifact should be as readable as any new folder
    try:
        yield tmp
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def hash_path(path: str | os.PathLike) -> str:
    """sha256 over a file, or over a directory's files (relative names and bytes, sorted), manifest excluded."""
    root = Path(path)
    digest = hashlib.sha256()
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST)
    for file in files:
        if root.is_dir():
            digest.update(str(file.relative_to(root)).encode() + b"\0")
        with open(file, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "compress": __version__}
    for name in _LIBRARIES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[name] = importlib.metadata.version(name)
    return versions


def write_manifest(directory: Path, stage: str, inputs: dict[str, str | Path], settings: dict[str, Any],
                   metrics: dict[str, Any], started: float, roles: dict[str, Any] | None = None) -> dict[str, Any]:
    """Record what made this artifact: parent inputs with content hashes, resolved settings, the data roles
    it read (sizes and row-id hashes), figures."""
    manifest = {
        "stage": stage,
        "inputs": {name: {"path": portable_path(p), "sha256": hash_path(p) if Path(p).exists() else None}
                   for name, p in inputs.items()},
        "settings": settings,
        **({"data_roles": roles} if roles else {}),
        "metrics": metrics,
        "versions": library_versions(),
        "wall_time_s": round(time.time() - started, 2),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    return manifest


def read_manifest(directory: str | os.PathLike) -> dict[str, Any] | None:
    file = Path(directory) / MANIFEST
    return json.loads(file.read_text()) if file.exists() else None
