"""The time feature (sb3-contrib's TimeFeatureWrapper): 1 at reset, falling by 1/max_steps per step."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from ballast.envs import TimeFeatureWrapper
from ballast.errors import ConfigurationError
from ballast.zoo import ENV_WRAPPERS


def test_box_observations_gain_the_remaining_time_from_the_registered_limit() -> None:
    env = TimeFeatureWrapper(gym.make("Pendulum-v1"))  # registered with max_episode_steps=200
    assert env.max_steps == 200
    assert env.observation_space.shape == (4,)
    assert env.observation_space.low[-1] == 0.0 and env.observation_space.high[-1] == 1.0
    obs, _ = env.reset(seed=0)
    assert obs.dtype == np.float32 and obs[-1] == 1.0
    for step in range(1, 4):
        obs, *_ = env.step(np.zeros(1, dtype=np.float32))
        assert obs[-1] == pytest.approx(1.0 - step / 200)
    obs, _ = env.reset(seed=1)
    assert obs[-1] == 1.0


def test_dict_observations_gain_it_under_observation_and_keep_their_goals() -> None:
    inner = _PointGoalEnv()  # not registered: the max_steps given is used
    env = TimeFeatureWrapper(inner, max_steps=8)
    assert env.observation_space["observation"].shape == (4,)
    assert env.observation_space["desired_goal"] == inner.observation_space["desired_goal"]
    obs, _ = env.reset(seed=0)
    obs, *_ = env.step(np.zeros(2, dtype=np.float32))
    obs, *_ = env.step(np.zeros(2, dtype=np.float32))
    assert obs["observation"][-1] == pytest.approx(0.75)
    np.testing.assert_array_equal(obs["observation"][:3], inner.state)
    assert obs["achieved_goal"].shape == (2,) and obs["desired_goal"].shape == (2,)
    assert env.observation_space.contains(obs)


def test_test_mode_keeps_the_feature_at_one() -> None:
    env = TimeFeatureWrapper(gym.make("Pendulum-v1"), test_mode=True)
    env.reset(seed=0)
    obs, *_ = env.step(np.zeros(1, dtype=np.float32))
    assert obs[-1] == 1.0


def test_observations_it_cannot_extend_are_refused_with_the_reason() -> None:
    with pytest.raises(ConfigurationError, match="flat Box"):
        TimeFeatureWrapper(_ImageEnv())
    with pytest.raises(ConfigurationError, match="'observation' key"):
        TimeFeatureWrapper(_GoalsOnly())


def test_the_zoo_names_it_by_sb3_contrib_s_import_path() -> None:
    assert ENV_WRAPPERS["sb3_contrib.common.wrappers.TimeFeatureWrapper"] is TimeFeatureWrapper


class _ImageEnv(gym.Env):
    observation_space = gym.spaces.Box(0, 255, (8, 8, 3), np.uint8)
    action_space = gym.spaces.Discrete(2)


class _GoalsOnly(gym.Env):
    observation_space = gym.spaces.Dict({"achieved_goal": gym.spaces.Box(-1, 1, (2,)),
                                         "desired_goal": gym.spaces.Box(-1, 1, (2,))})
    action_space = gym.spaces.Discrete(2)


class _PointGoalEnv(gym.Env):
    observation_space = gym.spaces.Dict({"observation": gym.spaces.Box(-5, 5, (3,), np.float32),
                                         "achieved_goal": gym.spaces.Box(-5, 5, (2,), np.float32),
                                         "desired_goal": gym.spaces.Box(-5, 5, (2,), np.float32)})
    action_space = gym.spaces.Box(-1, 1, (2,), np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        self.state = self.np_random.uniform(-1, 1, 3).astype(np.float32)
        return self._obs(), {}

    def step(self, action: np.ndarray) -> tuple[dict, float, bool, bool, dict]:
        self.state = (self.state + 0.1).astype(np.float32)
        return self._obs(), 0.0, False, False, {}

    def _obs(self) -> dict:
        return {"observation": self.state.copy(), "achieved_goal": self.state[:2].copy(),
                "desired_goal": np.zeros(2, np.float32)}
