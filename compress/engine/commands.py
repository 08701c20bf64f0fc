"""Every command, read from the registry once the modules that define them are imported.

Each command registers itself at the end of its own module (compress.core.registry); this module only imports
those modules, and loads the installed plugins (the harness: bench, check, report). The command line, the recipe
runner and the Python API all read `commands()`.
"""

from __future__ import annotations

from compress.core.registry import COMMANDS, Command, load_plugins


def commands() -> dict[str, Command]:
    """The registry, with every command in it."""
    from compress.engine import recipe, search  # noqa: F401  (importing a module registers its command)
    from compress.stages import (  # noqa: F401
        analyze,
        distill,
        export,
        finetune,
        predict,
        prune,
        quantize,
    )
    load_plugins()

    return COMMANDS
