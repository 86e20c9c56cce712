"""Objects named by an import path, ``"module:QualName"``.

Checkpoints name user code (encoder classes, policy classes, callable base controllers, extra losses)
by such a path instead of pickling it; loading imports the path again.
"""

from __future__ import annotations

import importlib
from typing import Any


def import_path(path: str) -> Any:
    """The object at ``"module:QualName"`` (dots allowed on both sides).

    Raises ``ImportError`` or ``AttributeError`` when the module or a name in it is missing; callers
    turn them into errors that say what the path was for.
    """
    module_name, _, qualname = path.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def path_of(obj: Any) -> str:
    """``"module:QualName"`` of a class or function, the form :func:`import_path` reads back."""
    return f"{obj.__module__}:{obj.__qualname__}"
