"""The zoo's vec_env_wrapper and callback keys: SB3's class paths mapped onto Ballast's, from allow-lists."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from ballast.callbacks import CheckpointCallback, StopTrainingOnMaxEpisodes
from ballast.cli import main
from ballast.envs.check_nan import VecCheckNan
from ballast.envs.monitor import VecMonitor
from ballast.errors import ConfigurationError
from ballast.tuning.results import settings_entry
from ballast.zoo import load_hyperparams, parse_hyperparams


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def entry(tmp_path: Path, text: str, env_id: str = "CartPole-v1", name: str = "ppo.yml"):
    path = tmp_path / name
    path.write_text(f"{env_id}:\n" + textwrap.indent(textwrap.dedent(text), "  "))
    return load_hyperparams(path, env_id)


# --- vec_env_wrapper ----------------------------------------------------------------------------
def test_vec_env_wrappers_wrap_the_vector_env_in_order(tmp_path: Path) -> None:
    settings = entry(tmp_path, """\
        n_envs: 2
        n_steps: 16
        batch_size: 32
        vec_env_wrapper:
          - stable_baselines3.common.vec_env.VecMonitor
          - stable_baselines3.common.vec_env.vec_check_nan.VecCheckNan:
              raise_exception: true
        """)
    assert settings.vec_env_wrappers == [("stable_baselines3.common.vec_env.VecMonitor", {}),
                                         ("stable_baselines3.common.vec_env.vec_check_nan.VecCheckNan",
                                          {"raise_exception": True})]
    with pytest.warns(UserWarning, match="already wrapped in a Monitor"):  # as SB3's VecMonitor warns
        venv = settings.make_env(seed=0)
    assert isinstance(venv, VecCheckNan) and venv.raise_exception
    assert isinstance(venv.venv, VecMonitor) and venv.num_envs == 2
    with pytest.warns(UserWarning, match="already wrapped in a Monitor"):
        model = settings.create_model(seed=0, device="cpu")
    model.learn(64)
    assert model.num_timesteps == 64


def test_vec_frame_stack_and_vec_normalize_become_the_models_settings(tmp_path: Path) -> None:
    settings = entry(tmp_path, """\
        vec_env_wrapper:
          - stable_baselines3.common.vec_env.VecFrameStack:
              n_stack: 3
          - stable_baselines3.common.vec_env.VecNormalize:
              norm_reward: false
        """)
    assert settings.frame_stack == 3 and settings.vec_env_wrappers == []
    assert settings.kwargs["normalize_observations"] is True and settings.kwargs["normalize_rewards"] is False
    model = settings.create_model(seed=0, device="cpu")
    assert model.observation_space.shape == (12,)  # 3 stacked CartPole observations, in the model
    assert model.policy.normalizer is not None
    plain = entry(tmp_path, "vec_env_wrapper: stable_baselines3.common.vec_env.VecNormalize\n")
    assert plain.kwargs["normalize_observations"] is True and plain.kwargs["normalize_rewards"] is True


@pytest.mark.parametrize("text, expected", [
    ("vec_env_wrapper: os.system\n", "'os.system' is not a vector-env wrapper Ballast provides; known"),
    ("vec_env_wrapper:\n  - stable_baselines3.common.vec_env.VecMonitor:\n      filenam: x\n",
     "VecMonitor takes no keyword(s) ['filenam']"),
    ("vec_env_wrapper:\n  - stable_baselines3.common.vec_env.VecFrameStack:\n      channels_order: last\n",
     "takes n_stack (needed)"),
    ("vec_env_wrapper:\n  - stable_baselines3.common.vec_env.VecNormalize:\n      gamma: 0.9\n",
     "option(s) ['gamma'] are not supported"),
    ("frame_stack: 4\nvec_env_wrapper:\n  - stable_baselines3.common.vec_env.VecFrameStack:\n      n_stack: 4\n",
     "give either frame_stack or its vec_env_wrapper item"),
    ("normalize: true\nvec_env_wrapper: stable_baselines3.common.vec_env.VecNormalize\n",
     "give either normalize or its vec_env_wrapper item"),
    ("vec_env_wrapper: [3]\n", "vec_env_wrapper entries are names or"),
])
def test_vec_env_wrapper_errors_name_the_problem(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        entry(tmp_path, text)
    assert expected in str(info.value) and "CartPole-v1" in str(info.value)


# --- callback -----------------------------------------------------------------------------------
def test_callbacks_are_built_with_their_keywords(tmp_path: Path) -> None:
    settings = entry(tmp_path, """\
        callback:
          - stable_baselines3.common.callbacks.CheckpointCallback:
              save_freq: 5
              name_prefix: ckpt
          - rl_zoo3.callbacks.SaveVecNormalizeCallback:
              save_freq: 1
              save_path: ignored
          - stable_baselines3.common.callbacks.StopTrainingOnMaxEpisodes:
              max_episodes: 2
        """)
    built = settings.make_callbacks(tmp_path / "run")
    assert [type(c) for c in built] == [CheckpointCallback, StopTrainingOnMaxEpisodes]
    assert Path(built[0].save_path) == tmp_path / "run" / "checkpoints" and built[0].name_prefix == "ckpt"
    assert built[1].max_episodes == 2
    with pytest.raises(ConfigurationError, match="needs save_path"):
        settings.make_callbacks()


def test_stop_on_max_episodes_from_the_entry_ends_training(tmp_path: Path) -> None:
    settings = entry(tmp_path, """\
        n_envs: 1
        callback:
          - stable_baselines3.common.callbacks.StopTrainingOnMaxEpisodes:
              max_episodes: 3
        """)
    model = settings.create_model(seed=0, device="cpu")
    model.learn(50_000, callback=settings.make_callbacks())
    # PPO stops at the end of the step that finishes the third episode, long before the budget.
    assert 0 < model.num_timesteps < 2_000
    assert len(model.ep_info_buffer) == 3


@pytest.mark.parametrize("text, expected", [
    ("callback: rl_zoo3.callbacks.ParallelTrainCallback\n", "ParallelTrainCallback is not supported: it trains"),
    ("callback: my_package.MyCallback\n", "'my_package.MyCallback' is not a callback Ballast provides; known"),
    ("callback:\n  - stable_baselines3.common.callbacks.CheckpointCallback:\n      save_frq: 3\n",
     "CheckpointCallback takes no keyword(s) ['save_frq']"),
    ("callback: stable_baselines3.common.callbacks.CheckpointCallback\n",
     "CheckpointCallback needs the keyword(s) ['save_freq']"),
])
def test_callback_errors_name_the_problem(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        entry(tmp_path, text)
    assert expected in str(info.value)


def test_entries_round_trip_through_the_tuner_s_zoo_entry(tmp_path: Path) -> None:
    settings = entry(tmp_path, """\
        vec_env_wrapper: stable_baselines3.common.vec_env.VecMonitor
        callback:
          - stable_baselines3.common.callbacks.CheckpointCallback:
              save_freq: 7
        """)
    again = parse_hyperparams(settings_entry(settings), "CartPole-v1", "ppo")
    assert again.vec_env_wrappers == settings.vec_env_wrappers and again.callbacks == settings.callbacks


def test_cli_train_runs_the_entry_s_callbacks_and_records_them(tmp_path: Path) -> None:
    path = tmp_path / "ppo.yml"
    path.write_text(textwrap.dedent("""\
        CartPole-v1:
          n_envs: 2
          n_steps: 32
          batch_size: 32
          vec_env_wrapper: stable_baselines3.common.vec_env.VecCheckNan
          callback:
            - stable_baselines3.common.callbacks.CheckpointCallback:
                save_freq: 32
        """))
    out = tmp_path / "runs"
    assert main(["train", "ppo", "CartPole-v1", "--hyperparams", str(path), "--steps", "128", "--seed", "0",
                 "--out", str(out), "--eval-episodes", "1"]) == 0
    (run_dir,) = out.iterdir()
    saved = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert saved == ["rl_model_128_steps.zip", "rl_model_64_steps.zip"]  # every 32 vector steps of 2 copies
    config = json.loads((run_dir / "config.json").read_text())
    assert config["vec_env_wrappers"] == [["stable_baselines3.common.vec_env.VecCheckNan", {}]]
    assert config["callbacks"] == [["stable_baselines3.common.callbacks.CheckpointCallback", {"save_freq": 32}]]
    assert np.isfinite(json.loads((run_dir / "eval.json").read_text())["mean_reward"])
