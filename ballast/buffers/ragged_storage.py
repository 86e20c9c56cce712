"""Ragged storages for observations of variable size (Graph, Sequence and set-axis spaces).

Items are not padded to a common size. Each storage keeps one :class:`RaggedArena` per part of
the observation (node features, edge features, edge links; or set elements): the values of all
items concatenated in one array, with each item's ``start`` and ``length``. Writing an item
appends its values; the values it replaces become garbage, reclaimed when the arena must grow
(live values are then compacted into an array twice their size). The memory held is thus at most
about twice that of the items held, whatever their sizes, for the rollout buffer (each row
rewritten every rollout) and the replay buffer (rows overwritten in a circle) alike.

``gather(index)`` reads items by flat index (``row * n_envs + env``) with one vectorised gather
per part and returns a :class:`~ballast.ragged.GraphBatch` or :class:`~ballast.ragged.SetBatch`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from ballast.buffers.storage import register_storage
from ballast.ragged import GraphBatch, SetBatch, graphs_to_numpy, sets_to_numpy


def _ragged_arange(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + l)`` for each ``(s, l)``, without a loop."""
    total = int(lengths.sum())
    first = np.cumsum(lengths) - lengths
    return np.arange(total, dtype=np.int64) + np.repeat(starts - first, lengths)


