"""Small stand-ins for envs SB3's documentation uses that need a download or a licence."""

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class SmallImageEnv(gym.Env):
    """An Atari-like env without ROMs: 84x84x3 uint8 frames (channels last), 4 actions, 50-step episodes.
    The reward is 1 when the action equals the frame's brightness class (``frame.mean() // 64``)."""

    observation_space = spaces.Box(0, 255, (84, 84, 3), np.uint8)
    action_space = spaces.Discrete(4)

    def __init__(self):
        self.t, self.level = 0, 0

    def _frame(self):
        self.level = int(self.np_random.integers(4))
        return np.full((84, 84, 3), 64 * self.level + 32, np.uint8)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._frame(), {}

    def step(self, action):
        reward = float(int(action) == self.level)
        self.t += 1
        return self._frame(), reward, False, self.t >= 50, {}


class ImageAndVectorEnv(gym.Env):
    """Dict observations as in SB3's CustomCombinedExtractor example: ``"image"`` a (1, H, W) uint8 image
    (channels first) and ``"vector"`` a (D,) vector; 2 actions, 20-step episodes."""

    observation_space = spaces.Dict({"image": spaces.Box(0, 255, (1, 36, 36), np.uint8),
                                     "vector": spaces.Box(-1.0, 1.0, (5,), np.float32)})
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        self.t += 1
        return self.observation_space.sample(), float(action), False, self.t >= 20, {}
