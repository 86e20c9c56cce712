"""PrioritizedReplayBuffer: priorities of new, invalid and newest entries, updates, draws, weights, state."""

import numpy as np
import pytest
import torch
from gymnasium import spaces

from ballast.algos.off_policy import replay_options
from ballast.buffers.prioritized import PrioritizedReplayBuffer, importance_weights, linear_beta
from ballast.buffers.replay import ReplayBuffer
from ballast.errors import ConfigurationError

OBS = spaces.Box(-np.inf, np.inf, (2,), np.float32)
ACT = spaces.Box(-1.0, 1.0, (1,), np.float32)


def fill(buffer, values, n_envs=1, invalid=()):
    """One row per value; env e of row t sees [value, e]; rows in ``invalid`` are invalid for every env."""
    for t, value in enumerate(values):
        obs = np.array([[value, e] for e in range(n_envs)], dtype=np.float32)
        buffer.add(obs, np.zeros((n_envs, 1), np.float32), np.full(n_envs, value), np.zeros(n_envs, bool),
                   np.zeros(n_envs, bool), np.full(n_envs, t not in invalid))


def priorities(buffer):
    buffer._flush()
    return buffer.tree.leaves.reshape(buffer.capacity, buffer.n_envs)


def test_importance_weights_by_hand() -> None:
    p = np.array([0.5, 0.25, 0.25])
    # (4 P)^-0.5 = 2^-0.5, 1, 1; divided by the batch's largest
    np.testing.assert_allclose(importance_weights(p, 4, 0.5), [2 ** -0.5, 1.0, 1.0])
    np.testing.assert_allclose(importance_weights(p, 4, 1.0), [0.5, 1.0, 1.0])
    np.testing.assert_allclose(importance_weights(p, 4, 0.0), [1.0, 1.0, 1.0])


def test_beta_goes_linearly_from_beta_to_final_beta() -> None:
    assert linear_beta(0.4, 1.0, 1.0) == pytest.approx(0.4)
    assert linear_beta(0.4, 1.0, 0.5) == pytest.approx(0.7)
    assert linear_beta(0.4, 1.0, 0.0) == pytest.approx(1.0)
    buffer = PrioritizedReplayBuffer(OBS, ACT, 8, beta=0.2, final_beta=0.6)
    buffer.anneal(0.25)
    assert buffer.current_beta == pytest.approx(0.5)


def test_new_entries_get_the_max_priority_and_the_newest_and_invalid_ones_none() -> None:
    buffer = PrioritizedReplayBuffer(OBS, ACT, 10, alpha=0.5)
    fill(buffer, [0, 1, 2, 3], invalid={2})  # not full: rows 4.. are unwritten
    np.testing.assert_array_equal(priorities(buffer)[:, 0], [1, 1, 0, 0, 0, 0, 0, 0, 0, 0])  # 3 is the newest
    buffer.update_priorities(torch.tensor([0, 1]), torch.tensor([3.0, -0.25]))
    eps = 1e-6
    np.testing.assert_allclose(priorities(buffer)[:2, 0], [(3 + eps) ** 0.5, (0.25 + eps) ** 0.5])
    assert buffer.max_priority == pytest.approx(3 + eps)
    fill(buffer, [4])  # row 3 is no longer the newest: it gets the max priority seen, 3 + eps, to the alpha
    np.testing.assert_allclose(priorities(buffer)[3:5, 0], [(3 + eps) ** 0.5, 0.0])


def test_draws_follow_the_priorities_with_their_importance_weights() -> None:
    buffer = PrioritizedReplayBuffer(OBS, ACT, 8, alpha=1.0, min_priority=1e-9)
    fill(buffer, range(6))  # rows 0-4 sampleable
    buffer.update_priorities(np.arange(5), np.array([1.0, 2.0, 3.0, 0.0, 4.0]))
    buffer.anneal(0.5)  # beta = 0.7
    batch = buffer.sample(100_000, torch.Generator().manual_seed(0))
    counts = np.bincount(batch.indices.numpy(), minlength=8)
    expected = np.array([1, 2, 3, 0, 4, 0, 0, 0]) / 10
    np.testing.assert_allclose(counts / 100_000, expected, atol=0.005)
    assert counts[3] <= 1  # priority min_priority = 1e-9 only
    # w_i = (N P(i))^-beta / max_j w_j, N = 6 stored: the batch holds entry 3 or not; compare by entry
    p = buffer.tree.leaves[batch.indices.numpy()] / buffer.tree.total()
    np.testing.assert_allclose(batch.weights.numpy(), importance_weights(p, 6, 0.7), rtol=1e-6)
    sampled_rows = batch.observations[:, 0].numpy().astype(int)
    np.testing.assert_array_equal(batch.next_observations[:, 0].numpy(), sampled_rows + 1)


def test_stratified_draw_of_equal_priorities_covers_each_segment_once() -> None:
    buffer = PrioritizedReplayBuffer(OBS, ACT, 16)
    fill(buffer, range(9))  # rows 0-7 sampleable, all at priority 1
    batch = buffer.sample(8, torch.Generator().manual_seed(3))
    np.testing.assert_array_equal(batch.indices.numpy(), np.arange(8))  # one per segment, in order
    np.testing.assert_array_equal(batch.weights.numpy(), np.ones(8))


