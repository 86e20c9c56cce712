"""Identity envs: the observation is a random element of a space, and the action that repeats it earns 1.

SB3's ``IdentityEnv`` family (``stable_baselines3.common.envs.identity_env``). The action space *is*
the observation space; each step rewards an action equal to the current observation (within ``eps``
for :class:`IdentityEnvBox`) with 1.0, else 0.0, then draws the next observation uniformly from the
space. Episodes never terminate and are truncated after ``ep_length`` steps, so an optimal policy
returns ``ep_length`` per episode and a uniformly random one ``ep_length / |space|`` (Discrete).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ballast.envs.testing.draws import independent_copy
from ballast.errors import ConfigurationError


class IdentityEnv(gym.Env):
    """Repeat the observation: a ``Discrete(dim)`` observation (or any ``space``) and the same action space.

    :param dim: the number of values of a ``Discrete`` observation and action; give at most one of
        ``dim`` and ``space`` (neither: ``dim=1``)
    :param space: the observation and action space, instead of ``Discrete(dim)``
    :param ep_length: the number of steps after which an episode is truncated
    """

    def __init__(self, dim: int | None = None, space: spaces.Space | None = None, ep_length: int = 100) -> None:
        if space is None:
            space = spaces.Discrete(1 if dim is None else dim)
        elif dim is not None:
            raise ConfigurationError(f"IdentityEnv takes dim or space, not both (got dim={dim} and space={space}); "
                                     "give the space alone, or dim alone for Discrete(dim)")
        self.action_space = self.observation_space = space
        self.ep_length = ep_length
        self.current_step = 0
        self.num_resets = -1  # the reset below makes it 0, as in SB3
        self._draws = independent_copy(space, self.np_random)
        self.reset()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        super().reset(seed=seed)
        if seed is not None:
            self._draws = independent_copy(self.observation_space, self.np_random)
        self.current_step = 0
        self.num_resets += 1
        self.state = self._draws.sample()
        return self.state, {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        reward = self._get_reward(action)
        self.state = self._draws.sample()
        self.current_step += 1
        return self.state, reward, False, self.current_step >= self.ep_length, {}

    def _get_reward(self, action: Any) -> float:
        """1.0 when ``action`` equals the current observation in every component, else 0.0."""
        return 1.0 if np.all(self.state == action) else 0.0

    def render(self, mode: str = "human") -> None:
        """Nothing to show (SB3's envs render nothing)."""


class IdentityEnvBox(IdentityEnv):
    """Repeat a scalar in ``[low, high]``: observation and action ``Box(low, high, (1,), float32)``.

    An action within ``eps`` of the observation (bounds included) earns 1.0.

    :param low: the lower bound of the observation and action
    :param high: the upper bound
    :param eps: how far from the observation an action may be and still earn the reward
    :param ep_length: the number of steps after which an episode is truncated
    """

    def __init__(self, low: float = -1.0, high: float = 1.0, eps: float = 0.05, ep_length: int = 100) -> None:
        super().__init__(space=spaces.Box(low=low, high=high, shape=(1,), dtype=np.float32), ep_length=ep_length)
        self.eps = eps

    def _get_reward(self, action: Any) -> float:
        action = np.asarray(action)
        inside = (self.state - self.eps <= action) & (action <= self.state + self.eps)
        return 1.0 if np.all(inside) else 0.0


class IdentityEnvMultiDiscrete(IdentityEnv):
    """Repeat a pair of integers: observation and action ``MultiDiscrete([dim, dim])``.

    :param dim: the number of values of each of the two components
    :param ep_length: the number of steps after which an episode is truncated
    """

    def __init__(self, dim: int = 1, ep_length: int = 100) -> None:
        super().__init__(space=spaces.MultiDiscrete([dim, dim]), ep_length=ep_length)


class IdentityEnvMultiBinary(IdentityEnv):
    """Repeat a vector of bits: observation and action ``MultiBinary(dim)``.

    :param dim: the number of bits
    :param ep_length: the number of steps after which an episode is truncated
    """

    def __init__(self, dim: int = 1, ep_length: int = 100) -> None:
        super().__init__(space=spaces.MultiBinary(dim), ep_length=ep_length)
