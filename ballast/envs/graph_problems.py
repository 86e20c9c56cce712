"""Bundled graph problems, registered with Gymnasium on ``import ballast``, with their baselines.

``ballast/MinVertexCover-v0``: minimum vertex cover on random graphs. A vertex cover is a set of
nodes touching every edge; the agent adds one node per step and pays 1 for it, so the return is
minus the size of the cover it builds. Finding a minimum cover is NP-hard; the standard greedy
heuristic (add the node covering most of the still uncovered edges) is the usual baseline, and
learned constructive policies are compared with it (e.g. Khalil et al., 2017, arXiv:1704.01665).

    env = gymnasium.make("ballast/MinVertexCover-v0", n_nodes=(10, 20))   # a new size every episode
    env = gymnasium.make("ballast/MinVertexCover-v0", n_nodes=1000, graph="er", mean_degree=4)

Graphs are drawn with NumPy only from the env's generator, so ``reset(seed=s)`` always gives the
same graph: Barabási–Albert (``graph="ba"``, the default; each new node attaches to
``attach`` existing nodes with probability proportional to their degree) or Erdős–Rényi
(``graph="er"``, each pair linked with probability ``mean_degree / (n - 1)``). A given graph can be
passed instead: ``reset(options={"edges": array_of_shape_(m, 2), "n_nodes": n})``.

Observation: a ``gymnasium.spaces.Graph`` whose nodes have three features: in the cover (0/1),
residual degree (edges still uncovered) divided by the largest residual degree, and residual
degree divided by the node's degree; every edge appears in both directions in ``edge_links``,
with one feature: covered (0/1). All features are ratios, so they mean the same at every size.

Action: :class:`ballast.node_spaces.NodeChoice`, the index of a node. ``action_masks()`` (one
entry per node) allows the nodes not yet in the cover that still touch an uncovered edge;
choosing another node costs 1 and changes nothing. The episode terminates when every edge is
covered, and is truncated after ``n_nodes`` steps (a cover never needs that many).
Each step costs O(degree of the chosen node) plus O(nodes + edges) to build the observation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ballast.errors import ConfigurationError
from ballast.node_spaces import NodeChoice

NODE_FEATURES = 3
ENV_ID = "ballast/MinVertexCover-v0"


# --- random graphs ---------------------------------------------------------------------------------
def barabasi_albert_edges(n: int, attach: int, rng: np.random.Generator) -> np.ndarray:
    """Edges ``(m, 2)`` (``i < j``) of a Barabási–Albert graph (Barabási & Albert, 1999) on ``n`` nodes.

    Starts from a star of ``attach + 1`` nodes; every later node links to ``attach`` distinct
    earlier nodes drawn with probability proportional to their degree (a uniform draw from the
    list of edge endpoints).
    """
    attach = max(1, min(attach, n - 1))
    first = attach + 1
    sources = [np.zeros(attach, dtype=np.int64)]
    targets = [np.arange(1, first, dtype=np.int64)]
    endpoints = np.empty(2 * attach * n, dtype=np.int64)
    size = 2 * attach
    endpoints[:attach], endpoints[attach:size] = 0, np.arange(1, first)
    for node in range(first, n):
        chosen: set[int] = set()
        while len(chosen) < attach:
            draws = endpoints[rng.integers(0, size, size=2 * attach)]
            for value in draws.tolist():
                chosen.add(value)
                if len(chosen) == attach:
                    break
        picked = np.fromiter(sorted(chosen), dtype=np.int64, count=attach)
        sources.append(picked)
        targets.append(np.full(attach, node, dtype=np.int64))
        endpoints[size:size + attach], endpoints[size + attach:size + 2 * attach] = picked, node
        size += 2 * attach
    return np.stack([np.concatenate(sources), np.concatenate(targets)], axis=1)


def erdos_renyi_edges(n: int, mean_degree: float, rng: np.random.Generator) -> np.ndarray:
    """Edges ``(m, 2)`` (``i < j``, sorted) of a G(n, p) random graph with ``p = mean_degree / (n - 1)``.

    The number of edges is drawn from its binomial law, then that many distinct pairs are drawn
    uniformly (in vectorised rounds), so memory is O(edges), not O(n^2).
    """
    pairs = n * (n - 1) // 2
    p = min(1.0, mean_degree / max(n - 1, 1))
    m = int(rng.binomial(pairs, p)) if pairs else 0
    keys = np.zeros(0, dtype=np.int64)
    while len(keys) < m:
        i = rng.integers(0, n, size=2 * (m - len(keys)) + 16)
        j = rng.integers(0, n, size=i.size)
        keep = i != j
        low, high = np.minimum(i, j)[keep], np.maximum(i, j)[keep]
        keys = np.unique(np.concatenate([keys, low * n + high]))
        if len(keys) > m:
            keys = np.sort(rng.choice(keys, size=m, replace=False))
    return np.stack([keys // n, keys % n], axis=1).astype(np.int64)


def _sizes(n_nodes: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(n_nodes, (int, np.integer)):
        low = high = int(n_nodes)
    else:
        if len(n_nodes) != 2:
            raise ConfigurationError(f"n_nodes must be an int or a (low, high) pair, got {n_nodes!r}")
        low, high = int(n_nodes[0]), int(n_nodes[1])
    if not 2 <= low <= high:
        raise ConfigurationError(f"n_nodes must be at least 2 (and low <= high), got {n_nodes!r}")
    return low, high


class MinVertexCoverEnv(gym.Env):
    """Minimum vertex cover, one node per step; see the module docstring."""

    metadata = {"render_modes": []}

    def __init__(self, n_nodes: int | Sequence[int] = (10, 20), graph: str = "ba", attach: int = 2,
                 mean_degree: float = 4.0) -> None:
        if graph not in ("ba", "er"):
            raise ConfigurationError(f"graph must be 'ba' (Barabási–Albert) or 'er' (Erdős–Rényi), got {graph!r}")
        self.size_range = _sizes(n_nodes)
        self.graph, self.attach, self.mean_degree = graph, int(attach), float(mean_degree)
        self.observation_space = spaces.Graph(
            node_space=spaces.Box(0.0, 1.0, (NODE_FEATURES,), np.float32),
            edge_space=spaces.Box(0.0, 1.0, (1,), np.float32),
        )
        self.action_space = NodeChoice()
        self.n_nodes = 0

    # --- graph state ----------------------------------------------------------------------------
    def _load_graph(self, n: int, edges: np.ndarray) -> None:
        edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
        if edges.size and (edges.min() < 0 or edges.max() >= n or np.any(edges[:, 0] == edges[:, 1])):
            raise ConfigurationError(f"edges must link distinct nodes in [0, {n}); got {edges[:5].tolist()}...")
        self.n_nodes, self.edges = n, edges
        m = len(edges)
        # Every edge in both directions; CSR by source node for O(degree) updates.
        links = np.concatenate([edges, edges[:, ::-1]])
        edge_id = np.concatenate([np.arange(m), np.arange(m)])
        order = np.argsort(links[:, 0], kind="stable")
        self.edge_links, self._link_edge = links[order], edge_id[order]
        self._indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(links[:, 0], minlength=n), out=self._indptr[1:])
        self.degree = np.diff(self._indptr)
        self.residual = self.degree.copy()
        self.in_cover = np.zeros(n, dtype=bool)
        self.edge_covered = np.zeros(m, dtype=bool)
        self.uncovered = m
        self.t = 0

    def _new_graph(self) -> tuple[int, np.ndarray]:
        low, high = self.size_range
        while True:
            n = int(self.np_random.integers(low, high + 1))
            if self.graph == "ba":
                edges = barabasi_albert_edges(n, self.attach, self.np_random)
            else:
                edges = erdos_renyi_edges(n, self.mean_degree, self.np_random)
            if len(edges):
                return n, edges

    def observation(self) -> spaces.GraphInstance:
        """The observation of the current state (what ``reset`` and ``step`` return)."""
        residual = self.residual.astype(np.float32)
        top = max(int(self.residual.max()) if self.n_nodes else 0, 1)
        nodes = np.stack([
            self.in_cover.astype(np.float32),
            residual / top,
            residual / np.maximum(self.degree, 1).astype(np.float32),
        ], axis=1)
        covered = self.edge_covered[self._link_edge].astype(np.float32)[:, None]
        return spaces.GraphInstance(nodes=nodes, edges=covered, edge_links=self.edge_links.copy())

    def action_masks(self) -> np.ndarray:
        """One entry per node: True for the nodes that are not in the cover and touch an uncovered edge."""
        return (~self.in_cover) & (self.residual > 0)

    def _info(self) -> dict[str, Any]:
        return {"cover_size": int(self.in_cover.sum()), "uncovered_edges": int(self.uncovered),
                "n_nodes": self.n_nodes}

    # --- gymnasium API ---------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[spaces.GraphInstance, dict[str, Any]]:
        super().reset(seed=seed)
        if options and "edges" in options:
            edges = np.asarray(options["edges"], dtype=np.int64).reshape(-1, 2)
            n = int(options.get("n_nodes", edges.max() + 1 if edges.size else 0))
            if len(edges) == 0:
                raise ConfigurationError("the given graph has no edge: its minimum cover is empty")
            self._load_graph(n, edges)
        else:
            self._load_graph(*self._new_graph())
        return self.observation(), self._info()

    def step(self, action: int) -> tuple[spaces.GraphInstance, float, bool, bool, dict[str, Any]]:
        node = int(action)
        if not 0 <= node < self.n_nodes:
            raise ValueError(f"action {action} is not a node of the current graph (it has {self.n_nodes} nodes)")
        self.t += 1
        if not self.in_cover[node] and self.residual[node] > 0:
            self.in_cover[node] = True
            start, stop = self._indptr[node], self._indptr[node + 1]
            ids = self._link_edge[start:stop]
            fresh = ~self.edge_covered[ids]
            self.edge_covered[ids[fresh]] = True
            np.subtract.at(self.residual, self.edge_links[start:stop, 1][fresh], 1)
            self.residual[node] = 0
            self.uncovered -= int(fresh.sum())
        terminated = self.uncovered == 0
        truncated = not terminated and self.t >= self.n_nodes
        return self.observation(), -1.0, bool(terminated), bool(truncated), self._info()


# --- baselines -------------------------------------------------------------------------------------
NodePolicy = Callable[[MinVertexCoverEnv, np.random.Generator], int]


def random_policy(env: MinVertexCoverEnv, rng: np.random.Generator) -> int:
    """A node drawn uniformly among the valid ones (not in the cover, touching an uncovered edge)."""
    return int(rng.choice(np.flatnonzero(env.action_masks())))


def greedy_policy(env: MinVertexCoverEnv, rng: np.random.Generator) -> int:
    """The standard greedy heuristic: the node with the largest residual degree (lowest index on ties)."""
    return int(np.argmax(env.residual))


BASELINES: dict[str, NodePolicy] = {"random": random_policy, "greedy": greedy_policy}


def model_policy(model: Any, deterministic: bool = True) -> NodePolicy:
    """A trained model (``model.predict``) as a policy for :func:`run_baseline`, acting under the env's mask."""
    def choose(env: MinVertexCoverEnv, rng: np.random.Generator) -> int:
        action, _ = model.predict(env.observation(), deterministic=deterministic, action_masks=env.action_masks())
        return int(action)
    return choose


