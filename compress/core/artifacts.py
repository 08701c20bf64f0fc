"""Artifact directories: atomic creation, content hashes and the manifest that records lineage."""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import hashlib
import importlib.metadata
import json
import os
import platform
import shutil
import socket
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

from compress.core.errors import CompressError
from compress.core.paths import portable_path

# The toolkit's version has one home, pyproject.toml; manifests and cache keys record it.
VERSION = importlib.metadata.version("compress")

MANIFEST = "manifest.json"
_LIBRARIES = ("torch", "transformers", "optimum", "optimum-onnx", "onnx", "onnxruntime", "onnxruntime-gpu",
              "accelerate", "datasets", "numpy", "torch-pruning")


def check_output_dir(path: Path, overwrite: bool) -> None:
    """Fail before any work when the destination exists and the user did not ask to replace it."""
    if path.exists() and not overwrite:
        raise CompressError(f"output directory {path} already exists (pass --overwrite to replace it)")


@contextlib.contextmanager
def atomic_output_dir(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling directory that becomes `path` only if the block finishes.

    On any exception, Ctrl-C included, the temporary directory is removed, so a failed stage never
    leaves a half-written artifact where a later stage would pick it up. A kill -9 cannot be caught: its
    temporary directory stays, under a name no reader takes for the artifact, until the next writer of
    `path` removes it.
    """
    final = Path(path)
    check_output_dir(final, overwrite)
    final.parent.mkdir(parents=True, exist_ok=True)
    prefix = temporary_prefix(final)
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=final.parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; the artifact should be as readable as any new folder
    aside = None
    try:
        yield tmp
        # Libraries that write through temporary files (safetensors under transformers 5) leave them 0600: the
        # artifact's files get the mode any new file gets, so other users of a shared model folder can read them.
        for file in tmp.rglob("*"):
            if file.is_file() and not file.is_symlink():
                file.chmod(0o666 & ~umask)
        if final.exists():
            # Moved aside in one step: deleted in place, a kill midway would leave a partial `path` behind.
            aside = final.parent / f"{prefix}replaced-{uuid.uuid4().hex[:8]}"
            os.replace(final, aside)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if aside is not None and not final.exists():
            os.replace(aside, final)
        raise
    if aside is not None:
        _remove(aside)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, newline: str | None = None) -> Iterator[Any]:
    """A text file open for writing beside `path`, renamed onto it once complete: a failure, Ctrl-C or kill -9
    leaves no partial file (the next writer removes a killed one's temporary file)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=temporary_prefix(target), dir=target.parent)
    try:
        with os.fdopen(fd, "w", newline=newline, encoding="utf-8") as fh:
            yield fh
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def temporary_prefix(final: Path) -> str:
    """The name prefix of this process's temporary siblings of `final`, once those of killed writers are removed.

    The prefix names the host and the process, so that a writer can tell what a process that no longer runs
    left (kill -9 and power loss skip every clean-up) from the work in progress of one that still runs.
    """
    host = f".{final.name}.tmp-{socket.gethostname()}-"
    for leftover in final.parent.glob(glob.escape(host) + "*"):
        pid = leftover.name[len(host):].partition("-")[0]
        if pid.isdigit() and not _running(int(pid)):
            _remove(leftover)
    return f"{host}{os.getpid()}-"


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


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
    versions = {"python": platform.python_version(), "compress": VERSION}
    for name in _LIBRARIES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[name] = importlib.metadata.version(name)
    return versions


def write_manifest(directory: Path, stage: str, inputs: dict[str, str | Path], settings: Any,
                   metrics: dict[str, Any], started: float, roles: dict[str, Any] | None = None) -> dict[str, Any]:
    """Record what made this artifact: parent inputs with content hashes, the resolved settings the stage reads
    (not the shared fields it leaves unused), the data roles it read (sizes and row-id hashes), figures."""
    manifest = {
        "stage": stage,
        "inputs": {name: {"path": portable_path(p), "sha256": hash_path(p) if Path(p).exists() else None}
                   for name, p in inputs.items()},
        "settings": {k: v for k, v in dataclasses.asdict(settings).items() if k not in getattr(settings, "unused", ())},
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


def ancestors(path: str | os.PathLike) -> Iterator[tuple[Path, dict[str, Any] | None]]:
    """A model and the models it was made from, newest first, each with its manifest; one without a manifest (a
    source checkpoint, a hub id) ends the chain."""
    current, seen = Path(path), set()
    while current not in seen:
        seen.add(current)
        manifest = read_manifest(current) if current.is_dir() else None
        yield current, manifest
        parent = (manifest or {}).get("inputs", {}).get("model", {}).get("path")
        if not parent:
            return
        current = Path(parent)
