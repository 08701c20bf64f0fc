"""Stage modules callable as their stage: `compress.finetune(config, output_dir)` runs compress.finetune.finetune.

Once a submodule is imported, the package attribute of its name is that module, so a stage function cannot also
be `compress.<stage>`; the stage's module is made callable instead, and stays a module for everything else.
"""

from __future__ import annotations

import sys
import types
from typing import Any


class StageModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run this module's stage function (the function named like the module)."""
        return getattr(self, self.__name__.rpartition(".")[2])(*args, **kwargs)


def callable_stage(name: str) -> None:
    """Make module `name` callable as its function of the same name; a stage module calls it on itself last."""
    sys.modules[name].__class__ = StageModule
