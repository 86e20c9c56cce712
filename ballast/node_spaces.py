"""Action spaces for decisions about the nodes of a graph observation.

A graph observation (``gymnasium.spaces.Graph``) has a different number of nodes in every episode, so
an action that refers to its nodes cannot be a plain ``Discrete(n)`` or ``MultiBinary(n)`` with a fixed
``n``. An env declares node-level actions with these spaces, and Ballast picks a node-level policy head
for them with ``policy="auto"``:

- :class:`NodeChoice`: choose one node of the current graph (a categorical over that graph's nodes);
- :class:`NodeMultiBinary`: one yes/no decision per node;
- :class:`NodeBox`: one continuous vector per node.

A plain ``Discrete`` or ``Box`` action over a graph observation means a head on the pooled graph features.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

MAX_NODES = 2**31 - 1


class NodeChoice(spaces.Discrete):
    """The index of one node of the current graph observation.

    It is a ``Discrete`` so that Gymnasium's vector envs batch it as integers; ``max_nodes`` only
    bounds :meth:`contains` and :meth:`sample`, it does not size any layer. Sample with the
    env's mask of valid nodes (one entry per node of the current graph):
    ``space.sample(mask=np.array([1, 0, 1], dtype=np.int8))``.
    """

    def __init__(self, max_nodes: int = MAX_NODES, seed: int | np.random.Generator | None = None) -> None:
        super().__init__(int(max_nodes), seed=seed)

    @property
    def max_nodes(self) -> int:
        return int(self.n)

    def sample(self, mask: np.ndarray | None = None, probability: np.ndarray | None = None) -> np.int64:
        """A node index; ``mask`` (int8, one entry per node, 1 = valid) or ``probability`` is required."""
        if mask is None and probability is None:
            raise ValueError(
                "NodeChoice.sample needs the current graph's node mask, e.g. "
                "sample(mask=np.ones(n_nodes, dtype=np.int8)): the number of nodes varies per observation"
            )
        if mask is not None:
            valid = np.flatnonzero(np.asarray(mask))
            if valid.size == 0:
                raise ValueError("NodeChoice.sample got a mask with no valid node")
            return np.int64(self.np_random.choice(valid))
        weights = np.asarray(probability, dtype=np.float64)
        return np.int64(self.np_random.choice(weights.size, p=weights / weights.sum()))

    def __repr__(self) -> str:
        return "NodeChoice()" if self.n == MAX_NODES else f"NodeChoice(max_nodes={self.n})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NodeChoice) and self.n == other.n


class NodeMultiBinary(spaces.Space[np.ndarray]):
    """One binary decision per node of the current graph: an int8 array of shape ``(n_nodes,)``."""

    def __init__(self, seed: int | np.random.Generator | None = None) -> None:
        super().__init__(shape=None, dtype=np.int8, seed=seed)

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def sample(self, mask: Any = None, probability: Any = None) -> np.ndarray:
        """``mask`` is the number of nodes of the current graph (an int) or a per-node int8 mask
        (1 = free to choose, 0 = forced to 0)."""
        if mask is None:
            raise ValueError("NodeMultiBinary.sample needs the number of nodes (or a per-node mask)")
        if np.isscalar(mask):
            return self.np_random.integers(0, 2, size=int(mask), dtype=np.int8)
        allowed = np.asarray(mask, dtype=np.int8)
        return (self.np_random.integers(0, 2, size=allowed.shape, dtype=np.int8) & allowed).astype(np.int8)

    def contains(self, x: Any) -> bool:
        array = np.asarray(x)
        return array.ndim == 1 and bool(np.all((array == 0) | (array == 1)))

    def __repr__(self) -> str:
        return "NodeMultiBinary()"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NodeMultiBinary)


class NodeBox(spaces.Space[np.ndarray]):
    """One continuous vector per node: an array of shape ``(n_nodes, *feature_shape)`` within ``[low, high]``.

    ``low`` and ``high`` are the bounds of one node's vector (shape ``feature_shape``) and must be finite.
    """

    def __init__(self, low: float | np.ndarray, high: float | np.ndarray, feature_shape: tuple[int, ...] = (1,),
                 dtype: type = np.float32, seed: int | np.random.Generator | None = None) -> None:
        self.node_space = spaces.Box(low=low, high=high, shape=tuple(feature_shape), dtype=dtype)
        super().__init__(shape=None, dtype=self.node_space.dtype, seed=seed)

    @property
    def low(self) -> np.ndarray:
        return self.node_space.low

    @property
    def high(self) -> np.ndarray:
        return self.node_space.high

    @property
    def feature_shape(self) -> tuple[int, ...]:
        return self.node_space.shape

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def seed(self, seed: int | None = None) -> list[int]:
        seeds = super().seed(seed)
        self.node_space.seed(int(self.np_random.integers(2**31)))
        return seeds

    def sample(self, mask: Any = None, probability: Any = None) -> np.ndarray:
        """``mask`` is the number of nodes of the current graph."""
        if mask is None:
            raise ValueError("NodeBox.sample needs the number of nodes of the current graph")
        return np.stack([self.node_space.sample() for _ in range(int(mask))]) if int(mask) else np.zeros(
            (0, *self.feature_shape), dtype=self.dtype)

    def contains(self, x: Any) -> bool:
        array = np.asarray(x)
        if array.ndim != 1 + len(self.feature_shape) or array.shape[1:] != self.feature_shape:
            return False
        return bool(np.all(array >= self.low) and np.all(array <= self.high))

    def __repr__(self) -> str:
        return f"NodeBox({_short(self.low)}, {_short(self.high)}, {self.feature_shape})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NodeBox) and self.node_space == other.node_space


def _short(values: np.ndarray) -> str:
    """One number when all bounds are equal, else the list of them."""
    flat = np.asarray(values).reshape(-1)
    return str(flat[0].item()) if flat.size and np.all(flat == flat[0]) else str(np.asarray(values).tolist())


NODE_ACTION_SPACES = (NodeChoice, NodeMultiBinary, NodeBox)


def is_per_node_action_space(space: spaces.Space) -> bool:
    """True for actions with one value per node (ragged): :class:`NodeMultiBinary` and :class:`NodeBox`."""
    return isinstance(space, (NodeMultiBinary, NodeBox))


def per_node_value_space(space: NodeMultiBinary | NodeBox) -> spaces.Sequence:
    """The space of one node's policy action (float32, flattened), as a Sequence for the ragged storage."""
    shape = (int(np.prod(space.feature_shape)),) if isinstance(space, NodeBox) else ()
    return spaces.Sequence(spaces.Box(-np.inf, np.inf, shape, np.float32), stack=True)
