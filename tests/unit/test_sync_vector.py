"""LeanSyncVectorEnv returns what Gymnasium's SyncVectorEnv returns, value for value."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from ballast.envs.make import make_vector_env
from ballast.envs.sync_vector import LeanSyncVectorEnv


class CountingInfoEnv(gym.Env):
    """Discrete observations, an info that varies (a number, an array, a nested dict, on some steps only)."""

    observation_space = gym.spaces.Discrete(5)
    action_space = gym.spaces.Discrete(3)

    def __init__(self) -> None:
        self.t = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[int, dict]:
        super().reset(seed=seed)
        self.t = 0
        return 0, {"start": True}

    def step(self, action: int) -> tuple[int, float, bool, bool, dict]:
        self.t += 1
        info: dict[str, Any] = {} if self.t % 3 else {"t": self.t, "vec": np.full(2, self.t), "nested": {"a": 1.5}}
        return self.t % 5, float(action), bool(self.np_random.random() < 0.1), self.t >= 7, info


def _rollout(vec: Any, seed: int, steps: int) -> list[Any]:
    out: list[Any] = [vec.reset(seed=seed)]
    vec.action_space.seed(seed)
    for _ in range(steps):
        out.append(vec.step(vec.action_space.sample()))
    return out


def _assert_same(a: Any, b: Any) -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            _assert_same(a[key], b[key])
    elif isinstance(a, (tuple, list)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        if a.dtype == object:
            for x, y in zip(a, b):
                _assert_same(x, y)
        else:
            np.testing.assert_array_equal(a, b)
    else:
        assert a == b or (a is None and b is None)


@pytest.mark.parametrize("mode", [AutoresetMode.SAME_STEP, AutoresetMode.NEXT_STEP])
@pytest.mark.parametrize("make", [lambda: gym.make("CartPole-v1"),
                                  lambda: gym.make("Pendulum-v1", max_episode_steps=20), CountingInfoEnv],
                         ids=["cartpole", "pendulum", "discrete-obs-infos"])
@pytest.mark.parametrize("copy", [True, False])
def test_steps_equal_gymnasium(mode: AutoresetMode, make: Any, copy: bool) -> None:
    gymnasium_vec = SyncVectorEnv([make, make, make], autoreset_mode=mode, copy=copy)
    lean_vec = LeanSyncVectorEnv([make, make, make], autoreset_mode=mode, copy=copy)
    assert lean_vec._lean
    expected, got = _rollout(gymnasium_vec, 3, 120), _rollout(lean_vec, 3, 120)
    ends = sum(int(np.logical_or(step[2], step[3]).sum()) for step in expected[1:])
    assert ends >= 3  # the comparison covers autoresets
    _assert_same(got, expected)


def test_copy_false_returns_the_same_buffer_and_copy_true_a_new_one() -> None:
    shared = LeanSyncVectorEnv([lambda: gym.make("CartPole-v1")], copy=False)
    first = shared.reset(seed=0)[0]
    assert shared.step(np.array([0]))[0] is first
    fresh = LeanSyncVectorEnv([lambda: gym.make("CartPole-v1")])
    first = fresh.reset(seed=0)[0]
    assert fresh.step(np.array([0]))[0] is not first


def test_other_action_forms_use_gymnasium_step() -> None:
    vec = LeanSyncVectorEnv([lambda: gym.make("CartPole-v1")] * 2)
    vec.reset(seed=0)
    obs, rewards, *_ = vec.step([1, 0])  # a list: Gymnasium's generic path
    assert obs.shape == (2, 4) and rewards.tolist() == [1.0, 1.0]
    with pytest.raises(ValueError):
        vec.step(np.array([1, 0, 1]))  # one action too many: Gymnasium's own error


def test_built_vector_envs_are_lean_and_keep_their_spec() -> None:
    vec = make_vector_env("CartPole-v1", 2, vectorization="sync")
    assert isinstance(vec, LeanSyncVectorEnv) and vec.spec.id == "CartPole-v1"
    assert vec.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    assert isinstance(make_vector_env(gym.make("CartPole-v1")), LeanSyncVectorEnv)
    assert isinstance(make_vector_env(lambda: gym.make("CartPole-v1"), 2), LeanSyncVectorEnv)
