import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

from ballast import TD3
from ballast.buffers.replay import ReplayBuffer, replay_buffer_nbytes
from ballast.errors import ConfigurationError

OBS = spaces.Box(-np.inf, np.inf, (2,), np.float32)
ACT = spaces.Box(-1.0, 1.0, (1,), np.float32)


def row(value, n_envs=1):
    """Observations of one row: env e sees [value, e]."""
    return np.array([[value, e] for e in range(n_envs)], dtype=np.float32)


def fill(buffer, values, n_envs=1, terminated=(), truncated=(), invalid=()):
    """Write one row per value; rows listed in terminated/truncated/invalid get those flags for every env."""
    for t, value in enumerate(values):
        flags = np.full(n_envs, True)
        buffer.add(row(value, n_envs), np.full((n_envs, 1), value / 100, np.float32), np.full(n_envs, value),
                   flags & (t in terminated), flags & (t in truncated), ~(flags & (t in invalid)))


def sampled_rows(buffer, n=2000, **kwargs):
    batch = buffer.sample(n, torch.Generator().manual_seed(0), **kwargs)
    return batch, (batch.indices // buffer.n_envs).numpy()


def test_never_samples_the_newest_row_before_and_after_wrapping():
    buffer = ReplayBuffer(OBS, ACT, buffer_size=5)
    fill(buffer, [0, 1, 2])
    _, rows = sampled_rows(buffer)
    assert set(rows) == {0, 1}
    fill(buffer, [3, 4, 5, 6])  # 7 rows in 5 slots: slot 0 holds 5, slot 1 holds 6 (the newest)
    batch, rows = sampled_rows(buffer)
    assert set(rows) == {0, 2, 3, 4}
    obs = batch.observations[:, 0].numpy()
    assert set(obs) == {2, 3, 4, 5}
    np.testing.assert_array_equal(batch.next_observations[:, 0].numpy(), obs + 1)  # 4 -> 5 crosses the wrap


def test_needs_two_rows_before_sampling():
    buffer = ReplayBuffer(OBS, ACT, buffer_size=5)
    fill(buffer, [0])
    with pytest.raises(ConfigurationError):
        buffer.sample(4, torch.Generator())


def test_next_observation_rewards_and_discounts_at_episode_ends():
    # Rows as the collector writes them with NEXT_STEP autoreset: 0 1 2(terminated) | 3 = final obs, invalid |
    # 10 11(truncated) | 12 = final obs, invalid | 20 21
    buffer = ReplayBuffer(OBS, ACT, buffer_size=20)
    fill(buffer, [0, 1, 2, 3, 10, 11, 12, 20, 21], terminated={2}, truncated={5}, invalid={3, 6})
    batch, rows = sampled_rows(buffer, gamma=0.9)
    assert set(rows) == {0, 1, 2, 4, 5, 7}  # never the invalid rows 3 and 6, never the newest row 8
    obs, next_obs = batch.observations[:, 0].numpy(), batch.next_observations[:, 0].numpy()
    expected_next = {0: 1, 1: 2, 2: 3, 10: 11, 11: 12, 20: 21}
    np.testing.assert_array_equal(next_obs, [expected_next[o] for o in obs])
    np.testing.assert_array_equal(batch.rewards.numpy(), obs)
    np.testing.assert_allclose(batch.actions[:, 0].numpy(), obs / 100)
    # terminated: 0; truncated (obs 11): gamma, bootstrapping from the final obs 12
    expected_discount = np.where(obs == 2, 0.0, 0.9)
    np.testing.assert_allclose(batch.discounts.numpy(), expected_discount)


def test_without_handle_timeout_termination_a_truncated_step_is_not_bootstrapped():
    """SB3's handle_timeout_termination=False: the truncated step (obs 11) gets discount 0, like a terminal one."""
    buffer = ReplayBuffer(OBS, ACT, buffer_size=20, handle_timeout_termination=False)
    fill(buffer, [0, 1, 2, 3, 10, 11, 12, 20, 21], terminated={2}, truncated={5}, invalid={3, 6})
    batch, _ = sampled_rows(buffer, gamma=0.9)
    obs = batch.observations[:, 0].numpy()
    np.testing.assert_allclose(batch.discounts.numpy(), np.where(np.isin(obs, [2, 11]), 0.0, 0.9))


@pytest.mark.parametrize("algo", ["DQN", "QRDQN", "SAC", "TD3", "DDPG", "TQC", "CrossQ"])
def test_sb3_s_optimize_memory_usage_and_handle_timeout_termination_are_accepted(algo: str) -> None:
    import ballast

    env = "CartPole-v1" if algo in ("DQN", "QRDQN") else "Pendulum-v1"
    cls = getattr(ballast, algo)
    # SB3 asks for handle_timeout_termination=False beside optimize_memory_usage=True; Ballast takes both.
    model = cls("MlpPolicy", env, optimize_memory_usage=True, learning_starts=10, buffer_size=100,
                replay_buffer_kwargs=dict(handle_timeout_termination=False), device="cpu")
    assert model.replay_buffer.handle_timeout_termination is False
    plain = cls("MlpPolicy", env, optimize_memory_usage=False, buffer_size=100, device="cpu")
    assert plain.replay_buffer.handle_timeout_termination is True
    assert plain.replay_buffer.nbytes() == model.replay_buffer.nbytes()  # one layout whatever the flag says
    assert plain.optimize_memory_usage is True  # the layout SB3's True selects, always
    with pytest.raises(ConfigurationError, match="optimize_memory_usage must be True or False"):
        cls("MlpPolicy", env, optimize_memory_usage="yes", device="cpu")


def test_handle_timeout_termination_with_prioritized_replay_and_her() -> None:
    from ballast import DQN, HerReplayBuffer

    model = DQN("MlpPolicy", "CartPole-v1", prioritized_replay=True, buffer_size=100, device="cpu",
                replay_buffer_kwargs=dict(alpha=0.6, handle_timeout_termination=False))
    assert model.replay_buffer.handle_timeout_termination is False and model.replay_buffer.alpha == 0.6
    with pytest.raises(ConfigurationError, match="HerReplayBuffer keeps truncated episodes bootstrapped"):
        DQN("MultiInputPolicy", "ballast/BitFlipping-v0", replay_buffer_class=HerReplayBuffer, device="cpu",
            replay_buffer_kwargs=dict(handle_timeout_termination=False))


def test_timeouts_stored_as_terminations_survive_save_and_load(tmp_path) -> None:
    from ballast import DQN

    env = gym.make("CartPole-v1", max_episode_steps=8)
    model = DQN("MlpPolicy", env, learning_starts=1000, buffer_size=200, seed=0, device="cpu",
                replay_buffer_kwargs=dict(handle_timeout_termination=False))
    model.learn(100)
    buffer = model.replay_buffer
    rows = slice(0, buffer.pos)
    assert buffer.truncated[rows].any() and (buffer.terminated[rows] >= buffer.truncated[rows]).all()
    model.save(tmp_path / "model.zip")
    loaded = DQN.load(tmp_path / "model.zip", env=gym.make("CartPole-v1", max_episode_steps=8))
    assert loaded.replay_buffer.handle_timeout_termination is False


def test_sampling_is_uniform_over_valid_entries_of_several_envs():
    buffer = ReplayBuffer(OBS, ACT, buffer_size=12, n_envs=3)
    fill(buffer, [0, 1, 2, 3], n_envs=3)
    buffer.valid[1, 2] = False
    batch, rows = sampled_rows(buffer, n=30000)
    envs = (batch.indices % 3).numpy()
    pairs = set(zip(rows.tolist(), envs.tolist()))
    assert pairs == {(r, e) for r in range(3) for e in range(3)} - {(1, 2)}
    counts = np.bincount(batch.indices.numpy(), minlength=12)[:9]
    counts = np.delete(counts, 1 * 3 + 2)
    assert counts.min() > 0.85 * counts.mean() and counts.max() < 1.15 * counts.mean()
    np.testing.assert_array_equal(batch.observations[:, 1].numpy(), envs)  # obs of env e carry e
    np.testing.assert_array_equal(batch.next_observations[:, 0].numpy(), batch.observations[:, 0].numpy() + 1)


def test_n_step_windows_stop_at_episode_ends_and_at_the_newest_row():
    buffer = ReplayBuffer(OBS, ACT, buffer_size=20)
    # rewards equal the obs values; row 2 terminates, row 5 is truncated, rows 3 and 6 hold final observations
    fill(buffer, [0, 1, 2, 3, 10, 11, 12, 20, 21, 22], terminated={2}, truncated={5}, invalid={3, 6})
    batch, rows = sampled_rows(buffer, n_steps=3, gamma=0.5)
    g = 0.5
    expected = {  # obs: (n-step return, discount, bootstrap obs)
        0: (0 + g * 1 + g**2 * 2, 0.0, 3),  # reaches the termination at row 2
        1: (1 + g * 2, 0.0, 3),
        2: (2, 0.0, 3),
        10: (10 + g * 11, g**2, 12),  # truncated at row 5: bootstraps from the final observation 12
        11: (11, g, 12),
        20: (20 + g * 21, g**2, 22),  # row 9 (obs 22) is the newest: its successor is not written yet
        21: (21, g, 22),
    }
    obs = batch.observations[:, 0].numpy()
    assert set(obs) == set(expected)
    np.testing.assert_allclose(batch.rewards.numpy(), [expected[o][0] for o in obs], rtol=1e-6)
    np.testing.assert_allclose(batch.discounts.numpy(), [expected[o][1] for o in obs], rtol=1e-6)
    np.testing.assert_array_equal(batch.next_observations[:, 0].numpy(), [expected[o][2] for o in obs])


def test_n_step_windows_wrap_around():
    buffer = ReplayBuffer(OBS, ACT, buffer_size=4)
    fill(buffer, [0, 1, 2, 3, 4, 5])  # slots: 4 5 2 3, newest is slot 1 (obs 5)
    batch, _ = sampled_rows(buffer, n_steps=2, gamma=0.5)
    obs = batch.observations[:, 0].numpy()
    assert set(obs) == {2, 3, 4}
    np.testing.assert_allclose(batch.rewards.numpy(), np.where(obs == 4, 4.0, obs + 0.5 * (obs + 1)))
    np.testing.assert_array_equal(batch.next_observations[:, 0].numpy(), np.where(obs == 4, 5, obs + 2))


def test_end_episodes_keeps_the_newest_transition_as_truncated():
    buffer = ReplayBuffer(OBS, ACT, buffer_size=10)
    fill(buffer, [0, 1, 2])
    buffer.end_episodes(row(3))  # the env is about to be reset; 3 followed the newest row
    fill(buffer, [10, 11])
    batch, _ = sampled_rows(buffer, gamma=0.9)
    obs = batch.observations[:, 0].numpy()
    assert set(obs) == {0, 1, 2, 10}
    np.testing.assert_array_equal(batch.next_observations[:, 0].numpy(), np.where(obs == 2, 3, obs + 1))
    np.testing.assert_allclose(batch.discounts.numpy(), 0.9)


def test_dict_observations_and_state_tensors_round_trip():
    space = spaces.Dict({"pos": spaces.Box(-1, 1, (3,), np.float32), "mode": spaces.Discrete(4)})
    buffer = ReplayBuffer(space, spaces.Discrete(3), buffer_size=8, n_envs=2)
    rng = np.random.default_rng(0)
    for t in range(6):
        buffer.add({"pos": rng.random((2, 3), dtype=np.float32), "mode": np.array([t % 4, (t + 1) % 4])},
                   np.array([t % 3, 1]), rng.random(2), np.array([False, t == 3]), np.zeros(2, bool))
    batch = buffer.sample(16, torch.Generator().manual_seed(1))
    assert batch.observations["pos"].shape == (16, 3) and batch.observations["mode"].shape == (16,)
    assert batch.actions.dtype == torch.int64
    copy = ReplayBuffer(space, spaces.Discrete(3), buffer_size=8, n_envs=2)
    copy.load_state_tensors({k: v.clone() for k, v in buffer.state_tensors().items()})
    assert (copy.pos, copy.full) == (buffer.pos, buffer.full)
    again = copy.sample(16, torch.Generator().manual_seed(1))
    torch.testing.assert_close(again.observations["pos"], batch.observations["pos"])
    torch.testing.assert_close(again.next_observations["mode"], batch.next_observations["mode"])
    torch.testing.assert_close(again.discounts, batch.discounts)


def test_memory_of_one_million_halfcheetah_transitions():
    observation_space = spaces.Box(-np.inf, np.inf, (17,), np.float64)  # HalfCheetah-v5's spaces
    action_space = spaces.Box(-1.0, 1.0, (6,), np.float32)
    ours = replay_buffer_nbytes(observation_space, action_space, 1_000_000)
    # per transition: 17 float32 observations, 6 float32 actions, a float32 reward, 3 one-byte flags
    assert ours == 1_000_000 * (17 * 4 + 6 * 4 + 4 + 3) == 99_000_000
    # SB3 with optimize_memory_usage=True: observations in the space's dtype (float64 here), float32
    # actions, and float32 rewards, dones and timeouts
    sb3_optimized = 1_000_000 * (17 * 8 + 6 * 4 + 3 * 4)
    assert ours <= sb3_optimized
    small = ReplayBuffer(observation_space, action_space, buffer_size=1000)
    assert small.nbytes() == replay_buffer_nbytes(observation_space, action_space, 1000)


class CounterEnv(gym.Env):
    """Observations ``[episode, t]``; episodes of 2 to 4 steps that alternately terminate and truncate."""

    observation_space = spaces.Box(-np.inf, np.inf, (2,), np.float32)
    action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)

    def __init__(self):
        self.episode = -1
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.episode += 1
        self.t = 0
        return self._obs(), {}

    def _obs(self):
        return np.array([self.episode, self.t], dtype=np.float32)

    def length(self):
        return 2 + self.episode % 3

    def step(self, action):
        self.t += 1
        end = self.t >= self.length()
        terminated, truncated = end and self.episode % 2 == 0, end and self.episode % 2 == 1
        return self._obs(), float(self.t), terminated, truncated, {}


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
@pytest.mark.parametrize("n_envs", [1, 2])
def test_collected_transitions_match_the_env(mode, n_envs):
    env = gym.vector.SyncVectorEnv([CounterEnv] * n_envs, autoreset_mode=mode)
    model = TD3("MlpPolicy", env, learning_starts=10_000, buffer_size=1000, seed=0,
                policy_kwargs=dict(net_arch=[4]), device="cpu")
    model.learn(60)
    buffer = model.replay_buffer
    entries = buffer.valid[: buffer.pos]
    if mode == AutoresetMode.NEXT_STEP:  # every env step is a row; reset steps are its invalid entries
        assert buffer.pos * n_envs == model.num_timesteps and (~entries).any()
    else:  # every env step is a transition; padding rows hold the final observations
        assert int(entries.sum()) == model.num_timesteps
    batch = buffer.sample(3000, torch.Generator().manual_seed(0), gamma=0.5)
    episode, t = batch.observations[:, 0].numpy(), batch.observations[:, 1].numpy()
    next_episode, next_t = batch.next_observations[:, 0].numpy(), batch.next_observations[:, 1].numpy()
    np.testing.assert_array_equal(next_episode, episode)  # the final observation, never the reset one
    np.testing.assert_array_equal(next_t, t + 1)
    np.testing.assert_array_equal(batch.rewards.numpy(), t + 1)
    length = 2 + episode % 3
    ended = next_t == length
    expected_discount = np.where(ended & (episode % 2 == 0), 0.0, 0.5)
    np.testing.assert_array_equal(batch.discounts.numpy(), expected_discount)
    assert ended.any() and (~ended).any() and (ended & (episode % 2 == 1)).any()


