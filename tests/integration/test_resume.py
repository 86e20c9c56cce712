"""Save -> load keeps every prediction; resume continues the same run."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

import ballast
from ballast import A2C, PPO


def _weights(model) -> torch.Tensor:
    return torch.cat([t.detach().flatten().double() for t in model.policy.state_dict().values()])


def _small_ppo(**kwargs) -> PPO:
    return PPO("MlpPolicy", "CartPole-v1", seed=3, n_steps=64, batch_size=32, n_epochs=2, n_envs=2,
               learning_rate="lin_0.001", device="cpu", **kwargs)


def test_resuming_the_same_checkpoint_twice_is_bitwise_identical(tmp_path: Path) -> None:
    model = _small_ppo(normalize_observations=True, normalize_rewards=True)
    model.learn(512)
    path = model.save(tmp_path / "ckpt")
    finals = []
    for _ in range(2):
        resumed = PPO.load(path, env="CartPole-v1", device="cpu")
        resumed.learn(512, reset_num_timesteps=False)
        finals.append((_weights(resumed), resumed.policy.normalizer.stats["obs"].mean.clone(),
                       resumed.optimizer.state_dict()["state"][0]["exp_avg"].clone(), resumed.num_timesteps))
    assert torch.equal(finals[0][0], finals[1][0])
    assert torch.equal(finals[0][1], finals[1][1])
    assert torch.equal(finals[0][2], finals[1][2])
    assert finals[0][3] == finals[1][3] == 1024


def test_resume_continues_the_model_stream_whatever_else_draws(tmp_path: Path) -> None:
    """gSDE noise and action sampling come from the model's own stream, saved in the file: the loaded
    model trains on as the saved one does, though other code draws from the global generators."""
    model = PPO("MlpPolicy", "Pendulum-v1", seed=3, n_steps=64, batch_size=32, n_epochs=2, use_sde=True,
                sde_sample_freq=8, device="cpu").learn(128)
    loaded = PPO.load(model.save(tmp_path / "ckpt"), env="Pendulum-v1", device="cpu")
    model.set_env("Pendulum-v1")
    torch.rand(100)
    model.learn(128, reset_num_timesteps=False)
    torch.rand(100)
    loaded.learn(128, reset_num_timesteps=False)
    assert torch.equal(_weights(loaded), _weights(model))


@pytest.mark.parametrize("rng", ["absent", "global state"])
def test_files_of_earlier_versions_load_and_resume(tmp_path: Path, rng: str) -> None:
    """Files without the model's stream (or with torch's global state in its place) still load and train."""
    from ballast.checkpoint import write_checkpoint

    checkpoint = _small_ppo().learn(128).to_checkpoint()
    if rng == "absent":
        del checkpoint.tensors["rng"]
    else:
        checkpoint.tensors["rng"] = {"torch": torch.get_rng_state(),
                                     "generator": checkpoint.tensors["rng"]["generator"]}
    path = write_checkpoint(tmp_path / "old", checkpoint)
    before = torch.get_rng_state()
    loaded = PPO.load(path, env="CartPole-v1", device="cpu")
    assert torch.equal(torch.get_rng_state(), before)
    loaded.learn(128, reset_num_timesteps=False)
    assert loaded.num_timesteps == 256


def test_resume_continues_counters_schedules_optimizer_and_statistics(tmp_path: Path) -> None:
    model = _small_ppo(normalize_observations=True, normalize_rewards=True)
    model.learn(512)
    path = model.save(tmp_path / "ckpt")
    resumed = PPO.load(path, env="CartPole-v1", device="cpu")
    assert resumed.num_timesteps == model.num_timesteps == 512
    assert resumed._n_updates == model._n_updates
    assert resumed.progress_remaining == model.progress_remaining
    saved_moments = model.optimizer.state_dict()["state"][0]
    for name, value in resumed.optimizer.state_dict()["state"][0].items():
        assert torch.equal(value, saved_moments[name]), name
    assert torch.equal(resumed.policy.normalizer.stats["obs"].var, model.policy.normalizer.stats["obs"].var)
    assert torch.equal(resumed.reward_normalizer.return_rms.var, model.reward_normalizer.return_rms.var)
    # The linear schedule continues over the whole 1024-step plan: the first update after resuming
    # (at 640 steps) uses lr = 0.001 * (1 - 640 / 1024).
    learning_rates = []

    class RecordLearningRate(ballast.BaseCallback):
        def _on_rollout_start(self) -> None:
            learning_rates.append(self.model.optimizer.param_groups[0]["lr"])

    resumed.learn(512, reset_num_timesteps=False, callback=RecordLearningRate())
    assert resumed.total_timesteps == 1024
    assert learning_rates[1] == pytest.approx(0.001 * (1 - 640 / 1024))


def test_predictions_and_evaluation_are_identical_after_load(tmp_path: Path) -> None:
    model = A2C("MlpPolicy", "Pendulum-v1", seed=0, n_envs=2, normalize_observations=True, device="cpu")
    model.learn(400)
    loaded = ballast.load(model.save(tmp_path / "a2c"), device="cpu")
    obs = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    assert np.array_equal(model.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0])
    torch.manual_seed(7)
    stochastic = model.predict(obs)[0]
    torch.manual_seed(7)
    assert np.array_equal(stochastic, loaded.predict(obs)[0])
    first = ballast.evaluate_policy(model, "Pendulum-v1", n_eval_episodes=2, seed=5, return_episode_rewards=True)
    second = ballast.evaluate_policy(loaded, "Pendulum-v1", n_eval_episodes=2, seed=5, return_episode_rewards=True)
    assert first == second


class _SpaceEnv(gym.Env):
    """Random observations from ``observation_space``; episodes of 8 steps."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space) -> None:
        self.observation_space, self.action_space = observation_space, action_space
        self._t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.observation_space.seed(seed)
        self._t = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        self._t += 1
        return self.observation_space.sample(), float(self._t % 3 == 0), False, self._t >= 8, {}


