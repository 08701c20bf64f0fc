"""compress.core.artifacts: output directories appear whole or not at all, content hashes, manifests."""

import dataclasses
import hashlib
import json
import os
import socket
import subprocess
import sys

import pytest

from compress.core.artifacts import MANIFEST, atomic_output_dir, hash_path, read_manifest, write_manifest
from compress.core.errors import CompressError
from compress.stages.finetune import FinetuneConfig


def leftovers(parent):
    return sorted(p.name for p in parent.iterdir())


def test_atomic_output_dir_appears_only_when_the_block_finishes(tmp_path):
    out = tmp_path / "model"
    with atomic_output_dir(out) as tmp:
        (tmp / "weights").write_text("w")
        assert not out.exists(), "the final directory must not exist while it is being written"
        assert tmp.parent == tmp_path and tmp.name.startswith(".model.tmp-")
    assert (out / "weights").read_text() == "w"
    assert leftovers(tmp_path) == ["model"]


def test_atomic_output_dir_creates_missing_parents(tmp_path):
    with atomic_output_dir(tmp_path / "a" / "b" / "model") as tmp:
        (tmp / "f").write_text("x")
    assert (tmp_path / "a" / "b" / "model" / "f").exists()


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_atomic_output_dir_leaves_nothing_behind_on_an_exception(tmp_path, error):
    with pytest.raises(type(error)):
        with atomic_output_dir(tmp_path / "model") as tmp:
            (tmp / "half-written").write_text("x")
            raise error
    assert leftovers(tmp_path) == []


def test_atomic_output_dir_refuses_an_existing_directory_without_overwrite(tmp_path):
    out = tmp_path / "model"
    out.mkdir()
    (out / "old").write_text("keep me")
    with pytest.raises(CompressError, match="already exists .*--overwrite"):
        with atomic_output_dir(out):
            pytest.fail("the block must not run")
    assert (out / "old").read_text() == "keep me"
    assert leftovers(tmp_path) == ["model"]


def test_atomic_output_dir_with_overwrite_replaces_the_old_contents(tmp_path):
    out = tmp_path / "model"
    out.mkdir()
    (out / "old").write_text("stale")
    with atomic_output_dir(out, overwrite=True) as tmp:
        (tmp / "new").write_text("fresh")
    assert leftovers(out) == ["new"]
    assert leftovers(tmp_path) == ["model"]


def test_failed_overwrite_keeps_the_old_directory(tmp_path):
    out = tmp_path / "model"
    out.mkdir()
    (out / "old").write_text("still here")
    with pytest.raises(RuntimeError):
        with atomic_output_dir(out, overwrite=True) as tmp:
            (tmp / "new").write_text("x")
            raise RuntimeError
    assert leftovers(out) == ["old"]
    assert leftovers(tmp_path) == ["model"]


WRITER = """
import sys, time
from compress.core.artifacts import atomic_output_dir
with atomic_output_dir(sys.argv[1]) as tmp:
    (tmp / "half-written").write_text("x")
    print("writing", flush=True)
    time.sleep(120)
"""


def test_a_writer_killed_with_sigkill_leaves_no_artifact_and_the_next_writer_clears_its_leftover(tmp_path):
    out = tmp_path / "model"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(out)], stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "writing"
    writer.kill()
    writer.wait(timeout=30)
    (leftover,) = leftovers(tmp_path)
    assert leftover.startswith(".model.tmp-"), "only a temporary name, never the artifact's own"
    with atomic_output_dir(out) as tmp:
        (tmp / "whole").write_text("w")
    assert leftovers(tmp_path) == ["model"] and leftovers(out) == ["whole"]


def test_the_temporary_directory_of_a_writer_still_running_is_left_alone(tmp_path):
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = socket.gethostname()
    running, dead = (tmp_path / f".model.tmp-{host}-{pid}-abc" for pid in (os.getppid(), done.stdout.strip()))
    running.mkdir()
    dead.mkdir()
    with atomic_output_dir(tmp_path / "model"):
        pass
    assert leftovers(tmp_path) == sorted([running.name, "model"])


def test_hash_of_a_file_is_its_sha256(tmp_path):
    file = tmp_path / "f.bin"
    file.write_bytes(b"abc" * 1000)
    assert hash_path(file) == hashlib.sha256(b"abc" * 1000).hexdigest()


def make_tree(root, weights=b"weights"):
    (root / "sub").mkdir(parents=True)
    (root / "config.json").write_text("{}")
    (root / "sub" / "model.safetensors").write_bytes(weights)
    return root


def test_hash_of_a_directory_is_stable_and_independent_of_its_location(tmp_path):
    a, b = make_tree(tmp_path / "a"), make_tree(tmp_path / "b")
    assert hash_path(a) == hash_path(a) == hash_path(b)


def test_hash_of_a_directory_changes_with_any_byte_or_file_name(tmp_path):
    base = hash_path(make_tree(tmp_path / "a"))
    assert hash_path(make_tree(tmp_path / "b", weights=b"weightz")) != base
    renamed = make_tree(tmp_path / "c")
    (renamed / "config.json").rename(renamed / "config2.json")
    assert hash_path(renamed) != base
    extra = make_tree(tmp_path / "d")
    (extra / "extra.txt").write_text("")
    assert hash_path(extra) != base


def test_hash_of_a_directory_ignores_its_own_manifest(tmp_path):
    root = make_tree(tmp_path / "a")
    before = hash_path(root)
    (root / MANIFEST).write_text('{"created": "now"}')
    assert hash_path(root) == before


def test_manifest_records_inputs_with_hashes_settings_metrics_and_versions(tmp_path):
    parent = make_tree(tmp_path / "parent")
    out = tmp_path / "out"
    out.mkdir()
    written = write_manifest(out, "finetune", {"model": parent, "data": tmp_path / "absent.tsv"},
                             FinetuneConfig(epochs=1.0), {"eval": {"accuracy": 0.9}}, started=0.0)
    on_disk = json.loads((out / MANIFEST).read_text())
    assert on_disk == written == read_manifest(out)
    assert on_disk["stage"] == "finetune"
    assert on_disk["inputs"]["model"] == {"path": os.path.relpath(parent), "sha256": hash_path(parent)}
    assert on_disk["inputs"]["data"]["sha256"] is None
    assert on_disk["settings"] == dataclasses.asdict(FinetuneConfig(epochs=1.0))
    assert on_disk["metrics"] == {"eval": {"accuracy": 0.9}}
    assert {"python", "compress", "torch", "transformers"} <= set(on_disk["versions"])


def test_read_manifest_of_a_directory_without_one_is_none(tmp_path):
    assert read_manifest(tmp_path) is None


def test_files_written_private_become_readable_like_any_new_file(tmp_path):
    # safetensors (under transformers 5) writes the weights through a 0600 temporary file.
    umask = os.umask(0o022)
    try:
        with atomic_output_dir(tmp_path / "model") as tmp:
            (tmp / "model.safetensors").write_bytes(b"weights")
            (tmp / "model.safetensors").chmod(0o600)
            (tmp / "config.json").write_text("{}")
    finally:
        os.umask(umask)
    assert {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "model").iterdir()} == {
        "model.safetensors": 0o644, "config.json": 0o644}
