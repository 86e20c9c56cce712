"""Off-policy checkpoints can carry the replay buffer, and resume then continues the same run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import ballast
from ballast import DQN, PPO, SAC


def _weights(model) -> torch.Tensor:
    return torch.cat([t.detach().flatten().double() for t in model.policy.state_dict().values()])


def test_replay_buffer_round_trip_and_identical_resumes(tmp_path: Path) -> None:
    model = SAC("MlpPolicy", "Pendulum-v1", seed=0, learning_starts=50, batch_size=32, buffer_size=2_000,
                policy_kwargs={"net_arch": [32, 32]}, device="cpu")
    model.learn(300)
    with_buffer = model.save(tmp_path / "with", include_replay_buffer=True)
    without = model.save(tmp_path / "without")
    assert with_buffer.stat().st_size > without.stat().st_size

    restored = SAC.load(with_buffer, env="Pendulum-v1", device="cpu")
    assert restored.replay_buffer.pos == model.replay_buffer.pos
    assert restored.replay_buffer.full == model.replay_buffer.full
    for name, tensor in model.replay_buffer.state_tensors().items():
        assert torch.equal(restored.replay_buffer.state_tensors()[name], tensor), name
    assert ballast.load(without, env="Pendulum-v1").replay_buffer.size() == 0

    finals = []
    for _ in range(2):
        resumed = SAC.load(with_buffer, env="Pendulum-v1", device="cpu")
        resumed.learn(200, reset_num_timesteps=False)
        finals.append((_weights(resumed), resumed.num_timesteps, resumed.log_ent_coef.detach().clone()))
    assert torch.equal(finals[0][0], finals[1][0])
    assert finals[0][1] == finals[1][1] == 500
    assert torch.equal(finals[0][2], finals[1][2])


def test_dqn_resume_keeps_the_exploration_schedule(tmp_path: Path) -> None:
    model = DQN("MlpPolicy", "CartPole-v1", seed=0, learning_starts=100, exploration_fraction=0.5,
                buffer_size=5_000, device="cpu")
    model.learn(1_000)
    eps = model.exploration_rate
    restored = DQN.load(model.save(tmp_path / "dqn", include_replay_buffer=True), env="CartPole-v1")
    assert restored.exploration_rate == pytest.approx(eps)
    assert restored.replay_buffer.size() == model.replay_buffer.size()
    obs = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
    assert np.array_equal(model.predict(obs, deterministic=True)[0], restored.predict(obs, deterministic=True)[0])


def test_on_policy_models_have_no_replay_buffer_to_include(tmp_path: Path) -> None:
    model = PPO("MlpPolicy", "CartPole-v1", n_steps=32, batch_size=32, device="cpu")
    with pytest.raises(ballast.ConfigurationError, match="no replay buffer"):
        model.save(tmp_path / "ppo", include_replay_buffer=True)
