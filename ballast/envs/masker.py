"""``ActionMasker``: give any env an ``action_masks()`` method, as sb3-contrib's wrapper of that name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from ballast.errors import ConfigurationError


class ActionMasker(gym.Wrapper):
    """Adds ``action_masks()`` to ``env``, computed by ``mask_fn``.

    ``action_mask_fn`` (sb3-contrib's name) is a function of the env (``action_mask_fn(env) -> mask``)
    or the name of a method of the env that returns the mask. The mask holds one entry per action
    choice, true where the action is valid (see :mod:`ballast.masking` for the form each action
    space takes). PPO, A2C, ``predict`` users and :func:`ballast.evaluate_policy` read it through
    the vector env.

        env = ActionMasker(gym.make("MyEnv-v0"), lambda env: env.unwrapped.valid_actions())
    """

    def __init__(self, env: gym.Env, action_mask_fn: Callable[[gym.Env], Any] | str) -> None:
        super().__init__(env)
        mask_fn = action_mask_fn
        if isinstance(mask_fn, str):
            method = getattr(env.unwrapped, mask_fn, None)
            if not callable(method):
                raise ConfigurationError(
                    f"ActionMasker got the method name {mask_fn!r}, but {type(env.unwrapped).__name__} has no such "
                    "method; pass the name of a method of the env or a function mask_fn(env) -> mask")
            self._mask_fn: Callable[[gym.Env], Any] = lambda _env: method()
        elif callable(mask_fn):
            self._mask_fn = mask_fn
        else:
            raise ConfigurationError(
                f"ActionMasker needs a function mask_fn(env) -> mask or a method name, got {type(mask_fn).__name__}")

    def action_masks(self) -> np.ndarray:
        """The mask of the valid actions in the env's current state."""
        return np.asarray(self._mask_fn(self.env))
