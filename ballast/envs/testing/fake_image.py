"""An env of random images, the size of Atari frames, for checking image pipelines (SB3's ``FakeImageEnv``)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ballast.envs.testing.draws import independent_copy


class FakeImageEnv(gym.Env):
    """Uniformly random ``uint8`` images, reward 0, episodes truncated after 10 steps.

    Nothing can be learned here: it checks that CNN policies, frame stacking, image transposition
    and buffers handle images of a given shape, quickly.

    :param action_dim: the number of discrete actions
    :param screen_height: the image height
    :param screen_width: the image width
    :param n_channels: the number of channels
    :param discrete: ``Discrete(action_dim)`` actions; with ``False``, ``Box(-1, 1, (5,), float32)``
        (five components whatever ``action_dim`` is, as in SB3)
    :param channel_first: images ``(n_channels, height, width)`` instead of ``(height, width, n_channels)``
    """

    def __init__(
        self,
        action_dim: int = 6,
        screen_height: int = 84,
        screen_width: int = 84,
        n_channels: int = 1,
        discrete: bool = True,
        channel_first: bool = False,
    ) -> None:
        self.observation_shape = ((n_channels, screen_height, screen_width) if channel_first
                                  else (screen_height, screen_width, n_channels))
        self.observation_space = spaces.Box(low=0, high=255, shape=self.observation_shape, dtype=np.uint8)
        self.action_space = (spaces.Discrete(action_dim) if discrete
                             else spaces.Box(low=-1, high=1, shape=(5,), dtype=np.float32))
        self.ep_length = 10
        self.current_step = 0
        self._draws = independent_copy(self.observation_space, self.np_random)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        if seed is not None:
            self._draws = independent_copy(self.observation_space, self.np_random)
        self.current_step = 0
        return self._draws.sample(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.current_step += 1
        return self._draws.sample(), 0.0, False, self.current_step >= self.ep_length, {}

    def render(self, mode: str = "human") -> None:
        """Nothing to show (SB3's envs render nothing)."""
