"""Keeping a model's training loop and an SB3-API view of the same vector env in step.

A model and the SB3-API env that ``model.get_env()`` returns step one Gymnasium vector env. Each
keeps its own idea of where the episodes are: the model its last observations
(``model.collection.observations``), the view its last reset. When one of them steps the env, the
other's idea is stale. The rule:

* the view, before it resets or steps, takes the env over: a model that had stepped it since is
  told to reset it before its next ``learn`` step (its last observations become None, which is what
  ``learn`` already reads as "reset first"), and the view resets the env before stepping it;
* a model that is inside ``learn`` (a callback stepping the view) is left alone, as SB3 leaves it.
"""

from __future__ import annotations

import weakref
from typing import Any


class SharedStepping:
    """The models that step the same vector env as an SB3-API view (held weakly)."""

    def __init__(self) -> None:
        self._models: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()

    def add_model(self, model: Any, env: Any) -> None:
        """Share the env with ``model``, whose ``model.env`` is ``env`` (the vector env the view steps)."""
        self._models[model] = env

    def take_over(self) -> bool:
        """Called before the view uses the env; True when a model stepped it since the view last did."""
        stepped_elsewhere = False
        for model, env in list(self._models.items()):
            collection = getattr(model, "collection", None)
            if getattr(model, "env", None) is not env or collection is None or collection.observations is None:
                continue
            stepped_elsewhere = True
            if getattr(model, "_callback", None) is None:
                collection.observations = None
        return stepped_elsewhere
