"""The time feature: how much of the episode's time limit is left, appended to the observation.

A policy that does not see the clock cannot tell a state near the time limit from the same state at
the start, so its value estimates mix the two; appending ``1 - t / max_steps`` (1 at reset, 0 at the
limit) makes the truncation predictable (Pardo et al., 2018, "Time Limits in Reinforcement Learning").
This is sb3-contrib's ``TimeFeatureWrapper`` under its name and keywords: the rl-baselines3-zoo wraps
its Fetch and MuJoCo entries in it.

For a ``Dict`` observation (goal-conditioned envs) the feature goes at the end of the ``"observation"``
entry, so ``achieved_goal`` and ``desired_goal`` stay as the env's ``compute_reward`` expects them.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ballast.errors import ConfigurationError

#: The key of a ``Dict`` observation the feature is appended to.
OBSERVATION_KEY = "observation"


def _with_time_feature(space: spaces.Space, where: str) -> spaces.Box:
    if not isinstance(space, spaces.Box) or len(space.shape) != 1:
        raise ConfigurationError(f"TimeFeatureWrapper needs a flat Box observation{where}, got {space}: wrap an "
                                 "env with vector observations (or a Dict with an 'observation' vector)")
    low = np.concatenate([space.low, np.zeros(1, dtype=space.dtype)])
    high = np.concatenate([space.high, np.ones(1, dtype=space.dtype)])
    return spaces.Box(low=low, high=high, dtype=space.dtype)


class TimeFeatureWrapper(gym.Wrapper):
    """Append ``1 - t / max_steps`` to each observation (``t`` steps since reset).

    ``max_steps`` is the env's registered time limit (``env.spec.max_episode_steps``) when it has one,
    else the ``max_steps`` given. ``test_mode=True`` keeps the feature at 1 (sb3-contrib's switch to
    stop a trained policy from relying on the clock when evaluated without a time limit).
    """

    def __init__(self, env: gym.Env, max_steps: int = 1000, test_mode: bool = False) -> None:
        super().__init__(env)
        space = env.observation_space
        if isinstance(space, spaces.Dict):
            if OBSERVATION_KEY not in space.spaces:
                raise ConfigurationError(f"TimeFeatureWrapper on a Dict observation needs an {OBSERVATION_KEY!r} key; "
                                         f"the env has {sorted(space.spaces)}")
            entries = dict(space.spaces)
            entries[OBSERVATION_KEY] = _with_time_feature(space[OBSERVATION_KEY], f" under {OBSERVATION_KEY!r}")
            self.observation_space = spaces.Dict(entries)
        else:
            self.observation_space = _with_time_feature(space, "")
        spec_limit = env.spec.max_episode_steps if env.spec is not None else None
        self.max_steps = int(spec_limit if spec_limit is not None else max_steps)
        if self.max_steps <= 0:
            raise ConfigurationError(f"TimeFeatureWrapper needs max_steps > 0, got {self.max_steps}")
        self.test_mode = bool(test_mode)
        self._steps = 0

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        self._steps = 0
        obs, info = self.env.reset(**kwargs)
        return self._append(obs), info

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        self._steps += 1
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self._append(obs), reward, terminated, truncated, info

    def _append(self, obs: Any) -> Any:
        feature = 1.0 if self.test_mode else 1.0 - self._steps / self.max_steps
        if isinstance(obs, dict):
            obs = dict(obs)
            vector = obs[OBSERVATION_KEY]
            obs[OBSERVATION_KEY] = np.append(vector, np.asarray(feature, dtype=vector.dtype))
            return obs
        return np.append(obs, np.asarray(feature, dtype=obs.dtype))
