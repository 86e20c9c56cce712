"""Search spaces of ``ballast tune``: parsing, checks, sampling with a real Optuna study, and the
zoo text that the best hyperparameters are written in."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from ballast.errors import ConfigurationError
from ballast.tuning.results import merge_entries, python_expression, settings_entry, zoo_entry_for_file
from ballast.tuning.space import load_search_space
from ballast.zoo import ALGORITHMS, load_hyperparams, parse_hyperparams, parse_policy_kwargs

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _study(seed: int = 0) -> optuna.Study:
    return optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=seed))


#: Ballast's own algorithms (tests elsewhere register algorithms of their own).
BUILT_IN = sorted(name for name, cls in ALGORITHMS.items() if cls.__module__.startswith("ballast."))


@pytest.mark.parametrize("algo", BUILT_IN)
def test_every_shipped_space_samples_settings_the_zoo_reader_accepts(algo: str) -> None:
    space = load_search_space(algo)
    env_id = "CartPole-v1" if algo in ("ppo", "a2c", "dqn", "qrdqn", "ppo_lstm") else "Pendulum-v1"
    study = _study()
    for _ in range(5):
        trial = study.ask()
        entry = space.sample(trial)
        settings = parse_hyperparams(entry, env_id, algo)
        assert settings.kwargs, entry
        # The entry is rebuilt from the parameters Optuna recorded, e.g. for the best trial.
        assert space.entry_from_params(trial.params) == entry
        study.tell(trial, 0.0)


def test_ppo_space_follows_the_zoo() -> None:
    space = load_search_space("ppo")
    assert {"batch_size", "n_steps", "gamma", "gae_lambda", "learning_rate", "ent_coef", "clip_range", "n_epochs",
            "max_grad_norm", "policy_kwargs.net_arch", "policy_kwargs.activation_fn"} == set(space.names)
    trial = _study(3).ask()
    entry = space.sample(trial)
    assert 0.97 <= entry["gamma"] <= 0.9999
    assert entry["gamma"] == pytest.approx(1 - trial.params["one_minus_gamma"])
    assert entry["policy_kwargs"]["net_arch"] in ({"pi": [64], "vf": [64]}, {"pi": [64, 64], "vf": [64, 64]},
                                                  {"pi": [256, 256], "vf": [256, 256]})
    assert trial.params["policy_kwargs.net_arch"] in ("tiny", "small", "medium")


def test_same_as_and_a_none_choice() -> None:
    space = load_search_space("td3")
    study = _study(1)
    entries = [space.sample(study.ask()) for _ in range(30)]
    assert all(e["gradient_steps"] == e["train_freq"] for e in entries)
    without_noise = [e for e in entries if "noise_type" not in e]
    assert without_noise and all("noise_std" not in e for e in without_noise)
    assert any(e.get("noise_type") == "normal" for e in entries)


def test_overrides_replace_fix_and_remove(tmp_path: Path) -> None:
    path = tmp_path / "space.yml"
    path.write_text("ppo:\n  learning_rate: {float: [0.001, 0.002]}\n  n_epochs: 4\n  ent_coef: null\n"
                    "  vf_coef: {choices: [0.25, 0.5]}\n")
    space = load_search_space("ppo", path)
    assert "ent_coef" not in space.names and "vf_coef" in space.names
    entry = space.sample(_study().ask())
    assert 0.001 <= entry["learning_rate"] <= 0.002
    assert entry["n_epochs"] == 4 and entry["vf_coef"] in (0.25, 0.5)
    # A file of one algorithm's entries, without the algorithm's section, works too.
    space = load_search_space("ppo", {"n_epochs": {"int": [2, 3]}})
    assert 2 <= space.sample(_study().ask())["n_epochs"] <= 3


@pytest.mark.parametrize(("overrides", "message"), [
    ({"learning_rat": {"float": [1e-4, 1e-3]}}, "'learning_rat' is not a hyperparameter that can be searched"),
    ({"n_timesteps": {"int": [1, 2]}}, "'n_timesteps' is not a hyperparameter"),
    ({"learning_rate": {"float": [1e-3, 1e-4]}}, "low <= high"),
    ({"learning_rate": {"float": [0.0, 1e-4], "log": True}}, "log needs 0 < low"),
    ({"gamma": {"float": [0.9, 1.0], "one_minus": True}}, "low < high < 1"),
    ({"n_epochs": {"int": [1.5, 3]}}, "whole numbers"),
    ({"n_epochs": {"choices": []}}, "choices must be"),
    ({"n_epochs": {"choices": [1], "float": [1, 2]}}, "give one of"),
    ({"n_epochs": {"choices": [1], "log": True}}, "give one of"),
    ({"n_epochs": {"same_as": "nothing"}}, "not a sampled parameter"),
    ({"policy_kwargs": {"choices": [1]}, "policy_kwargs.": 1}, "policy_kwargs."),
])
def test_bad_spaces_are_refused_by_name(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message.replace("(", r"\(")):
        load_search_space("ppo", overrides)


def test_a_missing_space_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_search_space("ppo", tmp_path / "nope.yml")
    with pytest.raises(ConfigurationError, match="unknown algorithm 'nope'"):
        load_search_space("nope")


def test_policy_kwargs_text_parses_back_to_the_same_data() -> None:
    value = {"net_arch": {"pi": [64, 64], "vf": [256]}, "activation_fn": "ReLU", "log_std_init": -2.5,
             "ortho_init": False, "n_quantiles": 25}
    text = python_expression(value)
    assert text.startswith("dict(net_arch=dict(pi=[64, 64], vf=[256]), activation_fn=nn.ReLU")
    assert parse_policy_kwargs(text) == value


def test_a_base_entry_round_trips_through_the_zoo_reader() -> None:
    base = load_hyperparams("ppo.yml", "MountainCarContinuous-v0")
    entry = settings_entry(base)
    again = parse_hyperparams(zoo_entry_for_file(entry, 1000), "MountainCarContinuous-v0", "ppo")
    assert (again.kwargs, again.n_envs, again.policy, again.n_timesteps) == (base.kwargs, base.n_envs, base.policy,
                                                                                1000)
    merged = merge_entries(entry, {"policy_kwargs": {"net_arch": [32]}, "n_epochs": 3})
    assert merged["n_epochs"] == 3 and merged["policy_kwargs"]["net_arch"] == [32]
    assert merged["policy_kwargs"]["log_std_init"] == base.kwargs["policy_kwargs"]["log_std_init"]
