"""The sum tree of prioritized replay: sums, prefix-sum search, batched updates, stratified draws."""

import numpy as np
import pytest

from ballast.buffers.sum_tree import SumTree, stratified_prefix_sums
from ballast.errors import ConfigurationError


def _internal_nodes_are_sums(tree: SumTree) -> bool:
    def padded(sums: np.ndarray, size: int) -> np.ndarray:
        return np.concatenate([sums, np.zeros(size - len(sums))])

    return all(np.allclose(parent, padded(child.reshape(-1, tree.branching).sum(axis=1), len(parent)), rtol=0,
                           atol=1e-9) for parent, child in zip(tree.levels[:-1], tree.levels[1:]))


@pytest.mark.parametrize(("n_leaves", "branching"), [(1, 64), (2, 2), (5, 2), (8, 2), (13, 4), (300, 4), (5000, 64)])
def test_update_keeps_every_node_the_sum_of_its_children(n_leaves: int, branching: int) -> None:
    tree = SumTree(n_leaves, branching)
    assert len(tree.levels[0]) == 1 and n_leaves <= len(tree.levels[-1]) < n_leaves + branching
    rng = np.random.default_rng(n_leaves)
    values = rng.random(n_leaves)
    tree.update(np.arange(n_leaves), values)
    assert tree.total() == pytest.approx(values.sum())
    assert _internal_nodes_are_sums(tree)
    index = rng.integers(0, n_leaves, 3)  # a batch that may repeat a leaf: its parents are listed twice
    tree.update(index, [7.0, 7.0, 7.0])
    values[index] = 7.0
    assert tree.total() == pytest.approx(values.sum())
    np.testing.assert_array_equal(tree.leaves, values)
    assert _internal_nodes_are_sums(tree)


@pytest.mark.parametrize("branching", [2, 3, 64])
def test_set_all_and_a_saved_state_build_the_same_tree_as_updates(branching: int) -> None:
    values = np.random.default_rng(0).random(11)
    incremental, rebuilt, restored = SumTree(11, branching), SumTree(11, branching), SumTree(11, branching)
    for i in (3, 0, 10, 7, 1, 2, 4, 5, 6, 8, 9):
        incremental.update([i], [values[i]])
    rebuilt.set_all(values)
    restored.load_state(incremental.state())
    for tree in (rebuilt, restored):
        np.testing.assert_array_equal(tree.state(), incremental.state())


@pytest.mark.parametrize("branching", [2, 4, 64])
def test_find_by_hand(branching: int) -> None:
    tree = SumTree(5, branching)
    tree.update(np.arange(5), [1.0, 0.0, 3.0, 2.0, 0.0])  # prefix sums 1, 1, 4, 6, 6
    np.testing.assert_array_equal(tree.find([0.0, 0.999, 1.0, 3.999, 4.0, 5.999]), [0, 0, 2, 2, 3, 3])
    # a value at (or, by rounding, past) the total stays on the last leaf with mass, never a zero leaf
    np.testing.assert_array_equal(tree.find([6.0, 6.5]), [3, 3])


@pytest.mark.parametrize("branching", [2, 8])
def test_zero_priority_leaves_are_never_found(branching: int) -> None:
    tree = SumTree(64, branching)
    priorities = np.where(np.arange(64) % 3 == 0, 0.0, np.random.default_rng(1).random(64))
    tree.update(np.arange(64), priorities)
    found = tree.find(np.linspace(0.0, tree.total(), 10_001))
    assert priorities[found].min() > 0


def test_stratified_prefix_sums_by_hand() -> None:
    # total 8 in 4 segments of 2: segment i gives (i + u_i) * 2
    np.testing.assert_allclose(stratified_prefix_sums(8.0, np.array([0.0, 0.5, 0.25, 0.999])), [0.0, 3.0, 4.5, 7.998])


@pytest.mark.parametrize("branching", [2, 4])
def test_stratified_draws_follow_the_priorities(branching: int) -> None:
    rng = np.random.default_rng(2)
    priorities = rng.random(37) ** 2
    priorities[[4, 20]] = 0.0
    tree = SumTree(37, branching)
    tree.update(np.arange(37), priorities)
    n = 200_000
    counts = np.bincount(tree.find(stratified_prefix_sums(tree.total(), rng.random(n))), minlength=37)
    expected = priorities / priorities.sum()
    # stratified draws vary less than independent ones: the binomial spread is a safe bound
    assert np.all(np.abs(counts / n - expected) <= 4 * np.sqrt(expected * (1 - expected) / n) + 1e-12)
    assert counts[4] == counts[20] == 0


def test_refuses_negative_or_non_finite_priorities() -> None:
    tree = SumTree(4)
    with pytest.raises(ConfigurationError, match="finite and >= 0"):
        tree.update([0, 1], [1.0, -0.5])
    with pytest.raises(ConfigurationError, match="finite and >= 0"):
        tree.update([2], [np.nan])
    with pytest.raises(ConfigurationError, match="at least one leaf"):
        SumTree(0)
    with pytest.raises(ConfigurationError, match="same buffer_size"):
        tree.load_state(np.zeros(3))
