"""Batches of observations of variable size: graphs and sets, held as concatenated values plus offsets.

Gymnasium's vector envs give a batch of ``Graph`` observations as a tuple of ``GraphInstance`` and a
batch of ``Sequence`` observations as a tuple of arrays. :func:`collate` turns them into one
:class:`GraphBatch` or :class:`SetBatch` of tensors: the nodes (points) of all items concatenated,
with ``offsets`` marking where each item starts and ``index`` naming the item of each node. No item
is padded, so memory and compute follow the real sizes; encoders reduce per item with the segment
operations of :mod:`ballast.segment`.

Edges are given as ``edge_index`` of shape ``(2, E)`` holding global node positions in the batch,
row 0 the source and row 1 the target of each edge (the convention of PyTorch Geometric).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from gymnasium.spaces import GraphInstance

from ballast.errors import ObservationError
from ballast.segment import index_from_lengths, lengths_from_offsets, offsets_from_lengths, ragged_arange


@dataclass
class GraphBatch:
    """``B`` graphs as one disjoint graph; see the module docstring.

    ``nodes``: ``(N, *node_shape)`` float32 (int64 ``(N,)`` for a Discrete node space);
    ``edges``: ``(E, *edge_shape)`` or None; ``edge_index``: ``(2, E)`` int64;
    ``node_offsets``/``edge_offsets``: ``(B + 1,)`` int64; ``node_index``: ``(N,)`` int64.
    """

    nodes: torch.Tensor
    edges: torch.Tensor | None
    edge_index: torch.Tensor
    node_offsets: torch.Tensor
    edge_offsets: torch.Tensor
    node_index: torch.Tensor

    @classmethod
    def from_parts(cls, nodes: torch.Tensor, node_counts: torch.Tensor, edges: torch.Tensor | None,
                   local_links: torch.Tensor, edge_counts: torch.Tensor) -> GraphBatch:
        """Build from per-graph counts and edge links local to each graph (``(E, 2)``, node 0 = the graph's first)."""
        node_offsets = offsets_from_lengths(node_counts)
        edge_offsets = offsets_from_lengths(edge_counts)
        edge_graph = index_from_lengths(edge_counts, total=local_links.shape[0])
        edge_index = (local_links.to(torch.long) + node_offsets[edge_graph].unsqueeze(1)).T.contiguous()
        return cls(nodes, edges, edge_index, node_offsets, edge_offsets,
                   index_from_lengths(node_counts, total=nodes.shape[0]))

    @property
    def num_graphs(self) -> int:
        return self.node_offsets.shape[0] - 1

    def __len__(self) -> int:
        return self.num_graphs

    @property
    def node_counts(self) -> torch.Tensor:
        return lengths_from_offsets(self.node_offsets)

    @property
    def edge_counts(self) -> torch.Tensor:
        return lengths_from_offsets(self.edge_offsets)

    def local_links(self) -> torch.Tensor:
        """Edge links ``(E, 2)`` relative to each graph's first node (as Gymnasium gives them)."""
        edge_graph = index_from_lengths(self.edge_counts, total=self.edge_index.shape[1])
        return (self.edge_index - self.node_offsets[edge_graph]).T

    def __getitem__(self, key: slice | torch.Tensor) -> GraphBatch:
        """The graphs ``key`` (a slice or a tensor of graph positions), as a new batch."""
        graphs = torch.arange(self.num_graphs, device=self.node_offsets.device)[key]
        node_counts, edge_counts = self.node_counts[graphs], self.edge_counts[graphs]
        node_pick = ragged_arange(self.node_offsets[graphs], node_counts)
        edge_pick = ragged_arange(self.edge_offsets[graphs], edge_counts)
        # Only the picked edges are made local again (a minibatch slice must not cost the whole batch).
        edge_graph = torch.repeat_interleave(graphs, edge_counts, output_size=edge_pick.shape[0])
        links = (self.edge_index[:, edge_pick] - self.node_offsets[edge_graph]).T
        edges = None if self.edges is None else self.edges[edge_pick]
        return GraphBatch.from_parts(self.nodes[node_pick], node_counts, edges, links, edge_counts)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> GraphBatch:
        move = lambda t: None if t is None else t.to(device, non_blocking=non_blocking)  # noqa: E731
        return GraphBatch(move(self.nodes), move(self.edges), move(self.edge_index), move(self.node_offsets),
                          move(self.edge_offsets), move(self.node_index))


@dataclass
class SetBatch:
    """``B`` sets (or sequences) of vectors: ``values`` ``(N, *feature_shape)``, ``offsets`` ``(B + 1,)``,
    ``index`` ``(N,)``; elements keep the order the env gave them in."""

    values: torch.Tensor
    offsets: torch.Tensor
    index: torch.Tensor

    @classmethod
    def from_parts(cls, values: torch.Tensor, lengths: torch.Tensor) -> SetBatch:
        return cls(values, offsets_from_lengths(lengths), index_from_lengths(lengths, total=values.shape[0]))

    @property
    def num_sets(self) -> int:
        return self.offsets.shape[0] - 1

    def __len__(self) -> int:
        return self.num_sets

    @property
    def lengths(self) -> torch.Tensor:
        return lengths_from_offsets(self.offsets)

    def __getitem__(self, key: slice | torch.Tensor) -> SetBatch:
        items = torch.arange(self.num_sets, device=self.offsets.device)[key]
        lengths = self.lengths[items]
        return SetBatch.from_parts(self.values[ragged_arange(self.offsets[items], lengths)], lengths)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> SetBatch:
        return SetBatch(*(t.to(device, non_blocking=non_blocking) for t in (self.values, self.offsets, self.index)))

    def cpu(self) -> SetBatch:
        return self.to("cpu")

    def numpy(self) -> tuple[np.ndarray, ...]:
        """One array per item (views of the values): the form Gymnasium's vector envs take for per-node actions."""
        values = self.values.detach().cpu().numpy()
        return tuple(np.split(values, self.offsets[1:-1].cpu().numpy()))


RaggedBatch = GraphBatch | SetBatch


def is_ragged_space(space: spaces.Space) -> bool:
    """True for the spaces whose observations vary in size (Graph, Sequence and set-axis spaces)."""
    return isinstance(space, (spaces.Graph, spaces.Sequence))


def _node_dtype(space: spaces.Space | None, array: np.ndarray) -> np.dtype:
    if isinstance(space, spaces.Discrete) or (space is None and array.dtype.kind in "iu"):
        return np.dtype(np.int64)
    return np.dtype(np.float32)


def _feature_shape(space: spaces.Space | None) -> tuple[int, ...]:
    if space is None or isinstance(space, spaces.Discrete):
        return ()
    return tuple(space.shape)


def graphs_to_numpy(graphs: Sequence[GraphInstance], space: spaces.Graph | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray, np.ndarray]:
    """``(nodes, node_counts, edges, local_links, edge_counts)`` of a sequence of graphs, concatenated."""
    node_space = space.node_space if space is not None else None
    edge_space = space.edge_space if space is not None else None
    node_shape = _feature_shape(node_space)
    node_arrays, edge_arrays, link_arrays = [], [], []
    for g in graphs:
        if not isinstance(g, GraphInstance):
            raise ObservationError(f"expected a gymnasium GraphInstance, got {type(g).__name__}")
        nodes = np.asarray(g.nodes)
        if space is not None and tuple(nodes.shape[1:]) != node_shape:
            raise ObservationError(
                f"a graph has node features of shape {nodes.shape} but the space {space} expects (n_nodes"
                + "".join(f", {d}" for d in node_shape) + "); check the env's node features")
        node_arrays.append(nodes)
        links = np.zeros((0, 2), dtype=np.int64) if g.edge_links is None else np.asarray(g.edge_links)
        link_arrays.append(links.reshape(-1, 2))
        edge_arrays.append(None if g.edges is None else np.asarray(g.edges))
    node_counts = np.fromiter((len(a) for a in node_arrays), dtype=np.int64, count=len(node_arrays))
    edge_counts = np.fromiter((len(a) for a in link_arrays), dtype=np.int64, count=len(link_arrays))
    nodes = (np.concatenate(node_arrays) if node_arrays else np.zeros((0, *node_shape)))
    nodes = nodes.astype(_node_dtype(node_space, nodes), copy=False)
    links = np.concatenate(link_arrays).astype(np.int64, copy=False) if link_arrays else np.zeros((0, 2), np.int64)
    has_edges = edge_space is not None if space is not None else any(e is not None for e in edge_arrays)
    edges = None
    if has_edges:
        edge_shape = _feature_shape(edge_space)
        parts = [None if e is None else np.asarray(e) for e in edge_arrays]
        if any(p is None or len(p) != c for p, c in zip(parts, edge_counts)):
            raise ObservationError("every graph needs one edge feature per edge link (edges and edge_links differ)")
        bad = [p.shape for p in parts if tuple(p.shape[1:]) != edge_shape]
        if space is not None and bad:
            raise ObservationError(f"a graph has edge features of shape {bad[0]} but the space {space} expects "
                                   "(n_edges" + "".join(f", {d}" for d in edge_shape) + ")")
        edges = np.concatenate(parts) if parts else np.zeros((0, *edge_shape))
        edges = edges.astype(_node_dtype(edge_space, edges), copy=False)
    if len(links) and (links.min() < 0 or np.any(links.max(axis=1) >= np.repeat(node_counts, edge_counts))):
        raise ObservationError("a graph has an edge link to a node it does not have (edge_links index its nodes)")
    return nodes, node_counts, edges, links, edge_counts


def collate_graphs(graphs: Sequence[GraphInstance], space: spaces.Graph | None = None,
                   device: torch.device | str = "cpu") -> GraphBatch:
    """One :class:`GraphBatch` on ``device`` from a sequence of ``GraphInstance``."""
    nodes, node_counts, edges, links, edge_counts = graphs_to_numpy(graphs, space)
    t = lambda a: torch.as_tensor(a, device=device)  # noqa: E731
    return GraphBatch.from_parts(t(nodes), t(node_counts), None if edges is None else t(edges), t(links),
                                 t(edge_counts))


def sets_to_numpy(items: Sequence[Any], space: spaces.Sequence | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(values, lengths)`` of a sequence of sets (arrays of shape ``(n, *feature_shape)`` or tuples of vectors)."""
    feature_space = space.feature_space if space is not None else None
    shape = _feature_shape(feature_space)
    axis = getattr(space, "axis", 0)
    arrays = []
    for item in items:
        array = np.asarray(item)
        if array.size == 0:
            array = np.zeros((0, *shape), dtype=np.float32)
        elif axis != 0:
            array = np.moveaxis(array, axis, 0)
        if space is not None and tuple(array.shape[1:]) != shape:
            raise ObservationError(
                f"a set element has shape {tuple(array.shape[1:])} but the space {space} expects {shape}"
                + ("" if axis == 0 else f" (the set axis {axis} is moved first)"))
        arrays.append(array)
    lengths = np.fromiter((len(a) for a in arrays), dtype=np.int64, count=len(arrays))
    values = np.concatenate(arrays) if arrays else np.zeros((0, *shape))
    return values.astype(_node_dtype(feature_space, values), copy=False), lengths


def collate_sets(items: Sequence[Any], space: spaces.Sequence | None = None,
                 device: torch.device | str = "cpu") -> SetBatch:
    """One :class:`SetBatch` on ``device`` from a sequence of sets."""
    values, lengths = sets_to_numpy(items, space)
    return SetBatch.from_parts(torch.as_tensor(values, device=device), torch.as_tensor(lengths, device=device))


def collate(space: spaces.Space | None, obs: Any, device: torch.device | str = "cpu") -> Any:
    """A batch of observations as the encoders take it: tensors, :class:`GraphBatch`, :class:`SetBatch`,
    or a dict of these for a Dict space. ``space`` may be None, then the kind is read from the data."""
    if isinstance(obs, (GraphBatch, SetBatch)):
        return obs.to(device)
    if isinstance(obs, torch.Tensor):
        return obs.to(device)
    if isinstance(obs, dict):
        subs = space.spaces if isinstance(space, spaces.Dict) else {}
        return {k: collate(subs.get(k), v, device) for k, v in obs.items()}
    if isinstance(space, spaces.Graph) or (space is None and isinstance(obs, (tuple, list)) and obs
                                           and isinstance(obs[0], GraphInstance)):
        return collate_graphs(obs, space, device)
    if isinstance(space, spaces.Sequence) or (space is None and isinstance(obs, (tuple, list))):
        return collate_sets(obs, space, device)
    return torch.as_tensor(np.asarray(obs), device=device)