def test_wrap_around_overwrites_priorities_and_keeps_the_newest_out() -> None:
    buffer = PrioritizedReplayBuffer(OBS, ACT, 4, alpha=1.0)
    fill(buffer, [0, 1, 2])
    buffer.update_priorities(np.array([0, 1]), np.array([5.0, 0.5]))
    fill(buffer, [3, 4, 5])  # 6 rows in 4 slots: slot 0 holds 4, slot 1 holds 5 (the newest)
    p = priorities(buffer)[:, 0]
    assert p[1] == 0.0  # the newest row, whatever it held before
    np.testing.assert_allclose(p[[0, 2, 3]], 5.0 + 1e-6)  # new rows get the max priority seen
    batch = buffer.sample(2000, torch.Generator().manual_seed(1))
    assert set(batch.observations[:, 0].numpy().astype(int)) == {2, 3, 4}
    np.testing.assert_array_equal(batch.next_observations[:, 0].numpy(), batch.observations[:, 0].numpy() + 1)


def test_several_env_copies_have_one_priority_each() -> None:
    buffer = PrioritizedReplayBuffer(OBS, ACT, 12, n_envs=3, alpha=1.0)
    fill(buffer, [0, 1, 2], n_envs=3)
    buffer.valid[1, 2] = False  # env 2's step of row 1 only reset it
    buffer._pending.append(1)
    np.testing.assert_array_equal(priorities(buffer)[:3], [[1, 1, 1], [1, 1, 0], [0, 0, 0]])
    buffer.update_priorities(np.array([1 * 3 + 1]), np.array([9.0]))  # row 1, env 1
    batch = buffer.sample(5000, torch.Generator().manual_seed(2))
    index = batch.indices.numpy()
    assert np.mean(index == 4) == pytest.approx(9 / 13, abs=0.02)
    np.testing.assert_array_equal(batch.observations[:, 1].numpy(), index % 3)  # obs [row value, env]
    assert 5 not in index


def test_state_round_trip_continues_identically() -> None:
    buffer = PrioritizedReplayBuffer(OBS, ACT, 6, n_envs=2, alpha=0.7)
    fill(buffer, range(8), n_envs=2)
    buffer.update_priorities(np.array([0, 3, 5]), np.array([0.3, 2.0, 0.1]))
    buffer.anneal(0.3)
    fill(buffer, [8], n_envs=2)  # a row still pending when saved
    restored = PrioritizedReplayBuffer(OBS, ACT, 6, n_envs=2, alpha=0.7)
    restored.load_state_tensors(buffer.state_tensors())
    assert (restored.max_priority, restored.current_beta, restored._pending) == (
        buffer.max_priority, buffer.current_beta, buffer._pending)
    a, b = (x.sample(64, torch.Generator().manual_seed(4)) for x in (buffer, restored))
    assert torch.equal(a.indices, b.indices) and torch.equal(a.weights, b.weights)
    np.testing.assert_array_equal(restored.tree.state(), buffer.tree.state())


def test_a_uniform_buffers_content_loads_with_priority_one() -> None:
    uniform = ReplayBuffer(OBS, ACT, 6)
    fill(uniform, range(4), invalid={1})
    buffer = PrioritizedReplayBuffer(OBS, ACT, 6)
    buffer.load_state_tensors(uniform.state_tensors())
    np.testing.assert_array_equal(priorities(buffer)[:, 0], [1, 0, 1, 0, 0, 0])


def test_alpha_zero_draws_uniformly_among_sampleable_entries() -> None:
    buffer = PrioritizedReplayBuffer(OBS, ACT, 8, alpha=0.0)
    fill(buffer, range(5))
    buffer.update_priorities(np.array([0, 1]), np.array([100.0, 0.0]))
    np.testing.assert_array_equal(priorities(buffer)[:, 0], [1, 1, 1, 1, 0, 0, 0, 0])


def test_bad_options_raise_clear_errors() -> None:
    with pytest.raises(ConfigurationError, match="not a buffer Ballast builds"):
        replay_options(False, dict, None)
    with pytest.raises(ConfigurationError, match="only configure the prioritized buffer"):
        replay_options(False, None, {"alpha": 0.6})
    with pytest.raises(ConfigurationError, match="does not take"):
        replay_options(True, None, {"eps": 0.1})
    with pytest.raises(ConfigurationError, match="alpha=-1"):
        replay_options(True, None, {"alpha": -1})
    with pytest.raises(ConfigurationError, match="min_priority=0"):
        PrioritizedReplayBuffer(OBS, ACT, 8, min_priority=0)
    assert replay_options(False, PrioritizedReplayBuffer, {"beta": 0.5}) == {
        "prioritized_replay": True,
        "replay_buffer_kwargs": {"alpha": 0.5, "beta": 0.5, "final_beta": 1.0, "min_priority": 1e-6},
        "replay_buffer_class": None}
    assert replay_options(False, ReplayBuffer, None) == {"prioritized_replay": False, "replay_buffer_kwargs": None,
                                                         "replay_buffer_class": None}
    buffer = PrioritizedReplayBuffer(OBS, ACT, 8)
    with pytest.raises(ConfigurationError, match="no transition that can be sampled"):
        buffer.sample(4, torch.Generator())
    fill(buffer, range(3))
    with pytest.raises(ConfigurationError, match="non-finite"):
        buffer.update_priorities(np.array([0]), np.array([np.inf]))
