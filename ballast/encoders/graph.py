"""A message-passing graph neural network encoder, written with plain tensor operations.

Input: a :class:`~ballast.ragged.GraphBatch` (the graphs of a batch as one disjoint graph). Each
layer ``l = 1..L`` computes, for every edge ``e = (s -> t)`` with features ``x_e`` and every node ``v``
(Gilmer et al., 2017, "Neural Message Passing for Quantum Chemistry", arXiv:1704.01212)::

    m_e       = relu(W_msg^l [h_s ; x_e] + b_msg^l)                 (message along e)
    a_v       = AGG_{e: t(e) = v} m_e      (sum, mean or max; 0 without incoming edges)
    h_v^l     = h_v^{l-1} + relu(W_upd^l [h_v^{l-1} ; a_v] + b_upd^l)

with ``h_v^0 = W_in x_v + b_in`` (Discrete node or edge features are one-hot encoded first). The
graph features are a pooling (mean, sum or max, or several concatenated) of ``h^L`` over each
graph's nodes. The node embeddings that node-level action heads read are ``h^0_v`` (the node's own
features, by default), ``h^L_v``, ``h^L_v - max_{u in g(v)} h^L_u``, or several of them concatenated
(``node_outputs``): see docs/graphs.md, "What makes a graph policy generalise", for why. No weight
depends on the number of nodes or edges, so the same encoder runs on graphs of 5 or 5000 nodes;
node permutations permute the node embeddings and leave the pooled features unchanged.
Aggregations use ``scatter_add``/``scatter_reduce`` (no loop over graphs or nodes), which export.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from ballast.encoders.base import BaseFeaturesExtractor
from ballast.ragged import GraphBatch
from ballast.segment import segment_reduce

REDUCTIONS = ("sum", "mean", "max")
MESSAGE_NORMS = ("none", "sqrt_degree", "layer")
NODE_OUTPUTS = ("final", "input", "relative")


class NodeEncoding(NamedTuple):
    """What node-level action heads read: pooled ``features`` ``(B, D)``, per-node embeddings ``nodes``
    ``(N, H)``, the graph of each node ``index`` ``(N,)`` and each graph's first node ``offsets`` ``(B + 1,)``."""

    features: torch.Tensor
    nodes: torch.Tensor
    index: torch.Tensor
    offsets: torch.Tensor


def input_dim(space: spaces.Space | None) -> int:
    """Width of a node or edge feature vector after flattening (or one-hot encoding a Discrete)."""
    if space is None:
        return 0
    if isinstance(space, spaces.Discrete):
        return int(space.n)
    return int(np.prod(space.shape))


def as_features(x: torch.Tensor, space: spaces.Space) -> torch.Tensor:
    """Node or edge features as float vectors ``(n, input_dim(space))``."""
    if isinstance(space, spaces.Discrete):
        return nn.functional.one_hot(x.long() - int(space.start), int(space.n)).to(torch.float32)
    return x.reshape(x.shape[0], -1).to(torch.float32)


def pooling_modes(pooling: str | list[str] | tuple[str, ...]) -> list[str]:
    """``"mean"`` or ``["mean", "max"]`` as a checked list of modes."""
    modes = [pooling] if isinstance(pooling, str) else list(pooling)
    bad = [m for m in modes if m not in REDUCTIONS]
    if not modes or bad:
        raise ValueError(f"pooling must be one of {REDUCTIONS} or a list of them, got {pooling!r}")
    return modes


def pool(nodes: torch.Tensor, index: torch.Tensor, n: int, modes: list[str]) -> torch.Tensor:
    """Per-graph pooled node embeddings, the modes concatenated: ``(n, len(modes) * H)``."""
    return torch.cat([segment_reduce(nodes, index, n, mode) for mode in modes], dim=1)


def node_output_modes(node_outputs: str | list[str] | tuple[str, ...]) -> list[str]:
    """``"final"`` or ``["input", "final"]`` as a checked list of what the node embeddings hold."""
    modes = [node_outputs] if isinstance(node_outputs, str) else list(node_outputs)
    bad = [m for m in modes if m not in NODE_OUTPUTS]
    if not modes or bad or len(set(modes)) != len(modes):
        raise ValueError(f"node_outputs must be one of {NODE_OUTPUTS} or a list of distinct ones, got {node_outputs!r}")
    return modes


