"""Hindsight experience replay in the algorithms: each off-policy algorithm trains with it, DQN
learns bit flipping with it, checkpoints carry its episodes so that a resume continues the same
run, and envs HER cannot relabel get errors that name what is missing."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

from ballast import DDPG, DQN, QRDQN, SAC, TD3, TQC, CrossQ, HerReplayBuffer
from ballast.envs.testing import BitFlippingEnv
from ballast.errors import ConfigurationError

BITS = "ballast/BitFlipping-v0"
SMALL = dict(seed=0, learning_starts=40, batch_size=32, buffer_size=400, device="cpu")
HER = dict(replay_buffer_class=HerReplayBuffer, replay_buffer_kwargs=dict(n_sampled_goal=4,
                                                                          goal_selection_strategy="future"))
ALGOS = [(SAC, True, {}), (TD3, True, {}), (DDPG, True, {}), (TQC, True, {"n_quantiles": 5}), (CrossQ, True, {}),
         (DQN, False, {}), (QRDQN, False, {"n_quantiles": 5})]


def _weights(model: Any) -> torch.Tensor:
    return torch.cat([t.detach().flatten().double() for t in model.policy.state_dict().values()])


def _success_rate(model: Any, n_bits: int, episodes: int = 30, continuous: bool = False) -> float:
    env = BitFlippingEnv(n_bits=n_bits, continuous=continuous)
    successes = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=100 + episode)
        done, info = False, {}
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, _, terminated, truncated, info = env.step(action)
            done = terminated or truncated
        successes.append(info["is_success"])
    return float(np.mean(successes))


@pytest.mark.parametrize(("algo", "continuous", "policy_kwargs"), ALGOS, ids=[a[0].__name__ for a in ALGOS])
def test_every_off_policy_algorithm_trains_on_relabelled_goals(algo: type, continuous: bool,
                                                               policy_kwargs: dict) -> None:
    model = algo("MultiInputPolicy", BITS, env_kwargs=dict(n_bits=4, continuous=continuous),
                 policy_kwargs={"net_arch": [16], **policy_kwargs}, train_freq=4, **HER, **SMALL)
    assert model.replay_buffer_class is HerReplayBuffer
    assert model.replay_buffer_kwargs == {"n_sampled_goal": 4, "goal_selection_strategy": "future"}
    model.learn(120)
    buffer = model.replay_buffer
    assert isinstance(buffer, HerReplayBuffer) and model.n_updates > 0
    assert (buffer.episode_end[: buffer.pos] >= 0).any()  # episodes ended and were closed
    with pytest.raises(AttributeError):
        model.replay_buffer_class = None


#: DQN on 6-bit flipping (1 in 64 random starts is solved): with HER, seeds 0-2 reach a success
#: rate of 1.0 in 3,000 steps (4 s each); without, 0.0-0.07.
BIT_FLIPPING_DQN = dict(env_kwargs=dict(n_bits=6), learning_starts=100, buffer_size=10_000, batch_size=64,
                        learning_rate=1e-3, gamma=0.95, exploration_fraction=0.5, exploration_final_eps=0.05,
                        target_update_interval=200, policy_kwargs=dict(net_arch=[64]), seed=0, device="cpu")


def test_dqn_with_her_learns_bit_flipping() -> None:
    model = DQN("MultiInputPolicy", BITS, **HER, **BIT_FLIPPING_DQN).learn(3_000)
    assert _success_rate(model, 6) >= 0.9


def test_without_her_the_same_budget_rarely_succeeds() -> None:
    """The counterpart of the learning test: the relabelling, not the budget, solves the task."""
    model = DQN("MultiInputPolicy", BITS, **BIT_FLIPPING_DQN).learn(3_000)
    assert _success_rate(model, 6) <= 0.5


def test_resume_with_the_buffer_continues_the_her_run_exactly(tmp_path: Path) -> None:
    model = SAC("MultiInputPolicy", BITS, env_kwargs=dict(n_bits=4, continuous=True), n_envs=2,
                policy_kwargs={"net_arch": [16]}, **HER, **SMALL)
    model.learn(200)
    path = model.save(tmp_path / "her", include_replay_buffer=True)
    loaded = SAC.load(path, env=BITS, device="cpu")
    assert isinstance(loaded.replay_buffer, HerReplayBuffer)
    for name, tensor in model.replay_buffer.state_tensors().items():
        assert torch.equal(loaded.replay_buffer.state_tensors()[name], tensor), name
    model.set_env(BITS)  # both now reset their env when learning goes on, as a resumed run does
    model.learn(200, reset_num_timesteps=False)
    loaded.learn(200, reset_num_timesteps=False)
    assert torch.equal(_weights(loaded), _weights(model))
    for name, tensor in model.replay_buffer.state_tensors().items():
        assert torch.equal(loaded.replay_buffer.state_tensors()[name], tensor), name


def test_save_and_load_replay_buffer_keep_the_episodes(tmp_path: Path) -> None:
    settings = dict(env_kwargs=dict(n_bits=4), policy_kwargs={"net_arch": [16]}, **HER, **SMALL)
    model = DQN("MultiInputPolicy", BITS, **settings).learn(150)
    model.save_replay_buffer(tmp_path / "buffer")
    other = DQN("MultiInputPolicy", BITS, **settings)
    other.load_replay_buffer(tmp_path / "buffer")
    for name in ("episode_start", "episode_end", "valid"):
        np.testing.assert_array_equal(getattr(other.replay_buffer, name), getattr(model.replay_buffer, name))
    other.learn(100, reset_num_timesteps=False)
    uniform = DQN("MultiInputPolicy", BITS, env_kwargs=dict(n_bits=4), **SMALL)
    uniform.save_replay_buffer(tmp_path / "uniform")
    with pytest.raises(ConfigurationError, match="no episode bookkeeping"):
        other.load_replay_buffer(tmp_path / "uniform")


def test_a_model_loaded_without_env_needs_one_to_relabel(tmp_path: Path) -> None:
    model = DQN("MultiInputPolicy", BITS, env_kwargs=dict(n_bits=4), policy_kwargs={"net_arch": [16]}, **HER,
                **SMALL).learn(100)
    loaded = DQN.load(model.save(tmp_path / "m", include_replay_buffer=True), device="cpu")
    with pytest.raises(ConfigurationError, match="compute_reward"):
        loaded.replay_buffer.sample(8, torch.Generator())
    loaded.set_env(BITS)
    assert loaded.replay_buffer.sample(8, torch.Generator()).rewards.shape == (8,)


class GoalKeysOnly(gym.Env):
    """A Dict observation with the goal keys, but no ``compute_reward``."""

    observation_space = spaces.Dict({key: spaces.Box(-1, 1, (2,)) for key in
                                     ("observation", "achieved_goal", "desired_goal")})
    action_space = spaces.Discrete(2)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action: int) -> tuple[dict, float, bool, bool, dict]:
        return self.observation_space.sample(), 0.0, False, False, {}


def test_envs_her_cannot_relabel_get_errors_naming_what_is_missing() -> None:
    with pytest.raises(ConfigurationError, match="Dict observation space"):
        SAC("MlpPolicy", "Pendulum-v1", **HER)
    with pytest.raises(ConfigurationError, match="GoalKeysOnly has none"):
        DQN("MultiInputPolicy", GoalKeysOnly(), **HER)
    with pytest.raises(ConfigurationError, match="n_steps=3"):
        DQN("MultiInputPolicy", BITS, n_steps=3, **HER)
    with pytest.raises(ConfigurationError, match="prioritized"):
        DQN("MultiInputPolicy", BITS, prioritized_replay=True, **HER)


@pytest.mark.parametrize("fmt", ["onnx", "torchscript", "matlab"])
@pytest.mark.parametrize("algo", [DQN, SAC])
def test_goal_conditioned_policies_export_with_parity(algo: type, fmt: str, tmp_path: Path) -> None:
    pytest.importorskip("onnx" if fmt == "onnx" else "torch")
    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
    if fmt == "matlab" and shutil.which("octave-cli") is None:
        pytest.skip("GNU Octave (octave-cli) runs the MATLAB parity check")
    from ballast.export import export_model

    model = algo("MultiInputPolicy", BITS, env_kwargs=dict(n_bits=4, continuous=algo is SAC),
                 policy_kwargs={"net_arch": [16]}, **HER, **SMALL).learn(100)
    out = export_model(model, tmp_path / fmt, fmt)  # raises ExportError when the artifact differs from predict
    metadata = (out / "metadata.json").read_text()
    assert all(key in metadata for key in ("observation", "achieved_goal", "desired_goal"))


def test_a_residual_correction_over_a_goal_controller_trains_saves_and_loads(tmp_path: Path) -> None:
    from ballast.envs.controllers import bit_flipping_half

    model = SAC("MultiInputPolicy", BITS, env_kwargs=dict(n_bits=4, continuous=True), base_policy=bit_flipping_half,
                policy_kwargs={"net_arch": [16]}, **HER, **SMALL)
    env = BitFlippingEnv(n_bits=4, continuous=True)
    obs, _ = env.reset(seed=0)
    batch = {key: value[None] for key, value in obs.items()}
    # zero-initialised correction: the untrained model acts as the controller
    np.testing.assert_allclose(model.predict(batch, deterministic=True)[0], bit_flipping_half(batch), atol=1e-6)
    model.learn(200)
    assert model.n_updates > 0 and isinstance(model.replay_buffer, HerReplayBuffer)
    loaded = SAC.load(model.save(tmp_path / "residual", include_replay_buffer=True), env=BITS, device="cpu")
    assert loaded.residual_actions is not None
    np.testing.assert_array_equal(loaded.predict(batch, deterministic=True)[0],
                                  model.predict(batch, deterministic=True)[0])
    loaded.learn(100, reset_num_timesteps=False)


HER_YML = """\
ballast/BitFlipping-v0:
  model_class: 'dqn'
  env_kwargs: {n_bits: 4}
  n_timesteps: 300
  policy: 'MultiInputPolicy'
  n_sampled_goal: 2
  goal_selection_strategy: 'final'
  online_sampling: True
  max_episode_length: 4
  buffer_size: 1000
  learning_starts: 50
  batch_size: 16
  policy_kwargs: "dict(net_arch=[16])"