OBSERVATION_SPACES = {
    "box": spaces.Box(-2.0, 2.0, (5,), np.float32),
    "discrete": spaces.Discrete(4, start=1),
    "multidiscrete": spaces.MultiDiscrete([3, 2, 4]),
    "multibinary": spaces.MultiBinary(6),
    "image": spaces.Box(0, 255, (36, 36, 3), np.uint8),
    "dict": spaces.Dict({"pos": spaces.Box(-1.0, 1.0, (3,), np.float32), "mode": spaces.Discrete(3),
                         "flags": spaces.MultiBinary(2)}),
}
ACTION_SPACES = {
    "box": spaces.Box(np.array([0.0, -2.0], np.float32), np.array([5.0, 1.0], np.float32)),
    "discrete": spaces.Discrete(3),
    "multidiscrete": spaces.MultiDiscrete([2, 3]),
    "multibinary": spaces.MultiBinary(3),
}


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("obs_kind", sorted(OBSERVATION_SPACES))
def test_round_trip_for_every_observation_space(tmp_path: Path, obs_kind: str, normalize: bool) -> None:
    obs_space = OBSERVATION_SPACES[obs_kind]
    action_space = ACTION_SPACES["box" if obs_kind in ("box", "dict") else "discrete"]
    model = PPO("auto", lambda: _SpaceEnv(obs_space, action_space), seed=1, n_steps=16, batch_size=8, n_epochs=1,
                normalize_observations=normalize, normalize_rewards=normalize, device="cpu")
    model.learn(32)
    loaded = PPO.load(model.save(tmp_path / "model"), device="cpu")
    obs_space.seed(2)
    batch = [obs_space.sample() for _ in range(12)]
    obs = {k: np.stack([o[k] for o in batch]) for k in obs_space.spaces} if obs_kind == "dict" else np.stack(batch)
    assert np.array_equal(model.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0])


@pytest.mark.parametrize("action_kind", sorted(ACTION_SPACES))
def test_round_trip_for_every_action_space(tmp_path: Path, action_kind: str) -> None:
    obs_space = OBSERVATION_SPACES["box"]
    model = A2C("MlpPolicy", lambda: _SpaceEnv(obs_space, ACTION_SPACES[action_kind]), seed=1, device="cpu")
    model.learn(20)
    loaded = ballast.load(model.save(tmp_path / "model"), device="cpu")
    obs = np.random.default_rng(1).uniform(-2, 2, size=(12, 5)).astype(np.float32)
    actions, _ = loaded.predict(obs, deterministic=True)
    assert np.array_equal(model.predict(obs, deterministic=True)[0], actions)
    assert all(ACTION_SPACES[action_kind].contains(a) for a in actions)


OFF_POLICY_CASES = [
    ("SAC", "box", ACTION_SPACES["box"]), ("SAC", "dict", ACTION_SPACES["box"]), ("SAC", "image", ACTION_SPACES["box"]),
    ("TD3", "box", ACTION_SPACES["box"]), ("TD3", "dict", ACTION_SPACES["box"]),
    ("DQN", "box", ACTION_SPACES["discrete"]), ("DQN", "discrete", ACTION_SPACES["discrete"]),
    ("DQN", "multidiscrete", ACTION_SPACES["discrete"]), ("DQN", "multibinary", ACTION_SPACES["discrete"]),
    ("DQN", "dict", ACTION_SPACES["discrete"]), ("DQN", "image", ACTION_SPACES["discrete"]),
]


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("algo, obs_kind, action_space", OFF_POLICY_CASES)
def test_off_policy_round_trip_for_every_observation_space(tmp_path: Path, algo: str, obs_kind: str,
                                                          action_space: spaces.Space, normalize: bool) -> None:
    obs_space = OBSERVATION_SPACES[obs_kind]
    policy = "auto"
    model = getattr(ballast, algo)(policy, lambda: _SpaceEnv(obs_space, action_space), seed=1, learning_starts=8,
                                   batch_size=8, buffer_size=64, policy_kwargs={"net_arch": [16]},
                                   normalize_observations=normalize, device="cpu")
    model.learn(24)
    loaded = ballast.load(model.save(tmp_path / "model", include_replay_buffer=True), device="cpu")
    obs_space.seed(2)
    batch = [obs_space.sample() for _ in range(12)]
    obs = {k: np.stack([o[k] for o in batch]) for k in obs_space.spaces} if obs_kind == "dict" else np.stack(batch)
    assert np.array_equal(model.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0])
