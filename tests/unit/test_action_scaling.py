import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

from ballast import DDPG, SAC, TD3
from ballast.noise import NormalActionNoise
from ballast.policies.continuous import scale_action
from ballast.policies.heads import ActionAdapter

LOW, HIGH = np.array([0.0, -2.0], np.float32), np.array([5.0, 1.0], np.float32)
ACTION_SPACE = spaces.Box(LOW, HIGH, dtype=np.float32)


class RecordingEnv(gym.Env):
    """A 3-d observation, the asymmetric action space, and a record of every action received."""

    observation_space = spaces.Box(-1.0, 1.0, (3,), np.float32)
    action_space = ACTION_SPACE

    def __init__(self):
        self.received = []

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.np_random.uniform(-1, 1, 3).astype(np.float32), {}

    def step(self, action):
        self.received.append(np.array(action, copy=True))
        obs = self.np_random.uniform(-1, 1, 3).astype(np.float32)
        return obs, -float(np.sum(np.square(action))), False, len(self.received) % 7 == 0, {}


def test_adapter_maps_extremes_and_centre_onto_the_bounds():
    adapter = ActionAdapter(ACTION_SPACE, squashed=True)
    policy_actions = torch.tensor([[-1.0, -1.0], [1.0, 1.0], [0.0, 0.0], [1.0, -1.0]])
    expected = np.array([[0.0, -2.0], [5.0, 1.0], [2.5, -0.5], [5.0, -2.0]], np.float32)
    np.testing.assert_array_equal(adapter(policy_actions).numpy(), expected)
    np.testing.assert_array_equal(adapter.numpy(policy_actions.numpy()), expected)


def test_round_trip_env_policy_env():
    adapter = ActionAdapter(ACTION_SPACE, squashed=True)
    exact = np.array([[0.0, -2.0], [5.0, 1.0], [2.5, -0.5], [1.25, 0.25], [3.75, -1.25]], np.float32)
    policy_actions = scale_action(adapter, exact)
    np.testing.assert_array_equal(policy_actions, [[-1, -1], [1, 1], [0, 0], [-0.5, 0.5], [0.5, -0.5]])
    np.testing.assert_array_equal(adapter.numpy(policy_actions), exact)
    rng = np.random.default_rng(0)
    env_actions = rng.uniform(LOW, HIGH, (1000, 2)).astype(np.float32)
    back = adapter.numpy(scale_action(adapter, env_actions))
    np.testing.assert_allclose(back, env_actions, rtol=0, atol=1e-6)
    assert np.all(np.abs(scale_action(adapter, env_actions)) <= 1)


@pytest.mark.parametrize("algo", [SAC, TD3, DDPG])
def test_predictions_lie_in_the_bounds_and_saturate_at_them(algo):
    model = algo("MlpPolicy", RecordingEnv(), policy_kwargs=dict(net_arch=[16]), seed=0, device="cpu")
    obs = np.random.default_rng(1).uniform(-1, 1, (500, 3)).astype(np.float32)
    for deterministic in (True, False):
        actions, _ = model.predict(obs, deterministic=deterministic)
        assert actions.shape == (500, 2) and actions.dtype == np.float32
        assert np.all(actions >= LOW) and np.all(actions <= HIGH)
    mu = model.policy.actor.mu
    with torch.no_grad():
        mu.weight.zero_()
        mu.bias.copy_(torch.tensor([100.0, -100.0]))  # tanh saturates to exactly +1 and -1
    actions, _ = model.predict(obs[:3], deterministic=True)
    np.testing.assert_array_equal(actions, np.tile([5.0, -2.0], (3, 1)))


@pytest.mark.parametrize("algo", [SAC, TD3])
def test_buffer_stores_policy_actions_that_map_to_the_env_actions(algo):
    env = RecordingEnv()
    noise = NormalActionNoise(np.zeros(2), 0.3 * np.ones(2)) if algo is TD3 else None
    model = algo("MlpPolicy", env, learning_starts=20, batch_size=8, policy_kwargs=dict(net_arch=[16]),
                 action_noise=noise, seed=0, device="cpu")
    model.learn(60)
    buffer = model.replay_buffer
    valid = buffer.valid[: buffer.pos, 0]
    stored = buffer.actions[: buffer.pos, 0][valid]
    received = np.array(env.received)
    assert len(received) == len(stored) == model.num_timesteps  # rows holding only final observations are not valid
    assert np.all(stored >= -1) and np.all(stored <= 1)
    np.testing.assert_array_equal(model.policy.action_adapter.numpy(stored), received)
    np.testing.assert_allclose(scale_action(model.policy.action_adapter, received), stored, atol=1e-6)
