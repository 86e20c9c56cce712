"""SB3's ``stable_baselines3.common.base_class`` path.

``BaseAlgorithm`` is Ballast's :class:`ballast.algos.Algorithm`, the class every algorithm derives
from, so ``isinstance(model, BaseAlgorithm)`` and type hints written for SB3 hold.
"""

from __future__ import annotations

import gymnasium as gym

from ballast.algos import Algorithm as BaseAlgorithm

__all__ = ["BaseAlgorithm", "maybe_make_env"]


def maybe_make_env(env: gym.Env | str | None, verbose: int) -> gym.Env | None:
    """``gym.make(env)`` when ``env`` is an env id, else ``env`` itself."""
    if isinstance(env, str):
        if verbose >= 1:
            print(f"Creating environment from the given name '{env}'")
        return gym.make(env)
    return env