def cover_is_valid(edges: np.ndarray, cover: np.ndarray) -> bool:
    """True when every edge has at least one end in ``cover`` (a boolean array over the nodes)."""
    edges = np.asarray(edges).reshape(-1, 2)
    return bool(np.all(cover[edges[:, 0]] | cover[edges[:, 1]]))


def run_baseline(policy: str | NodePolicy, seeds: Iterable[int], *, n_nodes: int | Sequence[int] = (10, 20),
                 graph: str = "ba", attach: int = 2, mean_degree: float = 4.0, rng_seed: int = 0) -> list[int]:
    """Cover sizes that ``policy`` (``"random"``, ``"greedy"``, ``policy(env, rng) -> node`` or a model
    wrapped by :func:`model_policy`) builds
    on the graphs of ``reset(seed=s)`` for each ``s`` in ``seeds`` (the same graphs as a model
    evaluated with those seeds sees)."""
    choose = BASELINES[policy] if isinstance(policy, str) else policy
    env = MinVertexCoverEnv(n_nodes, graph=graph, attach=attach, mean_degree=mean_degree)
    rng = np.random.default_rng(rng_seed)
    sizes = []
    for seed in seeds:
        env.reset(seed=int(seed))
        done = False
        while not done:
            _, _, terminated, truncated, info = env.step(choose(env, rng))
            done = terminated or truncated
        sizes.append(info["cover_size"])
    return sizes


def register_envs() -> None:
    """Register the bundled graph problems with Gymnasium (done on ``import ballast``)."""
    if ENV_ID not in gym.registry:
        gym.register(id=ENV_ID, entry_point="ballast.envs.graph_problems:MinVertexCoverEnv",
                     )
