"""Short, seeded residual learning runs: the agent must end clearly better than its imperfect base."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from ballast import PPO, SAC, TD3, TQC, CrossQ, evaluate_policy


class TrackTarget(gym.Env):
    """One-step episodes: observe x in [-1, 1]^2, reward -(a - (0.5 x0 - 0.3 x1))^2."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.obs = self.np_random.uniform(-1, 1, 2).astype(np.float32)
        return self.obs, {}

    def step(self, action):
        target = 0.5 * self.obs[0] - 0.3 * self.obs[1]
        return self.obs, -float((np.asarray(action).reshape(-1)[0] - target) ** 2), True, False, {}


def biased_base(obs: np.ndarray) -> np.ndarray:
    """The right law with a constant error of -0.4: every episode loses about 0.16."""
    return (0.5 * obs[:, 0] - 0.3 * obs[:, 1] - 0.4)[:, None]


class Base:
    def predict(self, obs, deterministic=True):
        return np.clip(biased_base(obs), -1.0, 1.0), None


def episode_mean(model) -> float:
    return evaluate_policy(model, TrackTarget(), n_eval_episodes=50, seed=7)[0]


@pytest.mark.parametrize(("cls", "steps", "options"), [
    (SAC, 600, {"learning_starts": 100, "learning_rate": 1e-3, "ent_coef": "auto_0.1"}),
    (TD3, 600, {"learning_starts": 100, "learning_rate": 1e-3}),
    (CrossQ, 600, {"learning_starts": 100, "ent_coef": "auto_0.1"}),
    (TQC, 600, {"learning_starts": 100, "learning_rate": 1e-3, "ent_coef": "auto_0.1",
                "policy_kwargs": {"n_quantiles": 5}}),
    (PPO, 2048, {"n_steps": 256, "batch_size": 64, "learning_rate": 1e-3, "policy_kwargs": {"log_std_init": -1.0}}),
])
def test_residual_agent_improves_on_its_base(cls, steps, options) -> None:
    options = {**options, "policy_kwargs": {"net_arch": [32, 32], **options.get("policy_kwargs", {})}}
    model = cls("MlpPolicy", TrackTarget(), seed=0, base_policy=biased_base, residual_scale=0.5, **options)
    before = episode_mean(model)
    base = episode_mean(Base())
    assert before == base < -0.14  # a fresh agent is the base
    model.learn(steps)
    after = episode_mean(model)
    assert after > base / 4, (base, after)  # a quarter of the base's loss, or less
    # The learned correction alone: it makes up for most of the base's constant error of -0.4.
    obs = np.random.default_rng(3).uniform(-0.5, 0.5, (64, 2)).astype(np.float32)
    base_actions, correction = model.residual_correction(obs)
    np.testing.assert_allclose(base_actions, biased_base(obs), atol=1e-6)
    assert correction.shape == (64, 1) and 0.2 < correction.mean() < 0.6
    actions, _ = model.predict(obs, deterministic=True)
    np.testing.assert_allclose(actions, np.clip(base_actions + correction, -1.0, 1.0), atol=1e-6)
    one_base, one_correction = model.residual_correction(obs[0])
    assert one_base.shape == one_correction.shape == (1,)


def test_residual_correction_needs_a_base() -> None:
    from ballast.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="no base_policy"):
        SAC("MlpPolicy", TrackTarget(), device="cpu").residual_correction(np.zeros(2, np.float32))


def test_mujoco_base_controller_drives_a_fresh_residual_agent() -> None:
    pytest.importorskip("mujoco")
    from ballast.envs.controllers import reacher_jacobian_pd

    model = SAC("MlpPolicy", "Reacher-v5", seed=0, base_policy=reacher_jacobian_pd, policy_kwargs={"net_arch": [16]})
    obs = model.observation_space.sample()[None]
    np.testing.assert_array_equal(model.predict(obs, deterministic=True)[0], reacher_jacobian_pd(obs))
