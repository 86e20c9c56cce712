"""evaluate_policy as SB3's: positional order, callback locals, Monitor statistics and warning,
reward threshold, render, and SB3-style VecEnvs."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.wrappers import RecordEpisodeStatistics, TransformReward

from ballast import PPO
from ballast.common.evaluation import evaluate_policy


class FixedLength(gym.Env):
    """Every episode lasts ``length`` steps with reward 1 per step, whatever the actions."""

    metadata = {"render_modes": ["rgb_array"]}
    observation_space = spaces.Box(0.0, 100.0, (1,), np.float32)
    action_space = spaces.Discrete(2)

    def __init__(self, length: int = 5, render_mode: str | None = None) -> None:
        self.length, self.render_mode, self.t, self.renders = length, render_mode, 0, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.t += 1
        return np.array([self.t], np.float32), 1.0, self.t >= self.length, False, {"t": self.t}

    def render(self):
        self.renders += 1
        return np.zeros((2, 2, 3), np.uint8)


class LoseLifeHalfway(gym.Wrapper):
    """Ends a "life" halfway through the inner episode, as Atari's episodic-life wrapper: ``terminated``
    then, and the following reset continues the inner episode instead of starting a new one."""

    def __init__(self, env: gym.Env, half: int) -> None:
        super().__init__(env)
        self.half, self.inner_over, self.count, self.last = half, True, 0, None

    def reset(self, **kwargs):
        if not self.inner_over:
            return self.last, {}
        self.inner_over, self.count = False, 0
        return self.env.reset(**kwargs)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.count, self.last = self.count + 1, obs
        self.inner_over = terminated or truncated
        return obs, reward, terminated or self.count == self.half, truncated, info


class SB3StyleVecEnv:
    """SB3's VecEnv interface over Gymnasium envs: ``reset()`` returns observations, ``step`` returns
    ``(obs, rewards, dones, infos)`` with a list of infos, finished copies reset within the step."""

    def __init__(self, env_fns) -> None:
        self.envs = [fn() for fn in env_fns]
        self.num_envs = len(self.envs)
        self.observation_space, self.action_space = self.envs[0].observation_space, self.envs[0].action_space
        self._seeds = [None] * self.num_envs

    def seed(self, seed: int) -> None:
        self._seeds = [seed + i for i in range(self.num_envs)]

    def reset(self):
        observations = [env.reset(seed=seed)[0] for env, seed in zip(self.envs, self._seeds)]
        self._seeds = [None] * self.num_envs
        return np.stack(observations)

    def step(self, actions):
        observations, rewards, dones, infos = [], [], [], []
        for env, action in zip(self.envs, actions):
            obs, reward, terminated, truncated, info = env.step(action)
            info = {**info, "TimeLimit.truncated": truncated and not terminated}
            if terminated or truncated:
                info["terminal_observation"] = obs
                obs, _ = env.reset()
            observations.append(obs)
            rewards.append(reward)
            dones.append(terminated or truncated)
            infos.append(info)
        return np.stack(observations), np.array(rewards), np.array(dones), infos

    def env_method(self, name, *args):
        return [getattr(env, name)(*args) for env in self.envs]


@pytest.fixture(scope="module")
def model() -> PPO:
    return PPO("MlpPolicy", FixedLength, n_steps=8, seed=0, device="cpu")


@pytest.fixture(scope="module")
def cartpole_model() -> PPO:
    return PPO("MlpPolicy", "CartPole-v1", n_steps=64, seed=0, device="cpu").learn(256)


def test_positional_arguments_in_sb3_order(cartpole_model: PPO) -> None:
    returns, lengths = evaluate_policy(cartpole_model, "CartPole-v1", 3, True, False, None, None, True)
    assert len(returns) == len(lengths) == 3
    assert all(type(r) is float for r in returns) and all(type(n) is int for n in lengths)
    assert returns == [float(n) for n in lengths]  # CartPole: reward 1 per step
    mean, std = evaluate_policy(cartpole_model, "CartPole-v1", 3, seed=0)
    assert type(mean) is float and type(std) is float


def test_callback_sees_sb3_locals_for_each_copy_still_counting(model: PPO) -> None:
    calls = []

    def callback(locals_, globals_):
        i = locals_["i"]
        assert locals_["reward"] == locals_["rewards"][i] == 1.0
        assert locals_["info"] is locals_["infos"][i]
        assert locals_["episode_count_targets"].tolist() == [1, 2]  # (3 + i) // 2
        calls.append((i, bool(locals_["done"]), float(locals_["current_rewards"][i]),
                      int(locals_["current_lengths"][i]), locals_["episode_counts"].tolist()))
        if locals_["done"]:
            assert locals_["info"]["TimeLimit.truncated"] is False
            np.testing.assert_array_equal(locals_["info"]["terminal_observation"], [5.0])
        assert {"observations", "new_observations", "actions", "dones", "model", "env"} <= set(locals_)

    env = gym.vector.SyncVectorEnv([lambda: FixedLength(5)] * 2)
    returns, lengths = evaluate_policy(model, env, n_eval_episodes=3, callback=callback, return_episode_rewards=True,
                                       warn=False)
    assert (returns, lengths) == ([5.0, 5.0, 5.0], [5, 5, 5])
    # Copy 0 counts one episode (5 calls); copy 1 two (10 calls; the reset step between them is no step).
    assert [c for c in calls if c[0] == 0] == [(0, t == 5, float(t), t, [0, 0]) for t in range(1, 6)]
    copy1 = [c for c in calls if c[0] == 1]
    assert [c[3] for c in copy1] == [1, 2, 3, 4, 5] * 2
    assert [c[4][1] for c in copy1] == [0] * 5 + [1] * 5
    assert len(calls) == 15


def test_reward_threshold_must_be_exceeded(model: PPO) -> None:
    assert evaluate_policy(model, FixedLength(5), 2, reward_threshold=4.9, warn=False) == (5.0, 0.0)
    with pytest.raises(AssertionError, match="Mean reward below threshold: 5.00 < 5.00"):
        evaluate_policy(model, FixedLength(5), 2, reward_threshold=5.0, warn=False)


def test_warns_only_for_wrappers_that_may_change_rewards_without_episode_statistics(model: PPO) -> None:
    with pytest.warns(UserWarning, match="may change rewards"):
        evaluate_policy(model, TransformReward(FixedLength(5), lambda r: 2 * r), 1)
    with pytest.warns(UserWarning, match="may change rewards"):
        evaluate_policy(model, gym.vector.SyncVectorEnv([lambda: gym.wrappers.NormalizeReward(FixedLength(5))]), 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        evaluate_policy(model, FixedLength(5), 1)  # no wrapper: the rewards counted are the env's own
        evaluate_policy(model, RecordEpisodeStatistics(TransformReward(FixedLength(5), lambda r: 2 * r)), 1)
        evaluate_policy(model, TransformReward(FixedLength(5), lambda r: 2 * r), 1, warn=False)
    cartpole = PPO("MlpPolicy", "CartPole-v1", n_steps=8, seed=0, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        evaluate_policy(cartpole, "CartPole-v1", 1)  # gymnasium.make's own wrappers only
        evaluate_policy(cartpole, gym.make("CartPole-v1"), 1)
        evaluate_policy(cartpole, cartpole.get_env(), 1)
        evaluate_policy(cartpole, gym.make_vec("CartPole-v1", 8, vectorization_mode="vector_entry_point"), 1)


def test_episode_statistics_of_a_monitor_win_over_reward_wrappers(model: PPO) -> None:
    scaled = TransformReward(RecordEpisodeStatistics(FixedLength(5)), lambda r: 10 * r)
    assert evaluate_policy(model, scaled, 2, return_episode_rewards=True) == ([5.0, 5.0], [5, 5])
    with pytest.warns(UserWarning):
        unmonitored = evaluate_policy(model, TransformReward(FixedLength(5), lambda r: 10 * r), 2,
                                      return_episode_rewards=True)
    assert unmonitored == ([50.0, 50.0], [5, 5])


def test_a_lost_life_is_no_episode_end_when_the_env_records_statistics(model: PPO) -> None:
    monitored = LoseLifeHalfway(RecordEpisodeStatistics(FixedLength(10)), half=5)
    assert evaluate_policy(model, monitored, 2, return_episode_rewards=True) == ([10.0, 10.0], [10, 10])
    counted = evaluate_policy(model, LoseLifeHalfway(FixedLength(10), half=5), 2, return_episode_rewards=True,
                              warn=False)
    assert counted == ([5.0, 5.0], [5, 5])


def test_render_renders_after_every_step(model: PPO) -> None:
    env = FixedLength(4, render_mode="rgb_array")
    evaluate_policy(model, env, 2, render=True, warn=False)
    # Two episodes of 4 steps (the env resets in the step that ends an episode, as SB3's VecEnv).
    assert env.renders == 8


def test_sb3_style_vec_env_gives_the_episodes_of_a_gymnasium_vector_env(cartpole_model: PPO) -> None:
    def make():
        return RecordEpisodeStatistics(gym.make("CartPole-v1"))

    sb3_style = evaluate_policy(cartpole_model, SB3StyleVecEnv([make] * 2), 5, return_episode_rewards=True, seed=7)
    gymnasium = evaluate_policy(cartpole_model, gym.vector.SyncVectorEnv([make] * 2), 5,
                                return_episode_rewards=True, seed=7)
    # Episodes may end in another order across copies (Gymnasium resets a copy one step later).
    assert sorted(sb3_style[0]) == sorted(gymnasium[0]) and sorted(sb3_style[1]) == sorted(gymnasium[1])
    assert len(sb3_style[0]) == 5
