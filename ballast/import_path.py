"""How checkpoints name user code: a registered name, or an import path ``"module:QualName"``.

Checkpoints name user code (encoder classes, auxiliary modules, policy classes, callable base
controllers, extra losses) by such a name instead of pickling it; loading looks the name up, or
imports the path, again. :data:`MODULE_CLASSES` is the one table of registered ``nn.Module``
classes: :func:`ballast.extensions.register_aux_module` and
:func:`ballast.encoders.register_features_extractor` both add to it, so a class defined in a script
(whose module is ``__main__``) or in a function can be saved once it is registered.
"""

from __future__ import annotations

import importlib
from typing import Any

from torch import nn

from ballast.errors import BallastError, ConfigurationError

#: Registered ``nn.Module`` classes by name (see the module docstring).
MODULE_CLASSES: dict[str, type[nn.Module]] = {}


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


def register_module_class(name: str, cls: type[nn.Module], register_with: str) -> type[nn.Module]:
    """Add ``cls`` to :data:`MODULE_CLASSES` under ``name`` (replacing what was there); returns ``cls``.

    ``register_with`` is the public function the user called, for the error message.
    """
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ConfigurationError(f"{register_with}({name!r}, ...) needs an nn.Module class, got {cls!r}")
    MODULE_CLASSES[name] = cls
    return cls


def class_reference(cls: type, what: str, register_with: str) -> str:
    """How a checkpoint names ``cls``: its registered name, else its import path.

    Raises :class:`ConfigurationError` now, rather than at loading, for a class that could not be
    found again: one defined in a function or in ``__main__`` (a script), or one whose import path
    leads elsewhere. ``what`` says what the class is for and ``register_with`` names the public
    registering function, both for the message.
    """
    for name, registered in MODULE_CLASSES.items():
        if registered is cls:
            return name
    advice = (f"define it at module level in an importable module, or register it with "
              f"{register_with}(name, cls) (run the registration again before loading)")
    if "<locals>" in cls.__qualname__ or cls.__module__ == "__main__":
        where = "in a function" if "<locals>" in cls.__qualname__ else "in __main__ (a script)"
        raise ConfigurationError(
            f"the {what} {cls.__qualname__} is defined {where}, so a saved model could not find it again; {advice}")
    path = path_of(cls)
    try:
        found = import_path(path)
    except (ImportError, AttributeError):
        found = None
    if found is not cls:
        raise ConfigurationError(f"the {what} {cls.__qualname__} cannot be imported back from {path!r}; {advice}")
    return path


def resolve_class(reference: str, what: str, register_with: str,
                  error: type[BallastError] = ConfigurationError) -> type[nn.Module]:
    """The ``nn.Module`` class named ``reference`` (a registered name or ``"module:QualName"``).

    Raises ``error`` saying what to import or register when it cannot be found.
    """
    if reference in MODULE_CLASSES:
        return MODULE_CLASSES[reference]
    module_name, _, qualname = reference.partition(":")
    if not qualname:
        raise error(
            f"no {what} is registered as {reference!r}; import the module that calls "
            f"{register_with}({reference!r}, cls) before loading"
        )
    try:
        obj = import_path(reference)
    except (ImportError, AttributeError) as err:
        raise error(
            f"the {what} {reference!r} cannot be imported ({err}); import or register it "
            f"({register_with}) before loading"
        ) from None
    if not (isinstance(obj, type) and issubclass(obj, nn.Module)):
        raise error(f"the {what} {reference!r} is not an nn.Module class")
    return obj