"""


def test_the_cli_trains_her_yml_entries_and_checkpoints_their_buffer(tmp_path: Path) -> None:
    from ballast.checkpoint import read_checkpoint
    from ballast.cli import main

    (tmp_path / "her.yml").write_text(HER_YML)
    # No --checkpoint-replay-buffer: a HER run keeps its buffer in the checkpoint by default.
    args = ["train", "her", BITS, "--hyperparams", str(tmp_path / "her.yml"), "--out", str(tmp_path / "runs"),
            "--checkpoint-every", "100", "--eval-episodes", "2", "--device", "cpu", "--threads", "1"]
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(args) == 0
    run = tmp_path / "runs" / "dqn_ballast-BitFlipping-v0_s0"
    config = json.loads((run / "config.json").read_text())
    assert config["checkpoint_replay_buffer"] is True
    assert config["settings"]["replay_buffer_class"] == "HerReplayBuffer"
    assert config["settings"]["replay_buffer_kwargs"] == {"n_sampled_goal": 2, "goal_selection_strategy": "final"}
    checkpoint = read_checkpoint(run / "checkpoint.zip")
    assert checkpoint.config["hyperparameters"]["replay_buffer_class"] == "HerReplayBuffer"
    assert "episode_end" in checkpoint.tensors["replay_buffer"]
    with contextlib.redirect_stdout(io.StringIO()):
        assert main([*args, "--resume"]) == 0  # the run is complete: resuming finds nothing left to train
    without = [*args[:args.index("--out") + 1], str(tmp_path / "plain"), *args[args.index("--out") + 2:],
               "--no-checkpoint-replay-buffer"]
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(without) == 0
    plain = tmp_path / "plain" / "dqn_ballast-BitFlipping-v0_s0"
    assert json.loads((plain / "config.json").read_text())["checkpoint_replay_buffer"] is False
    assert "replay_buffer" not in read_checkpoint(plain / "checkpoint.zip").tensors


def test_her_relabels_with_the_reward_of_envs_in_worker_processes() -> None:
    # SB3's test_multiprocessing: compute_reward is found and called in the SubprocVecEnv's workers.
    from ballast.common.env_util import make_vec_env
    from ballast.common.vec_env import SubprocVecEnv

    env = make_vec_env(lambda: BitFlippingEnv(n_bits=4, continuous=True), n_envs=2, vec_env_cls=SubprocVecEnv)
    model = TD3("MultiInputPolicy", env, train_freq=4, policy_kwargs={"net_arch": [16]}, **HER, **SMALL)
    model.learn(120)
    assert model.n_updates > 0 and (model.replay_buffer.episode_end[: model.replay_buffer.pos] >= 0).any()
    env.close()


def test_sb3_1_0_s_her_class_says_what_replaced_it() -> None:
    from ballast import HER

    with pytest.raises(ImportError, match="replay_buffer_class=HerReplayBuffer; see the documentation"):
        HER("MlpPolicy", BITS)
