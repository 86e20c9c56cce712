"""Gymnasium-Robotics' Fetch tasks (the ``robotics`` extra): found by id, relabelled with the env's own
``compute_reward``, trained from the zoo's her.yml (TimeFeatureWrapper included), learned with HER, and
used under a scripted base controller that a residual model reproduces exactly before training."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("gymnasium_robotics")

from ballast import SAC, HerReplayBuffer  # noqa: E402
from ballast.envs.controllers import fetch_push, fetch_reach  # noqa: E402
from ballast.envs.goals import goal_functions  # noqa: E402
from ballast.envs.make import ensure_registered, make_vector_env  # noqa: E402
from ballast.zoo import load_hyperparams, parse_overrides  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
HER = dict(replay_buffer_class=HerReplayBuffer, replay_buffer_kwargs=dict(n_sampled_goal=4,
                                                                          goal_selection_strategy="future"))


def _success_rate(model: SAC, env_id: str, episodes: int) -> float:
    env = gym.make(env_id)
    successes = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=10_000 + episode)
        for _ in range(50):
            obs, _, _, _, info = env.step(model.predict(obs, deterministic=True)[0])
        successes.append(info["is_success"])
    return float(np.mean(successes))


def test_fetch_ids_register_and_their_reward_is_computed_for_a_whole_batch() -> None:
    ensure_registered("FetchPush-v4")
    venv = make_vector_env("FetchPush-v4", 2, seed=0)
    functions = goal_functions(venv)
    rng = np.random.default_rng(0)
    achieved, desired = rng.uniform(1.0, 1.5, (64, 3)), rng.uniform(1.0, 1.5, (64, 3))
    desired[:8] = achieved[:8] + 0.01  # within the 5 cm threshold
    batch = functions.compute_reward(achieved, desired, [{}] * 64)
    single = gym.make("FetchPush-v4").unwrapped
    expected = [single.compute_reward(a, d, {}) for a, d in zip(achieved, desired)]
    np.testing.assert_array_equal(batch, expected)
    assert (batch[:8] == 0.0).all() and (batch < 0).any()


def test_the_zoo_fetch_push_entry_trains_with_the_time_feature_and_reloads(tmp_path: Path) -> None:
    overrides = parse_overrides(["batch_size=64", "learning_starts=100", "buffer_size=2000",
                                 "policy_kwargs=dict(n_critics=2, net_arch=[32])"])
    settings = load_hyperparams("her.yml", "FetchPush-v4", overrides=overrides)
    assert settings.algorithm == "tqc" and settings.kwargs["tau"] == 0.05
    assert [name for name, _ in settings.env_wrappers] == ["sb3_contrib.common.wrappers.TimeFeatureWrapper"]
    model = settings.create_model(seed=0, device="cpu")
    assert model.observation_space["observation"].shape == (26,)  # 25 + the time feature
    model.learn(300)
    loaded = type(model).load(model.save(tmp_path / "push"), env=settings.make_env(seed=1))
    obs = loaded.get_env().reset()
    np.testing.assert_array_equal(model.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0])
    assert obs["observation"][0, -1] == 1.0


def test_sac_with_her_learns_fetch_reach_with_the_zoo_settings() -> None:
    settings = load_hyperparams("her.yml", "FetchReach-v4")
    assert settings.algorithm == "sac" and settings.kwargs["normalize_observations"] is True
    model = settings.create_model(seed=0, device="cpu")
    assert _success_rate(model, "FetchReach-v4", 10) <= 0.2
    model.learn(5_000)
    assert _success_rate(model, "FetchReach-v4", 20) >= 0.9


def test_a_residual_over_the_scripted_pusher_starts_as_the_pusher() -> None:
    model = SAC("MultiInputPolicy", "FetchPush-v4", base_policy=fetch_push, residual_scale=0.5,
                critic_warmup_steps=100, learning_starts=100, batch_size=32, buffer_size=1000, seed=0, device="cpu",
                **HER)
    env = gym.make("FetchPush-v4")
    obs, _ = env.reset(seed=3)
    for _ in range(20):
        batch = {k: v[None] for k, v in obs.items()}
        action = model.predict(obs, deterministic=True)[0]
        np.testing.assert_allclose(action, fetch_push(batch)[0], atol=1e-6)
        obs, *_ = env.step(action)
    model.learn(300)  # trains on relabelled goals under the base without error
    assert model.num_timesteps == 300


def test_the_scripted_reach_controller_solves_fetch_reach() -> None:
    env = gym.make("FetchReach-v4")
    obs, _ = env.reset(seed=0)
    for _ in range(50):
        obs, _, _, _, info = env.step(fetch_reach({k: v[None] for k, v in obs.items()})[0])
    assert info["is_success"] == 1.0


def test_the_fetch_push_example_runs(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "her_fetch_push.py"), "--steps", "200",
                           "--eval-every", "200", "--eval-episodes", "1", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=900)  # a guard against a hang, not a speed test
    assert done.returncode == 0, done.stderr
    assert "same action: True" in done.stdout and (tmp_path / "model.zip").exists()
