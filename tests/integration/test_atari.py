"""Atari end to end: the zoo's ``atari`` entries from the command line, frame stacking in the model,
save/load/evaluate of a pixel policy."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("ale_py")
pytest.importorskip("cv2")

from ballast import PPO, ConfigurationError, evaluate_policy, make_atari_env  # noqa: E402
from ballast.cli import main  # noqa: E402
from ballast.envs import VecFrameStack  # noqa: E402
from ballast.zoo import load_hyperparams, parse_hyperparams  # noqa: E402

FAST = ["--threads", "1", "--device", "cpu", "--verbose", "0"]


@pytest.mark.parametrize("algo", ["ppo", "a2c", "dqn", "qrdqn"])
def test_atari_games_use_the_files_atari_entry(algo: str) -> None:
    settings = load_hyperparams(f"{algo}.yml", "PongNoFrameskip-v4")
    assert settings.source.endswith("[atari]") and settings.policy == "CnnPolicy"
    assert settings.env_wrappers == [("stable_baselines3.common.atari_wrappers.AtariWrapper", {})]
    assert settings.frame_stack == 4
    assert load_hyperparams(f"{algo}.yml", "CartPole-v1").env_wrappers == []


def test_env_wrapper_entries_are_an_allow_list_with_keywords() -> None:
    wrapper = {"stable_baselines3.common.atari_wrappers.AtariWrapper": {"terminal_on_life_loss": False}}
    entry = {"env_wrapper": [wrapper], "frame_stack": 2, "policy": "CnnPolicy"}
    settings = parse_hyperparams(entry, "BreakoutNoFrameskip-v4", "ppo")
    assert settings.env_wrappers == [("stable_baselines3.common.atari_wrappers.AtariWrapper",
                                      {"terminal_on_life_loss": False})]
    env = settings.make_env(n_envs=1, seed=0)
    assert env.observation_space.shape == (84, 84, 2)
    wrappers, inner = [], env.venv.envs[0]
    while hasattr(inner, "env"):
        wrappers.append(type(inner).__name__)
        inner = inner.env
    assert "WarpFrame" in wrappers and "EpisodicLifeEnv" not in wrappers
    with pytest.raises(ConfigurationError, match="not one Ballast provides"):
        parse_hyperparams({"env_wrapper": "rl_zoo3.wrappers.FrameSkip"}, "CartPole-v1", "ppo")
    with pytest.raises(ConfigurationError, match="positive whole number"):
        parse_hyperparams({"frame_stack": 0}, "CartPole-v1", "ppo")


def test_a_stacked_pixel_policy_saves_loads_and_evaluates_with_its_stacking(tmp_path: Path) -> None:
    env = VecFrameStack(make_atari_env("BreakoutNoFrameskip-v4", n_envs=2, seed=0), 4)
    model = PPO("CnnPolicy", env, n_steps=16, batch_size=32, n_epochs=1, seed=0, device="cpu")
    model.learn(32)
    obs = env.reset()
    assert obs.shape == (2, 84, 84, 4) and obs.dtype == np.uint8
    path = model.save(tmp_path / "breakout")
    loaded = PPO.load(path, device="cpu")
    np.testing.assert_array_equal(model.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0])
    assert loaded.env_settings.frame_stack.n_stack == 4
    # An unstacked Atari env: the loaded model stacks its frames itself, the Monitor scores whole games.
    returns, lengths = evaluate_policy(loaded, make_atari_env("BreakoutNoFrameskip-v4", n_envs=1, seed=1),
                                       n_eval_episodes=1, deterministic=False, return_episode_rewards=True)
    assert len(returns) == 1 and lengths[0] > 100


def test_ballast_train_runs_the_zoo_atari_entry_and_evaluates_whole_games(tmp_path: Path) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["train", "ppo", "BreakoutNoFrameskip-v4", "--hyperparams", "ppo.yml", "--steps", "256",
                     "--n-envs", "2", "--out", str(tmp_path), "--eval-episodes", "0", "--checkpoint-every", "128",
                     *FAST])
    assert code == 0
    run = tmp_path / "ppo_BreakoutNoFrameskip-v4_s0"
    config = json.loads((run / "config.json").read_text())
    assert config["env_wrappers"] == [["stable_baselines3.common.atari_wrappers.AtariWrapper", {}]]
    assert config["frame_stack"] == 4 and config["policy"] == "CnnPolicy"
    assert config["resolved"]["hyperparameters"]["n_steps"] == 128
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["eval", str(run), "--episodes", "1", "--stochastic", *FAST[:4]]) == 0
    assert "over 1 episodes" in out.getvalue()
    with contextlib.redirect_stdout(io.StringIO()):  # the checkpoint loads onto the rebuilt Atari env
        assert main(["train", "ppo", "BreakoutNoFrameskip-v4", "--resume", str(run), "--out", str(tmp_path),
                     "--eval-episodes", "0", *FAST]) == 0


def test_a_stacked_pixel_policy_exports_with_its_image_scaling(tmp_path: Path) -> None:
    onnxruntime = pytest.importorskip("onnxruntime")
    env = VecFrameStack(make_atari_env("PongNoFrameskip-v4", n_envs=1, seed=0), 4)
    model = PPO("CnnPolicy", env, n_steps=16, batch_size=16, n_epochs=1, seed=0, device="cpu")
    model.learn(16)
    out = model.export(tmp_path / "pong", format="onnx")  # the parity check runs inside
    readme = (out / "README.md").read_text()
    assert '"low": 0.0, "high": 255.0' in readme and len(readme) < 10_000
    obs = np.stack([env.step(np.array([i % 6]))[0][0] for i in range(20)])
    session = onnxruntime.InferenceSession(str(out / "policy.onnx"))
    np.testing.assert_array_equal(session.run(None, {"obs": obs})[0], model.predict(obs, deterministic=True)[0])


def test_frame_stack_argument_is_vec_frame_stack_kept_in_the_model(tmp_path: Path) -> None:
    from ballast import DQN

    model = PPO("CnnPolicy", make_atari_env("PongNoFrameskip-v4", n_envs=2, seed=0), frame_stack=4, n_steps=16,
                batch_size=32, n_epochs=1, seed=0, device="cpu")
    assert model.observation_space.shape == (84, 84, 4) and model.env_settings.frame_stack.n_stack == 4
    same = PPO("CnnPolicy", VecFrameStack(make_atari_env("PongNoFrameskip-v4", n_envs=2, seed=0), 4), n_steps=16,
               batch_size=32, n_epochs=1, seed=0, device="cpu")
    model.learn(32)
    same.learn(32)
    for a, b in zip(model.policy.parameters(), same.policy.parameters()):
        assert torch.equal(a, b)  # the keyword and the wrapper are the same run
    path = model.save(tmp_path / "stacked")
    assert PPO.load(path).env_settings.frame_stack.n_stack == 4
    # An env id with frame_stack (CartPole's vectors stack along their only axis).
    dqn = DQN("MlpPolicy", "CartPole-v1", frame_stack=3, learning_starts=10, device="cpu")
    assert dqn.observation_space.shape == (12,)
    with pytest.raises(ConfigurationError, match="VecFrameStack already"):
        PPO("CnnPolicy", VecFrameStack(make_atari_env("PongNoFrameskip-v4", n_envs=1), 4), frame_stack=4)
    with pytest.raises(ConfigurationError, match="frame_stack must be"):
        PPO("MlpPolicy", "CartPole-v1", frame_stack=0)
