"""Features extractors written as for SB3 (only the import changed), and small seeded envs they learn on.

The envs are one-step-per-decision problems whose best action the observation gives away, so a
few hundred updates separate a trained policy from an untrained one:

- :class:`SignEnv`: a vector whose first entry's sign says which of two actions pays 1;
- :class:`TrackEnv`: a vector whose first entry is the action that pays most (``-(a - x)^2``);
- :class:`SideImageEnv`: a uint8 image (channels last) with a bright square on the left or right;
- :class:`DictSignEnv`: :class:`SignEnv`'s information spread over a Dict of an image, a vector and a Discrete.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch as th
from gymnasium import spaces
from torch import nn

from ballast.common.torch_layers import BaseFeaturesExtractor, NatureCNN
from ballast.segment import segment_reduce

EPISODE = 8


class SmallMlp(BaseFeaturesExtractor):
    """An SB3-style extractor for vector observations: ``relu(W x + b)``."""

    def __init__(self, observation_space: spaces.Box, features_dim: int = 16) -> None:
        super().__init__(observation_space, features_dim)
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(observation_space.shape)), features_dim),
                                 nn.ReLU())
        self.seen: list[th.Tensor] = []

    def forward(self, observations: th.Tensor) -> th.Tensor:
        self.seen = [observations]
        return self.net(observations)


class BatchNormFlatten(BaseFeaturesExtractor):
    """Flattened observations through batch normalisation (SB3's test extractor for train and eval modes)."""

    def __init__(self, observation_space: spaces.Box) -> None:
        super().__init__(observation_space, int(np.prod(observation_space.shape)))
        self.net = nn.Sequential(nn.Flatten(), nn.BatchNorm1d(self.features_dim))

    def forward(self, observations: th.Tensor) -> th.Tensor:
        return self.net(observations)


class CustomCNN(BaseFeaturesExtractor):
    """The custom CNN of SB3's "Custom Policy Network" guide, smaller: it reads ``observation_space.shape[0]``
    as the number of channels, as SB3 extractors do."""

    def __init__(self, observation_space: spaces.Box, features_dim: int = 256) -> None:
        super().__init__(observation_space, features_dim)
        n_input_channels = observation_space.shape[0]
        self.cnn = nn.Sequential(
            nn.Conv2d(n_input_channels, 8, kernel_size=4, stride=4, padding=0), nn.ReLU(), nn.Flatten())
        with th.no_grad():
            n_flatten = self.cnn(th.zeros((1, *observation_space.shape))).shape[1]
        self.linear = nn.Sequential(nn.Linear(n_flatten, features_dim), nn.ReLU())
        self.seen: list[th.Tensor] = []

    def forward(self, observations: th.Tensor) -> th.Tensor:
        self.seen = [observations]
        return self.linear(self.cnn(observations))


class DictExtractor(BaseFeaturesExtractor):
    """An SB3-style extractor for :class:`DictSignEnv`: NatureCNN for the image, the rest concatenated."""

    def __init__(self, observation_space: spaces.Dict, cnn_dim: int = 8) -> None:
        super().__init__(observation_space, features_dim=1)
        self.cnn = NatureCNN(observation_space["image"], features_dim=cnn_dim)
        flat = int(np.prod(observation_space["vector"].shape)) + int(observation_space["count"].n)
        self._features_dim = cnn_dim + flat
        self.seen: list[dict[str, th.Tensor]] = []

    def forward(self, observations: dict[str, th.Tensor]) -> th.Tensor:
        self.seen = [observations]
        return th.cat([self.cnn(observations["image"]), observations["vector"], observations["count"]], dim=1)


class MeanMaxGnn(BaseFeaturesExtractor):
    """A message-passing extractor over Ballast's ``GraphBatch``: one round of neighbour sums, then the
    mean and the max over each graph's nodes."""

    def __init__(self, observation_space: spaces.Graph, features_dim: int = 16) -> None:
        super().__init__(observation_space, features_dim)
        width = features_dim // 2
        self.embed = nn.Linear(observation_space.node_space.shape[0], width)
        self.update = nn.Linear(2 * width, width)

    def forward(self, graphs) -> th.Tensor:  # noqa: ANN001 - a ballast.ragged.GraphBatch
        h = th.relu(self.embed(graphs.nodes))
        source, target = graphs.edge_index
        neighbours = segment_reduce(h[source], target, h.shape[0], "sum")
        h = th.relu(self.update(th.cat([h, neighbours], dim=1)))
        pooled = [segment_reduce(h, graphs.node_index, graphs.num_graphs, mode) for mode in ("mean", "max")]
        return th.cat(pooled, dim=1)


class SignEnv(gym.Env):
    """Observations in [-1, 1]^3; action 1 pays 1 when the first entry is positive, action 0 otherwise."""

    observation_space = spaces.Box(-1.0, 1.0, (3,), np.float32)
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._draw(), {}

    def _draw(self):
        self.obs = self.np_random.uniform(-1.0, 1.0, 3).astype(np.float32)
        return self.obs

    def step(self, action):
        reward = float(int(action) == int(self.obs[0] > 0))
        self.t += 1
        return self._draw(), reward, False, self.t >= EPISODE, {}


class TrackEnv(SignEnv):
    """Box actions in [-2, 2]; the reward ``-(a - 2 x_0)^2`` is highest at twice the first entry."""

    action_space = spaces.Box(-2.0, 2.0, (1,), np.float32)

    def step(self, action):
        reward = -float((np.asarray(action).reshape(-1)[0] - 2.0 * self.obs[0]) ** 2)
        self.t += 1
        return self._draw(), reward, False, self.t >= EPISODE, {}


class SideImageEnv(SignEnv):
    """36x36 uint8 images (NatureCNN's smallest), channels last, with a 6x6 square of 255 in the left or
    right half; action 1 pays 1 when it is on the right."""

    observation_space = spaces.Box(0, 255, (36, 36, 1), np.uint8)

    def _draw(self):
        self.right = bool(self.np_random.integers(2))
        row, col = int(self.np_random.integers(0, 30)), int(self.np_random.integers(0, 12)) + (18 if self.right else 0)
        image = np.zeros((36, 36, 1), np.uint8)
        image[row:row + 6, col:col + 6] = 255
        self.obs = np.array([1.0 if self.right else -1.0], np.float32)
        return image


class DictSignEnv(SignEnv):
    """A Dict of an image (36x36, channels last, noise), a vector (the sign) and a Discrete step counter."""

    observation_space = spaces.Dict({
        "image": spaces.Box(0, 255, (36, 36, 2), np.uint8),
        "vector": spaces.Box(-1.0, 1.0, (3,), np.float32),
        "count": spaces.Discrete(EPISODE + 1),
    })

    def _draw(self):
        self.obs = self.np_random.uniform(-1.0, 1.0, 3).astype(np.float32)
        image = self.np_random.integers(0, 256, (36, 36, 2)).astype(np.uint8)
        return {"image": image, "vector": self.obs, "count": getattr(self, "t", 0)}
