"""Envs written for SB3 whose ``reset`` takes no ``options``: ``def reset(self, seed=None)``.

SB3's ``DummyVecEnv`` passes ``options`` to ``reset`` only when some were set, so such envs run
there; Gymnasium's vector envs always pass ``options=...`` and would fail with a ``TypeError``.
:func:`accepting_reset_options` puts those envs (and only those) in :class:`ResetWithoutOptions`,
which drops ``options=None`` and refuses real options with a message that says what to add.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import partial
from typing import Any

import gymnasium as gym

from ballast.errors import ConfigurationError


def takes_reset_options(env: gym.Env) -> bool:
    """Whether the innermost env's ``reset`` accepts ``options`` (by name or through ``**kwargs``)."""
    try:
        parameters = inspect.signature(env.unwrapped.reset).parameters.values()
    except (TypeError, ValueError):  # a reset without a Python signature: leave it as it is
        return True
    return any(p.name == "options" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


class ResetWithoutOptions(gym.Wrapper):
    """Calls ``reset(seed=seed)`` on an env whose ``reset`` takes no ``options``; real options are an error."""

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        if options:
            name = type(self.env.unwrapped).__name__
            raise ConfigurationError(
                f"reset options {sorted(options)} were given, but {name}.reset takes no options argument; "
                f"define it as reset(self, seed=None, options=None) to receive them")
        return self.env.reset(seed=seed)


def with_reset_options(env: gym.Env) -> gym.Env:
    """``env`` itself when its ``reset`` takes ``options`` (or already drops them), else ``env`` in
    :class:`ResetWithoutOptions`."""
    layer: Any = env
    while isinstance(layer, gym.Wrapper):
        if isinstance(layer, ResetWithoutOptions):
            return env
        layer = layer.env
    return env if takes_reset_options(env) else ResetWithoutOptions(env)


def _make_with_reset_options(make: Callable[[], gym.Env]) -> gym.Env:
    return with_reset_options(make())


def accepting_reset_options(make: Callable[[], gym.Env]) -> Callable[[], gym.Env]:
    """The factory ``make`` whose envs accept ``options`` in ``reset`` (picklable when ``make`` is)."""
    return partial(_make_with_reset_options, make)
