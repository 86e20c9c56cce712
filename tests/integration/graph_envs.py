"""Small seeded envs with graph, set and node-choice observations for the learning tests."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from ballast.encoders import NodeEncoding
from ballast.node_spaces import NodeBox, NodeChoice, NodeMultiBinary
from ballast.ragged import GraphBatch
from ballast.segment import segment_max
from ballast.spaces import set_axis


def path_graph(nodes: np.ndarray) -> spaces.GraphInstance:
    """A path over ``nodes`` with links both ways."""
    n = len(nodes)
    links = np.stack([np.arange(n - 1), np.arange(1, n)], 1)
    return spaces.GraphInstance(nodes, None, np.concatenate([links, links[:, ::-1]]).astype(np.int32))


class HotNodeEnv(gym.Env):
    """A path graph of ``low..high`` nodes, features ``[1, 0]``; with probability 1/2 one node is ``[0, 1]``.

    ``Discrete(2)`` actions (pooled head): reward 1 for saying whether the hot node is there.
    ``NodeChoice`` actions (``node_choice=True``): the hot node is always there; reward 1 for choosing it.
    Episodes last 8 steps, each a new graph.
    """

    def __init__(self, low: int = 4, high: int = 10, node_choice: bool = False) -> None:
        self.observation_space = spaces.Graph(spaces.Box(0.0, 1.0, (2,), np.float32), None)
        self.action_space = NodeChoice() if node_choice else spaces.Discrete(2)
        self.low, self.high, self.node_choice = low, high, node_choice

    def _graph(self) -> spaces.GraphInstance:
        n = int(self.np_random.integers(self.low, self.high + 1))
        self.label = 1 if self.node_choice else int(self.np_random.integers(2))
        nodes = np.zeros((n, 2), np.float32)
        nodes[:, 0] = 1.0
        self.hot = int(self.np_random.integers(n))
        if self.label:
            nodes[self.hot] = [0.0, 1.0]
        return path_graph(nodes)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.t = 0
        return self._graph(), {}

    def step(self, action):
        reward = float(action == (self.hot if self.node_choice else self.label))
        self.t += 1
        return self._graph(), reward, False, self.t >= 8, {}


class PointSetEnv(gym.Env):
    """A set of ``low..high`` points in ``[-1, 1]^2``; reward 1 for saying whether their mean x is positive.

    ``kind="set_axis"``: a Box with a set axis; ``kind="sequence"``: a stacked Sequence of Box.
    """

    def __init__(self, low: int = 3, high: int = 12, kind: str = "set_axis") -> None:
        box = spaces.Box(-1.0, 1.0, (high, 2), np.float32)
        self.observation_space = (set_axis(box, axis=0) if kind == "set_axis"
                                  else spaces.Sequence(spaces.Box(-1.0, 1.0, (2,), np.float32), stack=True))
        self.action_space = spaces.Discrete(2)
        self.low, self.high = low, high

    def _points(self) -> np.ndarray:
        n = int(self.np_random.integers(self.low, self.high + 1))
        shift = self.np_random.choice([-0.3, 0.3])
        points = np.clip(self.np_random.uniform(-1, 1, (n, 2)) * 0.5 + [shift, 0.0], -1, 1).astype(np.float32)
        self.label = int(points[:, 0].mean() > 0)
        return points

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.t = 0
        return self._points(), {}

    def step(self, action):
        reward = float(action == self.label)
        self.t += 1
        return self._points(), reward, False, self.t >= 8, {}


class MaxNodeEncoder(nn.Module):
    """A user-written encoder: an MLP per node, then the maximum over each graph's nodes."""

    def __init__(self, space: spaces.Graph, width: int = 16) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(int(np.prod(space.node_space.shape)), width), nn.ReLU())
        self.features_dim = self.node_dim = width

    def encode_nodes(self, graphs: GraphBatch) -> NodeEncoding:
        h = self.mlp(graphs.nodes)
        return NodeEncoding(segment_max(h, graphs.node_index, graphs.num_graphs), h, graphs.node_index,
                            graphs.node_offsets)

    def forward(self, graphs: GraphBatch) -> torch.Tensor:
        return self.encode_nodes(graphs).features


class PerNodeEnv(gym.Env):
    """A path graph of ``low..high`` nodes with one decision per node; episodes of 8 graphs.

    ``NodeMultiBinary``: node features ``[1, 0]`` or ``[0, 1]``; the reward is the fraction of nodes
    whose decision equals their second feature. ``NodeBox(-1, 1, (1,))``: node feature ``x_v`` in
    ``[-1, 1]``; the reward is ``1 - mean_v |a_v - x_v|``.
    """

    def __init__(self, low: int = 4, high: int = 10, continuous: bool = False) -> None:
        self.continuous = continuous
        shape = (1,) if continuous else (2,)
        self.observation_space = spaces.Graph(spaces.Box(-1.0, 1.0, shape, np.float32), None)
        self.action_space = NodeBox(-1.0, 1.0, (1,)) if continuous else NodeMultiBinary()
        self.low, self.high = low, high

    def _graph(self) -> spaces.GraphInstance:
        n = int(self.np_random.integers(self.low, self.high + 1))
        if self.continuous:
            self.target = self.np_random.uniform(-1, 1, n).astype(np.float32)
            return path_graph(self.target[:, None])
        self.target = self.np_random.integers(0, 2, n)
        return path_graph(np.eye(2, dtype=np.float32)[self.target])

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.t = 0
        return self._graph(), {}

    def step(self, action):
        action = np.asarray(action).reshape(-1)
        assert action.shape == self.target.shape
        if self.continuous:
            reward = 1.0 - float(np.abs(action - self.target).mean())
        else:
            reward = float((action == self.target).mean())
        self.t += 1
        return self._graph(), reward, False, self.t >= 8, {}
