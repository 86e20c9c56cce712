"""``ballast/ExtremeNode-v0``: choose the node whose feature is the largest (or the smallest) of its graph.

A one-step node-choice problem for testing whether a graph policy trained on small graphs keeps
choosing well on large ones. Each episode is one random graph (Barabási–Albert by default, or
Erdős–Rényi, drawn as in :mod:`ballast.envs.graph_problems`) whose nodes carry ``n_features``
features drawn uniformly in ``[0, 1]``; the agent chooses one node and gets reward 1 when its
feature ``key`` is the largest of the graph (``target="max"``) or the smallest (``target="min"``),
else 0. The episode then terminates, so the mean reward is the top-1 accuracy.

    env = gymnasium.make("ballast/ExtremeNode-v0", n_nodes=(8, 12))   # train on about 10 nodes
    env = gymnasium.make("ballast/ExtremeNode-v0", n_nodes=1000)       # evaluate on 1000

The answer depends on every node of the graph, however far: a node's own feature says nothing
about whether it is the extreme one until it is compared with the graph's other nodes. The other
features (``n_features > 1``) and the links (each with one constant feature, as Gymnasium's
``Graph`` space holds links only with edge features) are distractors. The correct node is in
``info["target"]`` (and ``env.target``); :func:`top1_accuracy` scores a model on seeded graphs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ballast.envs.graph_problems import _sizes, barabasi_albert_edges, erdos_renyi_edges
from ballast.errors import ConfigurationError
from ballast.node_spaces import NodeChoice

ENV_ID = "ballast/ExtremeNode-v0"


class ExtremeNodeEnv(gym.Env):
    """Choose the node with the extreme feature; see the module docstring."""

    metadata = {"render_modes": []}

    def __init__(self, n_nodes: int | Sequence[int] = (8, 12), graph: str = "ba", attach: int = 2,
                 mean_degree: float = 4.0, n_features: int = 1, key: int = 0, target: str = "max") -> None:
        if graph not in ("ba", "er"):
            raise ConfigurationError(f"graph must be 'ba' (Barabási–Albert) or 'er' (Erdős–Rényi), got {graph!r}")
        if target not in ("max", "min"):
            raise ConfigurationError(f"target must be 'max' or 'min', got {target!r}")
        if not 0 <= key < n_features:
            raise ConfigurationError(f"key must index one of the {n_features} node features, got {key!r}")
        self.size_range = _sizes(n_nodes)
        self.graph, self.attach, self.mean_degree = graph, int(attach), float(mean_degree)
        self.key, self.target_kind = int(key), target
        # Gymnasium's Graph space holds links only with edge features: one constant feature per link.
        self.observation_space = spaces.Graph(node_space=spaces.Box(0.0, 1.0, (int(n_features),), np.float32),
                                              edge_space=spaces.Box(0.0, 1.0, (1,), np.float32))
        self.action_space = NodeChoice()
        self.target = -1

    def _new_graph(self) -> spaces.GraphInstance:
        low, high = self.size_range
        n = int(self.np_random.integers(low, high + 1))
        if self.graph == "ba":
            edges = barabasi_albert_edges(n, self.attach, self.np_random)
        else:
            edges = erdos_renyi_edges(n, self.mean_degree, self.np_random)
        nodes = self.np_random.uniform(0.0, 1.0, (n, self.observation_space.node_space.shape[0])).astype(np.float32)
        values = nodes[:, self.key]
        self.target = int(np.argmax(values) if self.target_kind == "max" else np.argmin(values))
        links = np.concatenate([edges, edges[:, ::-1]]).astype(np.int64)
        return spaces.GraphInstance(nodes=nodes, edges=np.ones((len(links), 1), np.float32), edge_links=links)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[spaces.GraphInstance, dict[str, Any]]:
        super().reset(seed=seed)
        self.observation = self._new_graph()
        return self.observation, {"target": self.target}

    def step(self, action: int) -> tuple[spaces.GraphInstance, float, bool, bool, dict[str, Any]]:
        n = len(self.observation.nodes)
        if not 0 <= int(action) < n:
            raise ValueError(f"action {action} is not a node of the current graph (it has {n} nodes)")
        reward = float(int(action) == self.target)
        graph = self.observation
        # The episode is over; the final observation is a copy so that it shares no array with reset's.
        final = spaces.GraphInstance(graph.nodes.copy(), graph.edges.copy(), graph.edge_links.copy())
        return final, reward, True, False, {"target": self.target}


def top1_accuracy(model: Any, seeds: Iterable[int], *, n_nodes: int | Sequence[int], batch_nodes: int = 20_000,
                  **env_kwargs: Any) -> float:
    """The fraction of the graphs of ``reset(seed=s)``, ``s`` in ``seeds``, on which ``model`` (its
    deterministic ``predict``) chooses the extreme node. Graphs go to the policy in batches of about
    ``batch_nodes`` nodes (one batched forward pass each, not one per graph)."""
    env = ExtremeNodeEnv(n_nodes, **env_kwargs)
    hits = total = 0
    graphs: list[spaces.GraphInstance] = []
    targets: list[int] = []
    for seed in seeds:
        obs, info = env.reset(seed=int(seed))
        graphs.append(obs)
        targets.append(info["target"])
        total += 1
        if sum(len(g.nodes) for g in graphs) >= batch_nodes:
            hits += _hits(model, graphs, targets)
            graphs, targets = [], []
    if graphs:
        hits += _hits(model, graphs, targets)
    return hits / max(total, 1)


def _hits(model: Any, graphs: list[spaces.GraphInstance], targets: list[int]) -> int:
    actions, _ = model.predict(tuple(graphs), deterministic=True)
    return int(np.sum(np.asarray(actions).reshape(-1) == np.asarray(targets)))


def register_extreme_node() -> None:
    """Register ``ballast/ExtremeNode-v0`` with Gymnasium (done on ``import ballast``)."""
    if ENV_ID not in gym.registry:
        gym.register(id=ENV_ID, entry_point="ballast.envs.extreme_node:ExtremeNodeEnv")