def test_presampled_chunks_hold_every_batch_of_a_train_call_and_slice_into_them():
    from ballast.algos.off_policy import PRESAMPLE_ROWS, presampled_batches

    buffer = ReplayBuffer(OBS, ACT, buffer_size=50)
    fill(buffer, list(range(20)))
    batch_size, steps = 48, 25
    chunks = list(presampled_batches(buffer, steps, batch_size, torch.Generator().manual_seed(0)))
    assert sum(n for _, n in chunks) == steps
    assert all(n * batch_size <= max(PRESAMPLE_ROWS, batch_size) for _, n in chunks)
    chunk, n = chunks[0]
    assert n == PRESAMPLE_ROWS // batch_size and chunk.rewards.shape == (n * batch_size,)
    second = chunk.rows(batch_size, 2 * batch_size)
    np.testing.assert_array_equal(second.observations.numpy(), chunk.observations[batch_size:2 * batch_size].numpy())
    # every field is sliced alike: the next observation of value v is v + 1, its reward v
    np.testing.assert_array_equal(second.next_observations[:, 0].numpy(), second.observations[:, 0].numpy() + 1)
    np.testing.assert_array_equal(second.rewards.numpy(), second.observations[:, 0].numpy())
    np.testing.assert_array_equal(second.indices.numpy(), chunk.indices[batch_size:2 * batch_size].numpy())
    # one draw for a chunk is as uniform as one per batch: all 19 sampleable rows, about equally often
    values = np.concatenate([c.observations[:, 0].numpy() for c, _ in chunks])
    counts = np.bincount(values.astype(int), minlength=19)
    assert len(counts) == 19 and counts.min() > 0.5 * counts.mean()
    # a batch larger than a chunk's aim still comes whole, one per draw
    big = list(presampled_batches(buffer, 3, PRESAMPLE_ROWS + 1, torch.Generator().manual_seed(0)))
    assert [n for _, n in big] == [1, 1, 1]
