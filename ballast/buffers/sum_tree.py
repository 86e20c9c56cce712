"""A sum tree over a replay buffer's entries: batched priority updates and prefix-sum search in NumPy.

The tree is a complete binary tree in one float64 array of ``2 * size`` nodes (``size``: the
smallest power of two >= the number of leaves): node ``k`` has children ``2k`` and ``2k + 1``,
leaf ``i`` is node ``size + i`` and the root, node 1, holds the sum of every leaf. Both
operations work on a whole batch with one NumPy operation per tree level (``log2(size)`` of
them), never a Python loop over the batch:

- :meth:`SumTree.update` writes a batch of leaves, then recomputes their ancestors level by level;
- :meth:`SumTree.find` descends from the root for a batch of prefix sums at once, each going
  right where its value is at least the left child's mass (the value minus that mass goes on).

Proportional prioritized replay (Schaul et al., 2016, "Prioritized Experience Replay", ICLR)
draws entry ``i`` with probability ``p_i / sum_k p_k`` by finding uniform values in
``[0, sum_k p_k)`` (:func:`stratified_prefix_sums`: one value in each of ``B`` equal segments).
Float64 keeps the sums' rounding far below any priority; a value that rounding still sends past
the last positive leaf stays in the left subtree, so leaves of zero mass are never found.
"""

from __future__ import annotations

import numpy as np

from ballast.errors import ConfigurationError


class SumTree:
    """Sums of ``n_leaves`` non-negative priorities (all zero at first); see the module docstring."""

    def __init__(self, n_leaves: int) -> None:
        if n_leaves < 1:
            raise ConfigurationError(f"a sum tree needs at least one leaf, got n_leaves={n_leaves}")
        self.n_leaves = int(n_leaves)
        self.size = 1 << max(int(n_leaves) - 1, 0).bit_length()
        self.depth = self.size.bit_length() - 1
        self.nodes = np.zeros(2 * self.size, dtype=np.float64)

    @property
    def leaves(self) -> np.ndarray:
        """The priorities (a view: read it, write through :meth:`update` or :meth:`set_all`)."""
        return self.nodes[self.size:self.size + self.n_leaves]

    def total(self) -> float:
        """The sum of all priorities."""
        return float(self.nodes[1])

    def update(self, indices: np.ndarray, priorities: np.ndarray) -> None:
        """Set the leaves ``indices`` to ``priorities`` (an index given twice keeps one of its values)."""
        priorities = np.asarray(priorities, dtype=np.float64)
        if priorities.size and not (np.isfinite(priorities).all() and priorities.min() >= 0):
            raise ConfigurationError("sum-tree priorities must be finite and >= 0; got "
                                     f"{priorities[~(np.isfinite(priorities) & (priorities >= 0))][:3]}")
        nodes = np.asarray(indices, dtype=np.int64) + self.size
        self.nodes[nodes] = priorities
        for _ in range(self.depth):
            nodes = nodes >> 1
            # A parent listed twice gets the same sum twice: no deduplication needed.
            self.nodes[nodes] = self.nodes[2 * nodes] + self.nodes[2 * nodes + 1]

    def set_all(self, priorities: np.ndarray) -> None:
        """Replace every leaf and rebuild the tree, one level at a time (as a checkpoint restores it)."""
        priorities = np.asarray(priorities, dtype=np.float64).reshape(-1)
        if priorities.shape != (self.n_leaves,):
            raise ConfigurationError(f"expected {self.n_leaves} priorities, got {priorities.shape[0]}")
        self.nodes[:] = 0.0
        self.nodes[self.size:self.size + self.n_leaves] = priorities
        for level in range(self.depth - 1, -1, -1):
            first = 1 << level
            parents = np.arange(first, 2 * first)
            self.nodes[parents] = self.nodes[2 * parents] + self.nodes[2 * parents + 1]

    def find(self, values: np.ndarray) -> np.ndarray:
        """The leaf of each value's prefix sum: the ``i`` with ``sum_{k<i} p_k <= v < sum_{k<=i} p_k``,
        for values in ``[0, total())``."""
        values = np.array(values, dtype=np.float64)
        nodes = np.ones(values.shape, dtype=np.int64)
        tree = self.nodes
        for _ in range(self.depth):
            left = 2 * nodes
            left_mass = tree[left]
            right = (values >= left_mass) & (tree[left + 1] > 0)
            values -= np.where(right, left_mass, 0.0)
            nodes = left + right
        return nodes - self.size


def stratified_prefix_sums(total: float, uniforms: np.ndarray) -> np.ndarray:
    """Schaul et al.'s stratified draw: ``[0, total)`` cut into ``B = len(uniforms)`` equal segments,
    segment ``i`` giving the value ``(i + u_i) * total / B`` for a uniform ``u_i`` in ``[0, 1)``."""
    n = len(uniforms)
    return (np.arange(n, dtype=np.float64) + np.asarray(uniforms, dtype=np.float64)) * (total / n)