class MessagePassingLayer(nn.Module):
    """One layer of the module docstring's message passing, its aggregated messages optionally normalised:
    ``"sqrt_degree"`` divides them by ``sqrt(in-degree)``, ``"layer"`` applies a LayerNorm."""

    def __init__(self, hidden_dim: int, edge_dim: int, aggregation: str, message_norm: str = "none") -> None:
        super().__init__()
        if aggregation not in REDUCTIONS:
            raise ValueError(f"aggregation must be one of {REDUCTIONS}, got {aggregation!r}")
        if message_norm not in MESSAGE_NORMS:
            raise ValueError(f"message_norm must be one of {MESSAGE_NORMS}, got {message_norm!r}")
        self.aggregation, self.message_norm = aggregation, message_norm
        self.message = nn.Linear(hidden_dim + edge_dim, hidden_dim)
        self.update = nn.Linear(2 * hidden_dim, hidden_dim)
        self.norm = nn.LayerNorm(hidden_dim) if message_norm == "layer" else None

    def forward(self, h: torch.Tensor, edge_index: torch.Tensor, edge_features: torch.Tensor | None) -> torch.Tensor:
        source, target = edge_index[0], edge_index[1]
        inputs = h[source] if edge_features is None else torch.cat([h[source], edge_features], dim=1)
        messages = torch.relu(self.message(inputs))
        aggregated = segment_reduce(messages, target, h.shape[0], self.aggregation)
        if self.message_norm == "sqrt_degree":
            degree = segment_reduce(torch.ones_like(messages[:, :1]), target, h.shape[0], "sum")
            aggregated = aggregated / degree.clamp(min=1.0).sqrt()
        elif self.norm is not None:
            aggregated = self.norm(aggregated)
        return h + torch.relu(self.update(torch.cat([h, aggregated], dim=1)))


class GraphEncoder(BaseFeaturesExtractor):
    """The message-passing encoder of the module docstring.

    Built directly, its defaults are those of revision 1; ``policy="auto"`` builds it with the current
    ones (:data:`ballast.encoders.registry.GRAPH_DEFAULTS`).

    Args:
        space: the Graph observation space (its node and edge spaces give the input widths).
        hidden_dim: width of node embeddings and messages.
        n_layers: message-passing layers (each node then sees its ``n_layers``-hop neighbourhood).
        aggregation: how a node combines its incoming messages: ``"sum"`` (sees degrees), ``"mean"`` or ``"max"``.
        pooling: how node embeddings become graph features: ``"mean"``, ``"sum"``, ``"max"`` or a list of them.
        add_reverse_edges: also pass messages against each edge's direction (for undirected graphs given
            with one link per edge).
        message_norm: ``"none"``, ``"sqrt_degree"`` (aggregated messages divided by the square root of the
            in-degree) or ``"layer"`` (a LayerNorm on them).
        node_outputs: what each node's embedding (what node-level heads read) holds, concatenated:
            ``"final"`` (``h^L``), ``"input"`` (``h^0``, the node's own features, untouched by its
            neighbours) and ``"relative"`` (``h^L`` minus its maximum over the node's graph, elementwise).
        node_readout: whether node-level heads also read the graph's features (the pooled ``h^L`` after
            the policy's hidden layers) next to each node's embedding.
    """

    takes_raw_observations = True

    def __init__(self, space: spaces.Graph, hidden_dim: int = 64, n_layers: int = 3, aggregation: str = "sum",
                 pooling: str | list[str] | tuple[str, ...] = ("mean", "max"), add_reverse_edges: bool = False,
                 message_norm: str = "none", node_outputs: str | list[str] | tuple[str, ...] = "final",
                 node_readout: bool = True) -> None:
        super().__init__(space, hidden_dim * len(pooling_modes(pooling)))
        self.node_space, self.edge_space = space.node_space, space.edge_space
        self.edge_dim = input_dim(space.edge_space)
        self.embed = nn.Linear(input_dim(space.node_space), hidden_dim)
        self.layers = nn.ModuleList(MessagePassingLayer(hidden_dim, self.edge_dim, aggregation, message_norm)
                                    for _ in range(n_layers))
        self.pooling = pooling_modes(pooling)
        self.add_reverse_edges = bool(add_reverse_edges)
        self.node_outputs = node_output_modes(node_outputs)
        self.node_dim = hidden_dim * len(self.node_outputs)
        self.node_readout = bool(node_readout)

    def encode_nodes(self, graphs: GraphBatch) -> NodeEncoding:
        """The node embeddings ``node_outputs`` names and the pooled graph features."""
        edge_index = graphs.edge_index
        edge_features = None if self.edge_space is None else as_features(graphs.edges, self.edge_space)
        if self.add_reverse_edges:
            edge_index = torch.cat([edge_index, edge_index.flip(0)], dim=1)
            if edge_features is not None:
                edge_features = torch.cat([edge_features, edge_features], dim=0)
        h0 = h = self.embed(as_features(graphs.nodes, self.node_space))
        for layer in self.layers:
            h = layer(h, edge_index, edge_features)
        features = pool(h, graphs.node_index, graphs.num_graphs, self.pooling)
        parts = {"final": h, "input": h0}
        if "relative" in self.node_outputs:
            parts["relative"] = h - segment_reduce(h, graphs.node_index, graphs.num_graphs, "max")[graphs.node_index]
        nodes = parts["final"] if self.node_outputs == ["final"] else torch.cat(
            [parts[m] for m in self.node_outputs], dim=1)
        return NodeEncoding(features, nodes, graphs.node_index, graphs.node_offsets)

    def forward(self, graphs: GraphBatch) -> torch.Tensor:
        return self.encode_nodes(graphs).features
