"""The zoo's NoVel envs: which observation entries are hidden, by zeroing (the zoo's) or dropping."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import ballast  # noqa: F401  (registers the envs)

CASES = [("CartPoleNoVel-v1", "CartPole-v1", [1, 3]), ("PendulumNoVel-v1", "Pendulum-v1", [2]),
         ("MountainCarNoVel-v0", "MountainCar-v0", [1]),
         ("MountainCarContinuousNoVel-v0", "MountainCarContinuous-v0", [1])]


@pytest.mark.parametrize(("env_id", "base_id", "velocities"), CASES)
def test_the_velocity_entries_are_zeroed_and_the_others_kept(env_id: str, base_id: str, velocities: list) -> None:
    hidden, base = gym.make(env_id), gym.make(base_id)
    assert hidden.observation_space == base.observation_space  # the zoo keeps the shape and the bounds
    obs, _ = hidden.reset(seed=3)
    full, _ = base.reset(seed=3)
    action = base.action_space.sample()
    for _ in range(3):
        obs = hidden.step(action)[0]
        full = base.step(action)[0]
    kept = [i for i in range(full.shape[0]) if i not in velocities]
    assert np.all(obs[velocities] == 0) and np.any(full[velocities] != 0)
    assert np.array_equal(obs[kept], full[kept])


def test_drop_velocities_removes_the_entries() -> None:
    env = gym.make("CartPoleNoVel-v1", drop_velocities=True)
    full = gym.make("CartPole-v1")
    obs, _ = env.reset(seed=0)
    reference, _ = full.reset(seed=0)
    assert env.observation_space.shape == (2,) and np.array_equal(obs, reference[[0, 2]])


def test_lunar_lander_is_registered_only_with_box2d() -> None:
    try:
        import Box2D  # noqa: F401
    except ImportError:
        assert "LunarLanderNoVel-v3" not in gym.registry
    else:
        obs, _ = gym.make("LunarLanderNoVel-v3").reset(seed=0)
        assert np.all(obs[[2, 3, 5]] == 0)
