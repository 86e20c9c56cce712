"""The rl-baselines3-zoo hyperparameter reader: parsing, safety, and errors that name the problem."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import torch
import yaml

from ballast.errors import ConfigurationError
from ballast.schedules import ConstantSchedule, LinearSchedule
from ballast.zoo import (
    ZooSettings,
    default_settings,
    get_algorithm,
    load_hyperparams,
    own_entry_file,
    parse_normalize,
    parse_policy_kwargs,
    supported_keys,
)

HYPERPARAMS = Path(__file__).resolve().parents[2] / "hyperparams"


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def write_yaml(tmp_path: Path, text: str, name: str = "ppo.yml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


# --- policy_kwargs ---------------------------------------------------------------------------
def test_policy_kwargs_nested_dicts_and_activation() -> None:
    text = ("dict(log_std_init=-2, ortho_init=False, activation_fn=nn.ReLU, "
            "net_arch=dict(pi=[256, 256], vf=[256, 256]))")
    assert parse_policy_kwargs(text) == {
        "log_std_init": -2, "ortho_init": False, "activation_fn": "ReLU",
        "net_arch": {"pi": [256, 256], "vf": [256, 256]},
    }


@pytest.mark.parametrize(("name", "expected"), [("nn.ReLU", "ReLU"), ("th.nn.Tanh", "Tanh"),
                                                ("torch.nn.ReLU", "ReLU"), ("ELU", "ELU")])
def test_activation_names_become_class_names(name: str, expected: str) -> None:
    assert parse_policy_kwargs(f"dict(activation_fn={name})") == {"activation_fn": expected}


def test_policy_kwargs_literals() -> None:
    text = "{'net_arch': (64, 64), 'log_std_init': -0.5, 'full_std': True, 'x': None, 'y': +3, 's': 'a'}"
    assert parse_policy_kwargs(text) == {"net_arch": [64, 64], "log_std_init": -0.5, "full_std": True,
                                         "x": None, "y": 3, "s": "a"}


def test_policy_kwargs_multiline_zoo_string(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, """\
        Pendulum-v1:
          policy_kwargs: "dict(log_std_init=-2,
                               ortho_init=False,
                               activation_fn=nn.ReLU,
                               net_arch=[dict(pi=[256, 256], vf=[256, 256])]
                               )"
        """)
    kwargs = load_hyperparams(path, "Pendulum-v1").kwargs["policy_kwargs"]
    # The older zoo form [dict(pi=..., vf=...)] is the same network as dict(pi=..., vf=...).
    assert kwargs == {"log_std_init": -2, "ortho_init": False, "activation_fn": "ReLU",
                      "net_arch": {"pi": [256, 256], "vf": [256, 256]}}


@pytest.mark.parametrize("template", [
    "__import__('os').system('touch {marker}')",
    "dict(a=__import__('os').system('touch {marker}'))",
    "dict(a=open('{marker}', 'w').write('x'))",
    "dict(a=(lambda: open('{marker}', 'w'))())",
    "dict(a=[open('{marker}', 'w') for _ in [0]])",
    "dict(**{{'a': open('{marker}', 'w')}})",
    "getattr(dict, 'x')",
    "dict(a=1 + 2)",
])
def test_code_in_policy_kwargs_is_refused_and_never_runs(tmp_path: Path, template: str) -> None:
    marker = tmp_path / "pwned"
    with pytest.raises(ConfigurationError, match="not allowed|cannot parse"):
        parse_policy_kwargs(template.format(marker=marker))
    assert not marker.exists()


def test_code_in_a_yaml_file_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = write_yaml(tmp_path, f"""\
        CartPole-v1:
          policy_kwargs: "__import__('os').system('touch {marker}')"
        """)
    with pytest.raises(ConfigurationError, match="never executed"):
        load_hyperparams(path, "CartPole-v1")
    python_tag = write_yaml(tmp_path, f"""\
        CartPole-v1:
          n_steps: !!python/object/apply:os.system ["touch {marker}"]
        """, name="tagged.yml")
    with pytest.raises(ConfigurationError, match="not valid YAML"):
        load_hyperparams(python_tag, "CartPole-v1", "ppo")
    assert not marker.exists()


def test_policy_kwargs_must_be_a_mapping() -> None:
    with pytest.raises(ConfigurationError, match="must be dict"):
        parse_policy_kwargs("[1, 2]")
    with pytest.raises(ConfigurationError, match="cannot parse"):
        parse_policy_kwargs("dict(a=")


def test_unknown_policy_kwargs_fail_when_the_model_is_built(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, """\
        CartPole-v1:
          policy_kwargs: "dict(optimizer_class=RMSpropTFLike)"
        """)
    settings = load_hyperparams(path, "CartPole-v1")
    with pytest.raises(ConfigurationError, match=r"ppo\.yml \[CartPole-v1\].*optimizer_class"):
        settings.create_model(device="cpu")


# --- normalize -------------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "obs", "reward"), [
    (True, True, True),
    (False, False, False),
    (None, False, False),
    ("{'norm_obs': True, 'norm_reward': False}", True, False),
    ("{'norm_obs': False, 'norm_reward': True}", False, True),
    ("dict(norm_obs=False)", False, True),
    ({"norm_reward": False}, True, False),
])
def test_normalize_forms(value: object, obs: bool, reward: bool) -> None:
    assert parse_normalize(value) == {"normalize_observations": obs, "normalize_rewards": reward}


def test_normalize_refuses_other_vecnormalize_options() -> None:
    with pytest.raises(ConfigurationError, match="clip_obs"):
        parse_normalize("{'norm_obs': True, 'clip_obs': 10.0}")
    with pytest.raises(ConfigurationError, match="true or false"):
        parse_normalize({"norm_obs": "yes"})
    with pytest.raises(ConfigurationError, match="must be true, false"):
        parse_normalize(3)


def test_normalize_true_in_a_file_maps_to_both_keywords(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, """\
        MountainCar-v0:
          normalize: true
          n_envs: 2
          n_steps: 16
        """)
    settings = load_hyperparams(path, "MountainCar-v0")
    assert settings.kwargs["normalize_observations"] is True
    assert settings.kwargs["normalize_rewards"] is True
    model = settings.create_model(device="cpu")
    assert model.policy.normalizer is not None
    assert model.reward_normalizer is not None


def test_normalize_and_its_keyword_together_are_ambiguous(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, """\
        CartPole-v1:
          normalize: true
          normalize_rewards: false
        """)
    with pytest.raises(ConfigurationError, match="either normalize or normalize_rewards"):
        load_hyperparams(path, "CartPole-v1")


# --- numbers and schedules -------------------------------------------------------------------
def test_float_tags_and_numbers_written_as_text(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, """\
        CartPole-v1:
          n_timesteps: !!float 1e5
          n_envs: 2
          n_steps: 1e2
          batch_size: !!float 50
          learning_rate: !!float 3e-4
          ent_coef: 1e-3
          target_kl: 1e-2
        """)
    settings = load_hyperparams(path, "CartPole-v1")
    assert settings.n_timesteps == 100_000 and isinstance(settings.n_timesteps, int)
    kwargs = settings.kwargs
    assert kwargs["n_steps"] == 100 and isinstance(kwargs["n_steps"], int)
    assert kwargs["batch_size"] == 50 and isinstance(kwargs["batch_size"], int)
    assert kwargs["learning_rate"] == pytest.approx(3e-4)
    assert kwargs["ent_coef"] == pytest.approx(1e-3)
    assert kwargs["target_kl"] == pytest.approx(1e-2)
    model = settings.create_model(device="cpu")
    assert model.config.n_steps == 100
    assert model.config.learning_rate == ConstantSchedule(3e-4)


def test_whole_numbers_are_checked(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, "CartPole-v1:\n  n_steps: 10.5\n")
    with pytest.raises(ConfigurationError, match="n_steps must be a whole number"):
        load_hyperparams(path, "CartPole-v1")
    path = write_yaml(tmp_path, "CartPole-v1:\n  n_timesteps: -5\n")
    with pytest.raises(ConfigurationError, match="n_timesteps must be a positive whole number"):
        load_hyperparams(path, "CartPole-v1")


def test_linear_schedules(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, """\
        CartPole-v1:
          n_steps: 32
          batch_size: 32
          learning_rate: lin_0.001
          clip_range: lin_0.2
        """)
    settings = load_hyperparams(path, "CartPole-v1")
    assert settings.kwargs["learning_rate"] == "lin_0.001"
    model = settings.create_model(device="cpu")
    assert model.config.learning_rate == LinearSchedule(0.001, 0.0)
    assert model.config.clip_range == LinearSchedule(0.2, 0.0)
    assert model.config.learning_rate(0.5) == pytest.approx(0.0005)


# --- keys and entries ------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["eval_env_wrapper", "normalize_kwargs", "learning_rat"])
def test_unsupported_keys_are_named_with_the_env_and_the_supported_keys(tmp_path: Path, key: str) -> None:
    path = write_yaml(tmp_path, f"""\
        Pendulum-v1:
          n_envs: 4
          {key}: 1
        """)
    with pytest.raises(ConfigurationError) as info:
        load_hyperparams(path, "Pendulum-v1")
    message = str(info.value)
    assert repr(key) in message
    assert "Pendulum-v1" in message
    assert "Supported keys for PPO" in message and "n_steps" in message and "policy_kwargs" in message


def test_run_options_are_not_hyperparameters(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, "CartPole-v1:\n  seed: 3\n")
    with pytest.raises(ConfigurationError, match="'seed' is a run option"):
        load_hyperparams(path, "CartPole-v1")


def test_a2c_keys_come_from_its_constructor(tmp_path: Path) -> None:
    assert "use_rms_prop" in supported_keys("a2c")
    assert "use_rms_prop" not in supported_keys("ppo")
    assert "seed" not in supported_keys("ppo")
    path = write_yaml(tmp_path, "CartPole-v1:\n  use_rms_prop: false\n")
    with pytest.raises(ConfigurationError, match="'use_rms_prop' is not a PPO hyperparameter"):
        load_hyperparams(path, "CartPole-v1")
    assert load_hyperparams(path, "CartPole-v1", "a2c").kwargs == {"use_rms_prop": False}


def test_atari_entry_of_the_zoo_names_its_wrapper_from_an_allow_list(tmp_path: Path) -> None:
    entry = """\
        atari:
          env_wrapper:
            - {wrapper}
          frame_stack: 4
          policy: 'CnnPolicy'
        """
    settings = load_hyperparams(write_yaml(tmp_path, entry.format(wrapper="stable_baselines3.common.atari_wrappers."
                                                                          "AtariWrapper")), "atari")
    assert settings.env_wrappers == [("stable_baselines3.common.atari_wrappers.AtariWrapper", {})]
    assert settings.frame_stack == 4 and settings.to_json()["frame_stack"] == 4
    with pytest.raises(ConfigurationError, match="'rl_zoo3.wrappers.FrameSkip' is not one Ballast provides"):
        load_hyperparams(write_yaml(tmp_path, entry.format(wrapper="rl_zoo3.wrappers.FrameSkip")), "atari")


def test_missing_env_id_lists_the_ids_in_the_file(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, "CartPole-v1:\n  n_envs: 2\nPendulum-v1:\n  n_envs: 4\n")
    with pytest.raises(ConfigurationError, match="no settings for 'Acrobot-v1'.*CartPole-v1, Pendulum-v1"):
        load_hyperparams(path, "Acrobot-v1")


def test_default_entry_is_the_fallback(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, "default:\n  n_envs: 3\n  n_timesteps: 1000\nCartPole-v1:\n  n_envs: 2\n")
    settings = load_hyperparams(path, "Acrobot-v1")
    assert (settings.env_id, settings.n_envs, settings.n_timesteps) == ("Acrobot-v1", 3, 1000)
    assert settings.source.endswith("[default]")
    assert load_hyperparams(path, "CartPole-v1").n_envs == 2


def test_an_empty_entry_gives_the_defaults(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, "CartPole-v1:\n")
    settings = load_hyperparams(path, "CartPole-v1")
    assert (settings.policy, settings.n_envs, settings.n_timesteps, settings.kwargs) == ("auto", 1, None, {})


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_hyperparams(tmp_path / "ppo.yml", "CartPole-v1")
    with pytest.raises(ConfigurationError, match="cannot tell the algorithm"):
        load_hyperparams(write_yaml(tmp_path, "CartPole-v1: {}\n", name="settings.yml"), "CartPole-v1")
    with pytest.raises(ConfigurationError, match="not valid YAML"):
        load_hyperparams(write_yaml(tmp_path, "CartPole-v1: [\n"), "CartPole-v1")
    with pytest.raises(ConfigurationError, match="top level is list"):
        load_hyperparams(write_yaml(tmp_path, "- 1\n"), "CartPole-v1")
    with pytest.raises(ConfigurationError, match="must be a mapping"):
        load_hyperparams(write_yaml(tmp_path, "CartPole-v1: 3\n"), "CartPole-v1")


def test_algorithm_lookup() -> None:
    assert get_algorithm("PPO").algorithm_name == "ppo"
    with pytest.raises(ConfigurationError, match="unknown algorithm 'foo'; known: .*a2c.*ppo"):
        get_algorithm("foo")
    assert default_settings("a2c", "CartPole-v1") == ZooSettings(algorithm="a2c", env_id="CartPole-v1")


# --- the bundled files -----------------------------------------------------------------------
def test_bundled_files_hold_the_zoo_values() -> None:
    pendulum = load_hyperparams(HYPERPARAMS / "ppo.yml", "Pendulum-v1")
    assert (pendulum.n_envs, pendulum.n_timesteps, pendulum.policy) == (4, 100_000, "MlpPolicy")
    assert pendulum.kwargs == {
        "n_steps": 1024, "gae_lambda": 0.95, "gamma": 0.9, "n_epochs": 10, "ent_coef": 0.0,
        "learning_rate": 1e-3, "clip_range": 0.2, "use_sde": True, "sde_sample_freq": 4,
    }
    cartpole = load_hyperparams(HYPERPARAMS / "ppo.yml", "CartPole-v1")
    assert (cartpole.n_envs, cartpole.n_timesteps) == (8, 100_000)
    assert cartpole.kwargs == {
        "n_steps": 32, "batch_size": 256, "gae_lambda": 0.8, "gamma": 0.98, "n_epochs": 20,
        "ent_coef": 0.0, "learning_rate": "lin_0.001", "clip_range": "lin_0.2",
    }
    a2c_cartpole = load_hyperparams(HYPERPARAMS / "a2c.yml", "CartPole-v1")
    assert (a2c_cartpole.n_envs, a2c_cartpole.n_timesteps) == (8, 500_000)
    assert a2c_cartpole.kwargs == {"ent_coef": 0.0}
    a2c_pendulum = load_hyperparams(HYPERPARAMS / "a2c.yml", "Pendulum-v1")
    assert (a2c_pendulum.n_envs, a2c_pendulum.n_timesteps) == (8, 1_000_000)
    assert a2c_pendulum.kwargs == {
        "normalize_observations": True, "normalize_rewards": True, "ent_coef": 0.0, "max_grad_norm": 0.5,
        "n_steps": 8, "gae_lambda": 0.9, "vf_coef": 0.4, "gamma": 0.9, "use_rms_prop": True,
        "normalize_advantage": False, "learning_rate": "lin_7e-4", "use_sde": True,
        "policy_kwargs": {"log_std_init": -2, "ortho_init": False},
    }


@pytest.mark.parametrize("algorithm", ["ppo", "a2c", "dqn", "qrdqn", "sac", "td3", "tqc", "crossq"])
def test_every_bundled_entry_parses_and_is_json(algorithm: str) -> None:
    path = HYPERPARAMS / f"{algorithm}.yml"
    for env_id in yaml.safe_load(path.read_text()):
        settings = load_hyperparams(path, env_id)
        assert settings.n_timesteps and settings.policy == ("CnnPolicy" if env_id == "atari" else "MlpPolicy")
        json.dumps(settings.to_json())


def test_bundled_a2c_pendulum_builds_the_zoo_model() -> None:
    settings = load_hyperparams(HYPERPARAMS / "a2c.yml", "Pendulum-v1")
    model = settings.create_model(seed=0, device="cpu")
    assert model.n_envs == 8
    assert model.config.use_sde and model.config.use_rms_prop and not model.config.normalize_advantage
    assert model.config.learning_rate == LinearSchedule(7e-4, 0.0)
    assert model.policy_config.log_std_init == -2 and model.policy_config.ortho_init is False
    assert model.policy.normalizer is not None and model.reward_normalizer is not None


def test_the_shipped_files_are_found_from_any_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no hyperparams/ folder here
    by_folder = load_hyperparams("hyperparams/ppo.yml", "CartPole-v1")
    by_name = load_hyperparams("ppo.yml", "CartPole-v1")
    assert by_folder.kwargs == by_name.kwargs and by_folder.n_timesteps == 100_000
    (tmp_path / "hyperparams").mkdir()
    (tmp_path / "hyperparams" / "ppo.yml").write_text("CartPole-v1:\n  n_timesteps: 77\n")
    assert load_hyperparams("hyperparams/ppo.yml", "CartPole-v1").n_timesteps == 77  # a local file comes first
    with pytest.raises(ConfigurationError, match="ships a2c.yml, crossq.yml, dqn.yml, her.yml, ppo.yml"):
        load_hyperparams("hyperparams/tqc_typo.yml", "CartPole-v1", "ppo")


def test_ballasts_own_entries_are_found_from_any_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    by_folder = load_hyperparams("hyperparams/ballast/ppo.yml", "MountainCarContinuous-v0")
    by_name = load_hyperparams("ballast/ppo.yml", "MountainCarContinuous-v0")
    assert by_folder.kwargs == by_name.kwargs and by_name.algorithm == "ppo"
    with pytest.raises(ConfigurationError, match="ballast/ppo.yml"):
        load_hyperparams("ballast/sac.yml", "Pendulum-v1")
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_hyperparams("elsewhere/ppo.yml", "CartPole-v1")  # only ballast/ names a shipped subfolder


def test_each_own_entry_is_the_zoos_but_for_the_keys_its_comment_names() -> None:
    own = yaml.safe_load((HYPERPARAMS / "ballast" / "ppo.yml").read_text())
    zoo = yaml.safe_load((HYPERPARAMS / "ppo.yml").read_text())
    changed = {env_id: {k for k in {**entry, **zoo[env_id]} if entry.get(k) != zoo[env_id].get(k)}
               for env_id, entry in own.items()}
    assert changed == {"MountainCarContinuous-v0": {"policy_kwargs"}}
    ours = parse_policy_kwargs(own["MountainCarContinuous-v0"]["policy_kwargs"])
    theirs = parse_policy_kwargs(zoo["MountainCarContinuous-v0"]["policy_kwargs"])
    assert theirs == {"log_std_init": -3.29, "ortho_init": False}
    assert ours == {"log_std_init": 0.0, "squash_output": True, "ortho_init": False}


def test_bench_with_ballast_settings_takes_the_own_entry_where_there_is_one() -> None:
    from ballast.bench.grid import cell_settings

    own = cell_settings("ppo", "MountainCarContinuous-v0", "ballast", None)
    zoo = cell_settings("ppo", "MountainCarContinuous-v0", "zoo", None)
    assert own.kwargs["policy_kwargs"]["log_std_init"] == 0.0 and zoo.kwargs["policy_kwargs"]["log_std_init"] == -3.29
    assert cell_settings("ppo", "CartPole-v1", "ballast", None).kwargs == cell_settings("ppo", "CartPole-v1", "zoo",
                                                                                         None).kwargs
    assert own_entry_file("ppo", "CartPole-v1") is None and own_entry_file("sac", "Pendulum-v1") is None


def test_bundled_ppo_lstm_entries_build_recurrent_models() -> None:
    path = HYPERPARAMS / "ppo_lstm.yml"
    for env_id in yaml.safe_load(path.read_text()):
        settings = load_hyperparams(path, env_id)
        assert settings.n_timesteps and settings.policy == "MlpLstmPolicy"
        json.dumps(settings.to_json())
    cartpole = load_hyperparams(path, "CartPoleNoVel-v1")
    assert cartpole.kwargs == {
        "normalize_observations": True, "normalize_rewards": True,
        "n_steps": 32, "batch_size": 256, "gae_lambda": 0.8, "gamma": 0.98, "n_epochs": 20,
        "ent_coef": 0.0, "learning_rate": "lin_0.001", "clip_range": "lin_0.2",
        "policy_kwargs": {"ortho_init": False, "activation_fn": "ReLU", "lstm_hidden_size": 64,
                          "enable_critic_lstm": True, "net_arch": {"pi": [64], "vf": [64]}},
    }
    model = cartpole.create_model(seed=0, device="cpu")
    assert model.algorithm_name == "ppo_lstm" and model.n_envs == 8 and model.policy.lstm_critic is not None


def test_overrides_are_read_as_yaml_values_and_checked_with_the_entry() -> None:
    from ballast.zoo import parse_overrides

    overrides = parse_overrides(["learning_rate=3e-4", "n_steps=64", "use_sde=true", "train_freq=[1, episode]",
                                 "policy_kwargs=dict(net_arch=[32])", "ent_coef=null", "n_steps=128"])
    # YAML 1.1 reads 3e-4 as text, as in the zoo's files; reading the entry makes it a number.
    assert overrides == {"learning_rate": "3e-4", "n_steps": 128, "use_sde": True, "train_freq": [1, "episode"],
                         "policy_kwargs": "dict(net_arch=[32])", "ent_coef": None}
    for bad in ("learning_rate", "=3", "n_steps="):
        with pytest.raises(ConfigurationError, match="KEY=VALUE"):
            parse_overrides([bad])
    settings = load_hyperparams("ppo.yml", "CartPole-v1", overrides={"n_steps": 64, "gamma": 0.9,
                                                                     "learning_rate": "3e-4"})
    assert settings.kwargs["n_steps"] == 64 and settings.kwargs["gamma"] == 0.9
    assert settings.kwargs["learning_rate"] == 3e-4
    assert settings.kwargs["gae_lambda"] == 0.8
    assert settings.source.endswith("with overrides n_steps, gamma, learning_rate")
    with pytest.raises(ConfigurationError, match="'n_stepz' is not a PPO hyperparameter"):
        load_hyperparams("ppo.yml", "CartPole-v1", overrides={"n_stepz": 64})