class RaggedArena:
    """Variable-length items of ``item_shape`` vectors, concatenated; see the module docstring."""

    def __init__(self, n_items: int, item_shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.item_shape, self.dtype = tuple(item_shape), np.dtype(dtype)
        self.values = np.zeros((0, *self.item_shape), dtype=self.dtype)
        self.start = np.zeros(n_items, dtype=np.int64)
        self.length = np.zeros(n_items, dtype=np.int64)
        self.end = 0  # first free position in ``values``
        self.live = 0  # values held by current items (the rest up to ``end`` is garbage)

    def write(self, items: np.ndarray, values: np.ndarray, lengths: np.ndarray) -> None:
        """Store ``values`` (items concatenated, ``lengths[k]`` rows for ``items[k]``), replacing those items."""
        self.live -= int(self.length[items].sum())
        total = int(values.shape[0])
        if self.end + total > self.values.shape[0]:
            self._compact(extra=total)
        self.values[self.end:self.end + total] = values
        self.start[items] = self.end + np.cumsum(lengths) - lengths
        self.length[items] = lengths
        self.end += total
        self.live += total

    def _compact(self, extra: int) -> None:
        """Move the live values to the front of a new array with room for twice them plus ``extra``."""
        live_items = np.flatnonzero(self.length)
        keep = _ragged_arange(self.start[live_items], self.length[live_items])
        capacity = max(2 * (self.live + extra), 16)
        values = np.zeros((capacity, *self.item_shape), dtype=self.dtype)
        values[:len(keep)] = self.values[keep]
        self.start[live_items] = np.cumsum(self.length[live_items]) - self.length[live_items]
        self.values, self.end = values, len(keep)

    def gather(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(values, lengths)`` of the items ``index``, concatenated in that order."""
        lengths = self.length[index]
        return self.values[_ragged_arange(self.start[index], lengths)], lengths

    def nbytes(self) -> int:
        return int(self.values.nbytes + self.start.nbytes + self.length.nbytes)

    def state_arrays(self) -> dict[str, np.ndarray]:
        """The items' values in item order, without garbage, and their lengths (for checkpoints)."""
        return {"values": self.values[_ragged_arange(self.start, self.length)], "lengths": self.length.copy()}

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`state_arrays` returned."""
        lengths = np.asarray(arrays["lengths"], dtype=np.int64)
        values = np.asarray(arrays["values"], dtype=self.dtype)
        if lengths.shape != self.length.shape or values.shape[1:] != self.item_shape or len(values) != lengths.sum():
            raise ValueError(f"saved ragged values {values.shape} with {lengths.shape} lengths do not fit "
                             f"{self.length.shape[0]} items of shape {self.item_shape}")
        self.length[:] = 0
        self.live = self.end = 0
        self.values = np.zeros((0, *self.item_shape), dtype=self.dtype)
        self.write(np.arange(len(lengths)), values, lengths)


def _index_numpy(index: torch.Tensor | np.ndarray) -> np.ndarray:
    return index.cpu().numpy() if isinstance(index, torch.Tensor) else np.asarray(index)


class GraphStorage:
    """Graphs of ``capacity * n_envs`` items: node features, edge features (if any) and local edge links."""

    def __init__(self, space: spaces.Graph, capacity: int, n_envs: int, *, normalized: bool = False,
                 device: torch.device | str = "cpu") -> None:
        self.space, self.capacity, self.n_envs = space, capacity, n_envs
        self.device = torch.device(device)
        n = capacity * n_envs
        self.nodes = RaggedArena(n, _shape(space.node_space), _dtype(space.node_space))
        self.links = RaggedArena(n, (2,), np.dtype(np.int64))
        self.edges = None if space.edge_space is None else RaggedArena(n, _shape(space.edge_space),
                                                                        _dtype(space.edge_space))

    def put(self, row: int, batch: Any) -> None:
        """Write the ``n_envs`` graphs of vector step ``row`` (a :class:`GraphBatch` or a tuple of GraphInstance)."""
        items = np.arange(row * self.n_envs, (row + 1) * self.n_envs)
        if isinstance(batch, GraphBatch):
            nodes, node_counts = batch.nodes.cpu().numpy(), batch.node_counts.cpu().numpy()
            links, edge_counts = batch.local_links().cpu().numpy(), batch.edge_counts.cpu().numpy()
            edges = None if batch.edges is None else batch.edges.cpu().numpy()
        else:
            nodes, node_counts, edges, links, edge_counts = graphs_to_numpy(batch, self.space)
        self.nodes.write(items, nodes, node_counts)
        self.links.write(items, links, edge_counts)
        if self.edges is not None:
            self.edges.write(items, edges, edge_counts)

    def sync(self) -> None:
        """Nothing to do: gathered batches are copied to the device when read."""

    def gather(self, index: torch.Tensor) -> GraphBatch:
        flat = _index_numpy(index)
        nodes, node_counts = self.nodes.gather(flat)
        links, edge_counts = self.links.gather(flat)
        edges = None if self.edges is None else self.edges.gather(flat)[0]
        t = lambda a: torch.from_numpy(a).to(self.device)  # noqa: E731
        return GraphBatch.from_parts(t(nodes), t(node_counts), None if edges is None else t(edges), t(links),
                                     t(edge_counts))

    def nbytes(self) -> int:
        return sum(a.nbytes() for a in (self.nodes, self.links, self.edges) if a is not None)

    def _arenas(self) -> dict[str, RaggedArena]:
        return {name: arena for name, arena in (("nodes", self.nodes), ("links", self.links), ("edges", self.edges))
                if arena is not None}

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Named arrays of the whole content (for saving a replay buffer with the model)."""
        return {f"{name}.{part}": array for name, arena in self._arenas().items()
                for part, array in arena.state_arrays().items()}

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        for name, arena in self._arenas().items():
            arena.load_state_arrays({part: arrays[f"{name}.{part}"] for part in ("values", "lengths")})


class SetStorage:
    """Sets (or sequences) of vectors, ``capacity * n_envs`` items."""

    def __init__(self, space: spaces.Sequence, capacity: int, n_envs: int, *, normalized: bool = False,
                 device: torch.device | str = "cpu") -> None:
        self.space, self.capacity, self.n_envs = space, capacity, n_envs
        self.device = torch.device(device)
        self.values = RaggedArena(capacity * n_envs, _shape(space.feature_space), _dtype(space.feature_space))

    def put(self, row: int, batch: Any) -> None:
        """Write the ``n_envs`` sets of vector step ``row`` (a :class:`SetBatch` or a tuple of arrays)."""
        items = np.arange(row * self.n_envs, (row + 1) * self.n_envs)
        if isinstance(batch, SetBatch):
            values, lengths = batch.values.cpu().numpy(), batch.lengths.cpu().numpy()
        else:
            values, lengths = sets_to_numpy(batch, self.space)
        self.values.write(items, values, lengths)

    def sync(self) -> None:
        """Nothing to do: gathered batches are copied to the device when read."""

    def gather(self, index: torch.Tensor) -> SetBatch:
        values, lengths = self.values.gather(_index_numpy(index))
        return SetBatch.from_parts(torch.from_numpy(values).to(self.device), torch.from_numpy(lengths).to(self.device))

    def nbytes(self) -> int:
        return self.values.nbytes()

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Named arrays of the whole content (for saving a replay buffer with the model)."""
        return self.values.state_arrays()

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.values.load_state_arrays(arrays)


def _shape(space: spaces.Space) -> tuple[int, ...]:
    return () if isinstance(space, spaces.Discrete) else tuple(space.shape)


def _dtype(space: spaces.Space) -> np.dtype:
    """int64 for Discrete; a Box keeps an integer or bool dtype (int8 node masks: a byte a node), else float32."""
    if isinstance(space, spaces.Discrete):
        return np.dtype(np.int64)
    if np.issubdtype(space.dtype, np.integer) or space.dtype == np.bool_:
        return np.dtype(space.dtype)
    return np.dtype(np.float32)


register_storage(spaces.Graph, GraphStorage)
register_storage(spaces.Sequence, SetStorage)
